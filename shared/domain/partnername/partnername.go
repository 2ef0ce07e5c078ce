// Package partnername is the one rule for a partner's name, wherever it enters Lanyard — the
// invite ops issue (POST /v1/admin/invites, `lanyard invite create --partner-name`) and the
// onboarding that must name the partner the same way (POST /v1/partners) — and the one way to
// print a name where a terminal would act on it.
//
// Normalize puts a name in Unicode Normalization Form C, so that two spellings of one name
// (a precomposed "é" and "e" + U+0301) are one name, stored and compared alike. It refuses what
// a reader cannot see or a terminal, a log viewer or a spreadsheet would act on: control
// characters (Cc: C0, DEL, C1 — ESC sequences, CSI), format characters (Cf: bidirectional
// embeddings, overrides and isolates such as U+202E, zero-width characters such as U+200B, the
// byte order mark U+FEFF, the soft hyphen), private-use characters (Co), line and paragraph
// separators, surrogates, noncharacters and code points unassigned in the Unicode version of
// the normalization tables (their normalization is not stable), the invisible fillers Unicode
// lists as default-ignorable (U+3164 …), and U+FFFD, which stands for bytes that were not
// UTF-8. Normalization is NFC, not NFKC: a full-width "Ａ" stays what the partner wrote.
//
// Quote prints a name unchanged when it holds nothing Normalize refuses, and otherwise quoted,
// with every such character escaped, so that a name stored before the rule, or an answer from a
// server that does not hold to it, cannot reorder, hide or colour what a terminal shows.
package partnername

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/rangetable"
)

// MaxLength is the most characters (code points) a partner name holds once normalized; the
// OpenAPI document's PartnerName schema says the same.
const MaxLength = 200

// assigned holds the code points assigned in the Unicode version the NFC tables were built
// from: a code point outside it has no stable normalization.
var assigned = rangetable.Assigned(norm.Version)

// Error says why a string is not a partner name, in words that never repeat the string: at
// most the code point at fault and where it is. Its message reads as the message of a field
// error ("must not …").
type Error struct{ reason string }

func (e *Error) Error() string { return e.reason }

func refuse(format string, args ...any) *Error { return &Error{reason: fmt.Sprintf(format, args...)} }

// Normalize returns name in NFC, or an *Error when it cannot be a partner name: not valid UTF-8,
// a character Allowed refuses, white space at either end, or not 1 to MaxLength characters long
// once normalized.
func Normalize(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", refuse("must be valid UTF-8")
	}
	n := norm.NFC.String(name)
	pos := 0
	for _, r := range n {
		pos++
		if kind := refusedKind(r); kind != "" {
			return "", refuse("must not hold %s: U+%04X at character %d", kind, r, pos)
		}
	}
	switch {
	case pos == 0 || pos > MaxLength:
		return "", refuse("must be 1 to %d characters long once normalized (NFC), not %d", MaxLength, pos)
	case strings.TrimFunc(n, unicode.IsSpace) != n:
		return "", refuse("must not start or end with white space")
	}
	return n, nil
}

// Allowed says whether r may be part of a partner name: a graphic character (a letter, mark,
// number, punctuation, symbol or space) assigned in the normalization tables' Unicode version,
// and none of the invisible fillers or U+FFFD.
func Allowed(r rune) bool { return refusedKind(r) == "" }

// refusedKind names the kind of character r is when a name may not hold it, or "".
func refusedKind(r rune) string {
	switch {
	case r == unicode.ReplacementChar:
		return "the replacement character, which stands for bytes that were not UTF-8"
	case unicode.Is(unicode.Cc, r):
		return "a control character"
	case unicode.Is(unicode.Cf, r):
		return "a format character (such as a bidirectional control or a zero-width character)"
	case unicode.Is(unicode.Co, r):
		return "a private-use character"
	case unicode.In(r, unicode.Zl, unicode.Zp):
		return "a line or paragraph separator"
	case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r):
		return "an invisible filler character"
	case !unicode.IsGraphic(r) || (assigned != nil && !unicode.Is(assigned, r)):
		return "an unassigned code point, a surrogate or a noncharacter"
	}
	return ""
}

// Quote returns name for printing: unchanged when it is valid UTF-8, not empty, holds only
// characters Allowed accepts, neither starts nor ends with white space and does not start with
// a double quote; otherwise between double quotes, with every other character, the double
// quote and the backslash escaped as Go escapes them (\x1b, \u202e, \U000f0000, \", \\) and each
// byte that is not UTF-8 as \xff. A quoted name is never mistaken for a plain one.
func Quote(name string) string {
	if plain(name) {
		return name
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, name[i])
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case Allowed(r):
			b.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

func plain(name string) bool {
	if name == "" || !utf8.ValidString(name) || name[0] == '"' || strings.TrimFunc(name, unicode.IsSpace) != name {
		return false
	}
	for _, r := range name {
		if !Allowed(r) {
			return false
		}
	}
	return true
}
