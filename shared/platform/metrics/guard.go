package metrics

import (
	"regexp"
	"strconv"
	"strings"
)

// The shapes refused in every name and value a document emits (see the package doc). They are
// written here rather than imported so the platform layer knows nothing of the domain; the
// domain's tests hold them to the formats it mints.
var (
	// keyIDShape is a key id: "k" and 20 base32 characters, not part of a longer word.
	keyIDShape = regexp.MustCompile(`(?i)(?:^|[^a-z0-9])k[a-z2-7]{20}(?:$|[^a-z0-9])`)
	// entityIDShape is a per-entity id: a prefix and "-" then 26 base32 characters.
	entityIDShape = regexp.MustCompile(`(?i)-[a-z2-7]{26}`)
)

// keyPrefix starts every partner key.
const keyPrefix = "lnyd_"

// tokenRun is the length from which a run of letters and digits that mixes both counts as a
// secret or an identifier.
const tokenRun = 20

// identifying returns why s must not appear in a metric document, or "" when it may.
func identifying(s string) string {
	switch {
	case strings.Contains(strings.ToLower(s), keyPrefix):
		return "it has the shape of a partner key"
	case keyIDShape.MatchString(s):
		return "it has the shape of a key id"
	case entityIDShape.MatchString(s):
		return "it has the shape of a partner id or another per-entity id"
	case hasTokenRun(s):
		return "it has the shape of a secret or an identifier (" + strconv.Itoa(tokenRun) + " or more letters and digits)"
	}
	return ""
}

// hasTokenRun reports whether s holds a run of at least tokenRun ASCII letters and digits that
// has at least one of each.
func hasTokenRun(s string) bool {
	n, letter, digit := 0, false, false
	for i := 0; i <= len(s); i++ {
		var c byte
		if i < len(s) {
			c = s[i]
		}
		switch {
		case c >= '0' && c <= '9':
			n, digit = n+1, true
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			n, letter = n+1, true
		default:
			if n >= tokenRun && letter && digit {
				return true
			}
			n, letter, digit = 0, false, false
		}
	}
	return false
}
