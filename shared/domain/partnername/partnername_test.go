package partnername_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/lanyardhq/lanyard/shared/domain/partnername"
)

// Names a partner or ops may send, hostile ones first refused with a message that names the
// code point (never the name), then the ones accepted, normalized to NFC.
func TestNormalize(t *testing.T) {
	t.Parallel()
	refused := []struct {
		name, in, why string
	}{
		{"right-to-left override", "Acme \u202eGPJ.exe", "format character"},
		{"left-to-right override", "\u202dAcme", "format character"},
		{"right-to-left embedding", "Acme\u202b Ltd", "format character"},
		{"pop directional formatting", "Acme\u202c", "format character"},
		{"first strong isolate", "Acme \u2068Ltd\u2069", "format character"},
		{"right-to-left mark", "Acme\u200f Ltd", "format character"},
		{"arabic letter mark", "Acme\u061c", "format character"},
		{"zero-width space", "Ac\u200bme", "format character"},
		{"zero-width non-joiner", "Ac\u200cme", "format character"},
		{"zero-width joiner", "Ac\u200dme", "format character"},
		{"word joiner", "Ac\u2060me", "format character"},
		{"byte order mark", "\ufeffAcme", "format character"},
		{"soft hyphen", "Ac\u00adme", "format character"},
		{"language tag", "Acme\U000e0001", "format character"},
		{"NUL", "Acme\x00", "control character"},
		{"ESC colour sequence", "\x1b[31mAcme\x1b[0m", "control character"},
		{"ESC title sequence", "Acme\x1b]0;pwned\x07", "control character"},
		{"C1 CSI", "Acme\u009b31m", "control character"},
		{"next line", "Acme\u0085Ltd", "control character"},
		{"DEL", "Acme\x7f", "control character"},
		{"tab", "Acme\tLtd", "control character"},
		{"newline", "Acme\nLtd", "control character"},
		{"carriage return", "Acme\rLtd", "control character"},
		{"private use", "Acme \ue000", "private-use character"},
		{"private use, last of the BMP area", "\uf8ffAcme", "private-use character"},
		{"supplementary private use", "Acme \U000f0000", "private-use character"},
		{"line separator", "Acme\u2028Ltd", "line or paragraph separator"},
		{"paragraph separator", "Acme\u2029Ltd", "line or paragraph separator"},
		{"hangul filler", "\u3164", "invisible filler"},
		{"hangul choseong filler", "Acme\u115f", "invisible filler"},
		{"combining grapheme joiner", "Acme\u034f", "invisible filler"},
		{"noncharacter U+FDD0", "Acme\ufdd0", "noncharacter"},
		{"noncharacter U+FFFE", "Acme\ufffe", "noncharacter"},
		{"unassigned U+0378", "Acme\u0378", "unassigned"},
		{"replacement character", "Acme\ufffd", "replacement character"},
		{"not UTF-8", "Acme\xff", "valid UTF-8"},
		{"a lone surrogate, as WTF-8", "Acme\xed\xa0\x80", "valid UTF-8"},
		{"empty", "", "1 to 200 characters"},
		{"201 characters", strings.Repeat("a", 201), "1 to 200 characters"},
		{"leading space", " Acme", "white space"},
		{"trailing space", "Acme ", "white space"},
		{"leading no-break space", "\u00a0Acme", "white space"},
		{"trailing ideographic space", "Acme\u3000", "white space"},
		{"only spaces", "   ", "white space"},
	}
	for _, tt := range refused {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := partnername.Normalize(tt.in)
			var pe *partnername.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Normalize accepted it as %q (err %v)", got, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.why) || !strings.HasPrefix(msg, "must ") {
				t.Errorf("message %q, want one saying %q", msg, tt.why)
			}
			if len(tt.in) > 3 && strings.Contains(msg, tt.in) || strings.Contains(msg, "Acme") {
				t.Errorf("message %q repeats the name", msg)
			}
			if !utf8.ValidString(msg) || strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
				t.Errorf("message %q is not plain printable ASCII", msg)
			}
		})
	}

	accepted := []struct {
		name, in, want string
	}{
		{"plain", "Acme Logistics", "Acme Logistics"},
		{"already NFC", "Café Ltd", "Café Ltd"},
		{"NFD combining acute", "Cafe\u0301 Ltd", "Caf\u00e9 Ltd"},
		{"NFD with two marks reordered", "a\u0323\u0302", "\u1ead"},
		{"angstrom sign singleton", "\u212b Optics", "\u00c5 Optics"},
		{"hangul jamo", "\u1112\u1161\u11ab Logistics", "\ud55c Logistics"},
		{"a mark without a precomposed form", "e\u0301\u0301", "\u00e9\u0301"},
		{"full width stays (NFC, not NFKC)", "\uff21\uff43\uff4d\uff45", "\uff21\uff43\uff4d\uff45"},
		{"right-to-left letters", "شركة النقل", "شركة النقل"},
		{"CJK", "株式会社 山田運輸", "株式会社 山田運輸"},
		{"emoji", "Acme 🚚", "Acme 🚚"},
		{"emoji with a variation selector", "Acme \u2764\ufe0f", "Acme \u2764\ufe0f"},
		{"inner no-break space", "Acme\u00a0Ltd", "Acme\u00a0Ltd"},
		{"quotes and a backslash", `"Acme" \ Ltd`, `"Acme" \ Ltd`},
		{"200 characters", strings.Repeat("é", 200), strings.Repeat("é", 200)},
		{"400 code points that are 200 characters in NFC", strings.Repeat("e\u0301", 200), strings.Repeat("é", 200)},
	}
	for _, tt := range accepted {
		t.Run("accepted/"+tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := partnername.Normalize(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("Normalize = %+q, %v; want %+q", got, err, tt.want)
			}
			if !norm.NFC.IsNormalString(got) {
				t.Errorf("%+q is not NFC", got)
			}
			if again, err := partnername.Normalize(got); err != nil || again != got {
				t.Errorf("normalizing again: %+q, %v", again, err)
			}
		})
	}
}

