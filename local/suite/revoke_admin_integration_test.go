//go:build integration

package suite_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/topology"
)

// adminRevocation is the ops route's answer (the AdminRevocation schema).
type adminRevocation struct {
	RevocationID string     `json:"revocationId,omitempty"`
	PartnerID    string     `json:"partnerId"`
	KeyIDs       []string   `json:"keyIds"`
	AlreadyEnded []string   `json:"alreadyEnded"`
	Reason       string     `json:"reason"`
	RevokedAt    *time.Time `json:"revokedAt,omitempty"`
}

// opsRevoke POSTs body to partner pid's ops revocation route, signed with the local
// credentials, and wants 200.
func opsRevoke(t *testing.T, s *suite.Suite, pid, body string) adminRevocation {
	t.Helper()
	r := sendSigned(t, s, "/v1/admin/partners/"+pid+"/revoke", body, localCreds, time.Now())
	if r.status != http.StatusOK {
		t.Fatalf("ops revocation of %s: %d %s", pid, r.status, r.body)
	}
	var out adminRevocation
	decodeStrict(t, r.body, &out)
	return out
}

func keyIDOf(t *testing.T, key string) string {
	t.Helper()
	k, err := credential.Parse(key)
	if err != nil {
		t.Fatalf("a key does not parse: %v", err)
	}
	return string(k.ID())
}

