package invite_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// hostileNames are partner names a terminal, a log viewer or a reader would be fooled by.
var hostileNames = map[string]string{
	"right-to-left override":  "Acme \u202eGPJ.exe",
	"zero-width space":        "Ac\u200bme",
	"byte order mark":         "\ufeffAcme",
	"NUL":                     "Acme\x00",
	"ESC sequence":            "\x1b[31mAcme\x1b[0m",
	"C1 CSI":                  "Acme\u009b31m",
	"private use":             "Acme \ue000",
	"line separator":          "Acme\u2028Ltd",
	"hangul filler":           "\u3164",
	"trailing no-break space": "Acme\u00a0",
}

// A hostile partner name is refused with a validation problem naming /partnerName, and no
// invite is issued.
func TestCreateInviteRefusesHostileNames(t *testing.T) {
	t.Parallel()
	for label, name := range hostileNames {
		t.Run(label, func(t *testing.T) {
			t.Parallel()
			h, _, db := newHandler(t)
			body, _ := json.Marshal(map[string]string{"partnerName": name, "tier": "standard"})
			resp, err := h.Handle(t.Context(), request(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			var p problem.Problem
			if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 400 || p.Type != problem.Validation.URI() || len(p.Errors) != 1 || p.Errors[0].Pointer != "/partnerName" {
				t.Fatalf("%d %s %v, want 400 validation naming /partnerName", resp.StatusCode, p.Type, p.Errors)
			}
			if strings.Contains(resp.Body, "Acme") {
				t.Errorf("the problem repeats the name: %s", p.Errors[0].Message)
			}
			if n := len(db.Items(invitesTable)); n != 0 {
				t.Errorf("%d invites stored", n)
			}
		})
	}
}

// A name is stored and answered in NFC, however it was spelled.
func TestCreateInviteNormalizesTheName(t *testing.T) {
	t.Parallel()
	h, s, _ := newHandler(t)
	resp, err := h.Handle(t.Context(), request(`{"partnerName":"Cafe\u0301 Ltd","tier":"standard"}`))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	var got invite.Created
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
		t.Fatal(err)
	}
	inv, err := s.Lookup(t.Context(), secret.New(got.InviteCode))
	if err != nil {
		t.Fatal(err)
	}
	if got.PartnerName != "Caf\u00e9 Ltd" || inv.PartnerName != "Caf\u00e9 Ltd" {
		t.Errorf("answered %+q, stored %+q; want NFC %+q", got.PartnerName, inv.PartnerName, "Caf\u00e9 Ltd")
	}
}