// The NFC tables' Unicode version is one the assigned code points are known for.
func TestAssignedTableKnown(t *testing.T) {
	t.Parallel()
	if partnername.Allowed('\u0378') || !partnername.Allowed('a') {
		t.Errorf("unassigned U+0378 allowed %t, a allowed %t", partnername.Allowed('\u0378'), partnername.Allowed('a'))
	}
}

// Quote prints a name as it is when it holds nothing Normalize refuses, and otherwise quoted,
// with nothing a terminal acts on left unescaped.
func TestQuote(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Acme Logistics", "Acme Logistics"},
		{"Café Ltd", "Café Ltd"},
		{"شركة النقل", "شركة النقل"},
		{`Acme "Best" \ Ltd`, `Acme "Best" \ Ltd`},
		{"Acme \u202eGPJ.exe", `"Acme \u202eGPJ.exe"`},
		{"\x1b[31mAcme\x1b[0m", `"\x1b[31mAcme\x1b[0m"`},
		{"Acme\u009b31m", `"Acme\u009b31m"`},
		{"Ac\u200bme\ufeff", `"Ac\u200bme\ufeff"`},
		{"Acme \U000f0000", `"Acme \U000f0000"`},
		{"Acme\u2028Ltd", `"Acme\u2028Ltd"`},
		{"\u3164", `"\u3164"`},
		{"Acme\xff", `"Acme\xff"`},
		{`"Acme"`, `"\"Acme\""`},
		{`Acme\` + "\x00", `"Acme\\\x00"`},
		{" Acme", `" Acme"`},
		{"Acme\u00a0", "\"Acme\u00a0\""},
		{"", `""`},
	}
	for _, tt := range tests {
		got := partnername.Quote(tt.in)
		if got != tt.want {
			t.Errorf("Quote(%+q) = %s, want %s", tt.in, got, tt.want)
		}
		if strings.ContainsFunc(got, func(r rune) bool { return !partnername.Allowed(r) }) {
			t.Errorf("Quote(%+q) = %+q leaves a character a terminal may act on", tt.in, got)
		}
	}
}