// Ops revoke through `lanyard local` with the production functions
// (POST /v1/admin/partners/{partnerId}/revoke, SigV4-signed; `lanyard revoke`): one key at a
// partner's request, then, after a rotation, a compromise named by the previous key alone,
// which revokes the partner's current and previous keys. Each revoked key is refused on every
// partner route; one Credential Revoked per revocation names all its keys, with the signer as
// actor; asking again revokes nothing more; a bystander's key keeps working. Unsigned
// requests, bad bodies and another partner's key are refused, and no key reaches a log, a
// trace or an error.
func TestOpsRevocationThroughLocal(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	one := api.onboardNew("Single Key Freight "+harness.Name("t"), "standard", "orders:read")
	a := api.onboardNew("Compromised Freight "+harness.Name("t"), "standard", "orders:read")
	b := api.onboardNew("Bystander Freight "+harness.Name("t"), "standard", "orders:read")
	reg := &registry.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["credentials"]}
	statusOf := func(key string) registry.Status {
		t.Helper()
		k, err := credential.Parse(key)
		if err != nil {
			t.Fatalf("a key does not parse: %v", err)
		}
		e, err := reg.Get(ctx, k.ID())
		if err != nil {
			t.Fatal(err)
		}
		return e.Status
	}
	refusedEverywhere := func(key string) {
		t.Helper()
		for _, r := range []reply{
			send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+key, ""),
			send(t, s, http.MethodPost, "/v1/token", "Bearer "+key, ""),
			send(t, s, http.MethodGet, "/v1/credentials/current", "Bearer "+key, ""),
			send(t, s, http.MethodPost, "/v1/credentials/ack", "Bearer "+key, ""),
			revokeWith(t, s, key, "application/x-www-form-urlencoded", revokeForm(key)),
		} {
			canary.CheckText("refusal of "+r.path, string(r.body))
			wantFunctionProblem(t, r, http.StatusForbidden, "access-denied")
		}
	}
	path := "/v1/admin/partners/" + a.PartnerID + "/revoke"

	// Refusals: unsigned, a bad body, another partner's key, an unknown partner.
	send(t, s, http.MethodPost, path, "", `{"all":true,"reason":"compromised"}`).wantProblem(t, "MISSING_AUTHENTICATION_TOKEN", http.StatusForbidden)
	wantFunctionProblem(t, sendSigned(t, s, path, `{"all":true,"keyId":"`+keyIDOf(t, a.APIKey)+`","reason":"other"}`, localCreds, time.Now()),
		http.StatusBadRequest, "admin-revocation-invalid")
	wantFunctionProblem(t, sendSigned(t, s, path, `{"all":true,"reason":"other","note":"two\nlines"}`, localCreds, time.Now()),
		http.StatusBadRequest, "admin-revocation-invalid")
	wantFunctionProblem(t, sendSigned(t, s, path, `{"keyId":"`+keyIDOf(t, b.APIKey)+`","reason":"requested"}`, localCreds, time.Now()),
		http.StatusNotFound, "not-found")
	wantFunctionProblem(t, sendSigned(t, s, "/v1/admin/partners/p-aaaaaaaaaaaaaaaaaaaaaaaaaa/revoke", `{"all":true,"reason":"compromised"}`, localCreds, time.Now()),
		http.StatusNotFound, "not-found")
	for _, k := range []string{a.APIKey, b.APIKey} {
		if got := statusOf(k); got != registry.StatusActive {
			t.Fatalf("a refused request left a key %s", got)
		}
	}

	// One key, at the partner's request; used through the front first, so its Allow is cached.
	if me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+one.APIKey, ""); me.status != http.StatusOK {
		t.Fatalf("the key answered %d before its revocation", me.status)
	}
	single := opsRevoke(t, s, one.PartnerID, `{"keyId":"`+keyIDOf(t, one.APIKey)+`","reason":"requested","note":"ticket OPS-1234"}`)
	if single.RevocationID == "" || !slices.Equal(single.KeyIDs, []string{keyIDOf(t, one.APIKey)}) || single.Reason != events.RevocationRequested || single.RevokedAt == nil {
		t.Errorf("single revocation %+v", single)
	}
	refusedEverywhere(one.APIKey)

	// A rotation: the onboarded key becomes previous, a new key current.
	secretID := partnersecret.Name(partnersecret.Prefix(prefix), a.PartnerID)
	if _, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(secretID)}); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	cur, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		t.Fatalf("read AWSCURRENT: %v", err)
	}
	current, previous := aws.ToString(cur.SecretString), a.APIKey
	canary.Add("current key", current)
	if got := statusOf(previous); got != registry.StatusPrevious {
		t.Fatalf("the onboarded key is %s after the rotation", got)
	}
	for _, k := range []string{current, previous} {
		if me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+k, ""); me.status != http.StatusOK {
			t.Fatalf("a key of the rotated partner answered %d before the compromise", me.status)
		}
	}

	// A compromise named by the previous key alone revokes both keys, in one revocation.
	both := []string{keyIDOf(t, current), keyIDOf(t, previous)}
	slices.Sort(both)
	body := `{"keyId":"` + keyIDOf(t, previous) + `","reason":"compromised","note":"previous key found in a public repository"}`
	rev := opsRevoke(t, s, a.PartnerID, body)
	if rev.RevocationID == "" || rev.PartnerID != a.PartnerID || !slices.Equal(rev.KeyIDs, both) || len(rev.AlreadyEnded) != 0 ||
		rev.Reason != events.RevocationCompromised || rev.RevokedAt == nil {
		t.Errorf("compromise %+v, want keys %v", rev, both)
	}
	for _, k := range []string{current, previous} {
		if got := statusOf(k); got != registry.StatusRevoked {
			t.Errorf("a key of the compromised partner is %s, want revoked", got)
		}
		refusedEverywhere(k)
	}

	// Again: nothing left, both keys reported ended, nothing recorded.
	again := opsRevoke(t, s, a.PartnerID, body)
	if again.RevocationID != "" || len(again.KeyIDs) != 0 || !slices.Equal(again.AlreadyEnded, both) || again.RevokedAt != nil {
		t.Errorf("second compromise %+v, want nothing revoked and %v ended", again, both)
	}

	// The bystander is untouched.
	if got := statusOf(b.APIKey); got != registry.StatusActive {
		t.Errorf("the bystander's key is %s", got)
	}
	if me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+b.APIKey, ""); me.status != http.StatusOK {
		t.Errorf("the bystander's key answered %d", me.status)
	}

	// The outbox: one Credential Revoked per revocation, by ops, with every key it revoked.
	store := &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}
	revocations := func(partnerID string) []*events.CredentialRevoked {
		t.Helper()
		recs, err := store.Records(ctx, partnerID)
		if err != nil {
			t.Fatal(err)
		}
		var out []*events.CredentialRevoked
		for _, rec := range recs {
			if rec.DetailType != events.TypeCredentialRevoked {
				continue
			}
			d, err := rec.Event()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, d.(*events.CredentialRevoked))
		}
		if err := store.VerifyPartner(ctx, partnerID); err != nil {
			t.Errorf("the audit chain of %s: %v", partnerID, err)
		}
		return out
	}
	for _, c := range []struct {
		pid    string
		want   adminRevocation
		reason string
		note   string
	}{
		{a.PartnerID, rev, events.RevocationCompromised, "previous key found in a public repository"},
		{one.PartnerID, single, events.RevocationRequested, "ticket OPS-1234"},
	} {
		evs := revocations(c.pid)
		if len(evs) != 1 {
			t.Errorf("partner %s: %d Credential Revoked, want 1", c.pid, len(evs))
			continue
		}
		ev := evs[0]
		if ev.RevocationID != c.want.RevocationID || !slices.Equal(ev.KeyIDs, c.want.KeyIDs) || ev.Reason != c.reason || ev.Note != c.note ||
			ev.Actor.Kind != events.ActorOps || ev.Actor.ID == "" || ev.PartnerID != c.pid {
			t.Errorf("partner %s: Credential Revoked %+v, want revocation %+v", c.pid, ev, c.want)
		}
	}
	if got := revocations(b.PartnerID); len(got) != 0 {
		t.Errorf("the bystander's revocations %v, want none", got)
	}
	checkCanaries(t, s, canary)
}
