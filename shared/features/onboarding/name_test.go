package onboarding

import (
	"context"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// A hostile partner name is refused before anything happens, with a validation problem naming
// /partnerName — with an invite and with an identity request alike.
func TestHostilePartnerNames(t *testing.T) {
	t.Parallel()
	for label, name := range map[string]string{
		"right-to-left override":     "Acme \u202eGPJ.exe",
		"zero-width space":           "Ac\u200bme",
		"byte order mark":            "\ufeffAcme",
		"NUL":                        "Acme\x00",
		"ESC sequence":               "\x1b[31mAcme\x1b[0m",
		"C1 CSI":                     "Acme\u009b31m",
		"private use":                "Acme \ue000",
		"paragraph separator":        "Acme\u2029Ltd",
		"hangul filler":              "\u3164",
		"trailing ideographic space": "Acme\u3000",
	} {
		t.Run(label, func(t *testing.T) {
			t.Parallel()
			f, v := stsFixture(t)
			code, _ := f.issue(acme, "standard")
			for _, b := range []string{body(name, code, "orders:read"), stsBody(name, v.sign(sandboxID), "orders:read")} {
				p := refusal(t, f.post("hostile", b), problem.Validation)
				if len(p.Errors) != 1 || p.Errors[0].Pointer != "/partnerName" || strings.Contains(p.Errors[0].Message, "Acme") {
					t.Errorf("errors %+v, want one at /partnerName that does not repeat the name", p.Errors)
				}
			}
			if c := f.counts(); c.Idempotency != 0 || c.Partners != 0 || c.Secrets != 0 {
				t.Errorf("a refused name left %+v", c)
			}
		})
	}
}

// Names are compared and stored in NFC: an invite issued for "Café" is redeemed by an
// onboarding that spells it with a combining accent, and the partner is named in NFC.
func TestPartnerNameNormalized(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	nfc, nfd := "Caf\u00e9 Logistics", "Cafe\u0301 Logistics"
	code, _ := f.issue(nfc, "standard")
	got := created(t, f.post("nfd", body(nfd, code, "orders:read")))
	pt, err := (&partners.Store{DB: f.db, Table: testTables.Partners}).Get(context.Background(), got.PartnerID)
	if err != nil {
		t.Fatal(err)
	}
	if pt.PartnerName != nfc {
		t.Errorf("partner named %+q, want NFC %+q", pt.PartnerName, nfc)
	}
	// The two spellings are one request: a replay in NFC answers the same.
	if again := f.post("nfd", body(nfc, code, "orders:read")); again.StatusCode != 201 {
		t.Errorf("the NFC replay of an NFD request: status %d, want its 201", again.StatusCode)
	}
	// Another name is still another partner's invite.
	refusal(t, f.post("other", body("Cafe Logistics", secret.New(code.Reveal()), "orders:read")), problem.InviteInvalid)
}
