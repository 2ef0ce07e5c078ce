//go:build integration

package suite_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

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

// revokeWith POSTs /v1/revoke as a form holding token, authenticated with key.
func revokeWith(t *testing.T, s *suite.Suite, key, contentType, body string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.APIURL+"/v1/revoke", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+key)
	return do(t, req)
}

func revokeForm(token string) string { return url.Values{"token": {token}}.Encode() }

// A partner revokes its keys with POST /v1/revoke through `lanyard local`, with the production
// functions: after a rotation its current key revokes the previous one (never used through the
// front, so no cached Allow) — twice, one record — and the authorizer refuses that key on every
// route; revoking another partner's key changes nothing; a malformed body is refused; the
// current key revokes itself, and every route's function refuses it from the commit on, while
// the front still holds its Allow (the cache flush is the gateway enforcer's). The outbox holds
// exactly one Credential Revoked per key revoked, and no key reaches a log, a trace or an error.
func TestPartnerRevocationThroughLocal(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	a := api.onboardNew("Revoking Freight "+harness.Name("t"), "standard", "orders:read")
	b := api.onboardNew("Bystander Freight "+harness.Name("t"), "standard", "orders:read")

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
	if current == previous {
		t.Fatal("the rotation left the key in place")
	}
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
	if got := statusOf(previous); got != registry.StatusPrevious {
		t.Fatalf("the onboarded key is %s after the rotation", got)
	}

	// Another partner's key: answered alike, nothing changes, the key still works.
	if r := revokeWith(t, s, current, "application/x-www-form-urlencoded", revokeForm(b.APIKey)); r.status != http.StatusOK || string(r.body) != "{}" {
		t.Fatalf("revoke another partner's key: %d %s", r.status, api.redacted(r.body))
	}
	if got := statusOf(b.APIKey); got != registry.StatusActive {
		t.Errorf("the bystander's key is %s", got)
	}
	if me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+b.APIKey, ""); me.status != http.StatusOK {
		t.Errorf("the bystander's key answered %d after a stranger revoked it", me.status)
	}

	// Malformed: a JSON body, a form without token.
	canary.CheckText("json refusal", wantFunctionProblem(t, revokeWith(t, s, current, "application/json", `{"token":"`+previous+`"}`),
		http.StatusBadRequest, "revocation-request-invalid").Detail)
	wantFunctionProblem(t, revokeWith(t, s, current, "application/x-www-form-urlencoded", "token_type_hint=api_key"),
		http.StatusBadRequest, "revocation-request-invalid")

	// The current key revokes the previous one, twice: one revocation.
	for range 2 {
		if r := revokeWith(t, s, current, "application/x-www-form-urlencoded", revokeForm(previous)+"&token_type_hint=api_key"); r.status != http.StatusOK || string(r.body) != "{}" {
			t.Fatalf("revoke the previous key: %d %s", r.status, api.redacted(r.body))
		}
	}
	if got := statusOf(previous); got != registry.StatusRevoked {
		t.Fatalf("the previous key is %s, want revoked", got)
	}
	// Never used through the front: the authorizer reads the registry and denies it everywhere.
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
	refusedEverywhere(previous)

	// The current key revokes itself: its Allow is in the front's cache, and each function
	// refuses it, reading the registry.
	if r := revokeWith(t, s, current, "application/x-www-form-urlencoded", revokeForm(current)); r.status != http.StatusOK {
		t.Fatalf("revoke the current key: %d %s", r.status, api.redacted(r.body))
	}
	if got := statusOf(current); got != registry.StatusRevoked {
		t.Fatalf("the current key is %s, want revoked", got)
	}
	refusedEverywhere(current)
	if got := statusOf(b.APIKey); got != registry.StatusActive {
		t.Errorf("the bystander's key is %s", got)
	}

	// The outbox: one Credential Revoked per key, by the partner, reason requested.
	store := &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}
	revoked := func(partnerID string) []string {
		t.Helper()
		recs, err := store.Records(ctx, partnerID)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, rec := range recs {
			if rec.DetailType != events.TypeCredentialRevoked {
				continue
			}
			d, err := rec.Event()
			if err != nil {
				t.Fatal(err)
			}
			ev := d.(*events.CredentialRevoked)
			if ev.Actor != (events.Actor{Kind: events.ActorPartner, ID: partnerID}) || ev.Reason != events.RevocationRequested || ev.RevocationID == "" {
				t.Errorf("Credential Revoked %+v", ev)
			}
			ids = append(ids, ev.KeyIDs...)
		}
		if err := store.VerifyPartner(ctx, partnerID); err != nil {
			t.Errorf("the audit chain of %s: %v", partnerID, err)
		}
		return ids
	}
	pk, _ := credential.Parse(previous)
	ck, _ := credential.Parse(current)
	if got, want := revoked(a.PartnerID), []string{string(pk.ID()), string(ck.ID())}; !slices.Equal(got, want) {
		t.Errorf("partner's revocations %v, want %v", got, want)
	}
	if got := revoked(b.PartnerID); len(got) != 0 {
		t.Errorf("the bystander's revocations %v, want none", got)
	}
	checkCanaries(t, s, canary)
}
