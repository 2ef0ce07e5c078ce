//go:build integration

package suite_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/topology"
)

// wantNameRefused checks a 400 validation problem whose only field error is /partnerName and
// does not repeat the name. A failure never prints the body: an answer that is not the problem
// may hold an invite code or a key.
func wantNameRefused(t *testing.T, r reply, name string) {
	t.Helper()
	if r.status != http.StatusBadRequest {
		t.Errorf("%s %s with a hostile partner name: %d, want 400 validation", r.method, r.path, r.status)
		return
	}
	wantFunctionProblem(t, r, http.StatusBadRequest, "validation")
	var p struct {
		Errors []struct {
			Pointer string `json:"pointer"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil || len(p.Errors) != 1 || p.Errors[0].Pointer != "/partnerName" {
		t.Errorf("%s %s: errors %+v (%v), want one at /partnerName", r.method, r.path, p.Errors, err)
	}
	if strings.Contains(string(r.body), name) {
		t.Errorf("%s %s: the problem repeats the name", r.method, r.path)
	}
}

// Partner names through `lanyard local`: a name with a bidirectional override, a zero-width
// space or a C1 control is refused with a 400 naming /partnerName, whether ops put it in an
// invite or the partner in its onboarding, and nothing is created; names are compared and
// stored in NFC, so an onboarding that spells its invite's name with a combining accent is
// that partner, named in NFC.
//
// Not parallel: the canaries capture the process's slog default.
func TestPartnerNamesThroughLocal(t *testing.T) {
	canary := secrettest.Plant(t)
	s, _ := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	suffix := " " + harness.Name("t")
	hostile := map[string]string{
		"right-to-left override": "Acme \u202eexe.GPJ" + suffix,
		"zero-width space":       "Ac\u200bme" + suffix,
		"C1 CSI":                 "Acme\u009b2J" + suffix,
	}
	for label, name := range hostile {
		body, _ := json.Marshal(map[string]string{"partnerName": name, "tier": "standard"})
		r := sendSigned(t, s, "/v1/admin/invites", string(body), localCreds, time.Now())
		if r.status == http.StatusCreated {
			var inv issuedInvite
			_ = json.Unmarshal(r.body, &inv)
			canary.Add("invite code for a hostile name", inv.InviteCode)
		}
		t.Logf("invite for a name with a %s", label)
		wantNameRefused(t, r, name)
	}

	// An invite for a plain name, and an onboarding that names itself with a hostile one.
	nfc := "Caf\u00e9 Freight" + suffix
	inv := api.invite(nfc, "standard")
	for label, name := range hostile {
		t.Logf("onboarding named with a %s", label)
		wantNameRefused(t, api.onboard(harness.Name("idem"), onboardBody(name, inv.InviteCode, "orders:read")), name)
	}
	for _, name := range hostile {
		if n := partnersNamed(t, s, name); n != 0 {
			t.Errorf("%d partners named with a hostile name", n)
		}
	}

	// The invite's name, spelled with a combining accent: the same name.
	nfd := "Cafe\u0301 Freight" + suffix
	r := api.onboard(harness.Name("idem"), onboardBody(nfd, inv.InviteCode, "orders:read"))
	if r.status != http.StatusCreated {
		t.Fatalf("onboard as the NFD spelling of the invite's name: %d %s", r.status, api.redacted(r.body))
	}
	var ob onboarded
	decodeStrict(t, r.body, &ob)
	canary.Add("api key", ob.APIKey)
	me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+ob.APIKey, "")
	if me.status != http.StatusOK {
		t.Fatalf("GET /v1/partners/me: %d %s", me.status, me.body)
	}
	var prof profile
	decodeStrict(t, me.body, &prof)
	if prof.PartnerName != nfc {
		t.Errorf("GET /v1/partners/me: partner named %+q, want NFC %+q", prof.PartnerName, nfc)
	}
	if n := partnersNamed(t, s, nfc); n != 1 {
		t.Errorf("%d partners named in NFC, want 1", n)
	}
	checkCanaries(t, s, canary)
}
