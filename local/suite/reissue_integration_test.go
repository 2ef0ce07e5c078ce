//go:build integration

package suite_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/topology"
)

// replacedRevocation is the ops route's answer with a replacement.
type replacedRevocation struct {
	adminRevocation
	Replacement *struct {
		ReplacementID string    `json:"replacementId"`
		KeyID         string    `json:"keyId"`
		PickupToken   string    `json:"pickupToken"`
		ExpiresAt     time.Time `json:"expiresAt"`
	} `json:"replacement"`
}

// A compromise with a replacement, through `lanyard local` with the production functions: ops
// revoke every key of a rotated partner (current and previous) with "reissue": true. Every old
// key is refused by the gateway from the answer on; the replacement lives in a new generation
// of the partner's secret (its name differs from the old one's: LocalStack would let a
// scheduled-for-deletion name be reused, AWS does not), the partner's item names it, and
// Credential Revoked names it. The partner collects it once with the pick-up token (a second
// pick-up, another token, and a revoked key are refused); the partner's API key is disabled
// from the answer on and enabled again by the gateway enforcer after its flush, and the
// replacement then works on the partner routes. Rotation works on the new secret.
func TestCompromiseWithAReplacementCollectedOnce(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	ctx := t.Context()
	api := partnerAPI{t: t, s: s, canary: canary}
	a := api.onboardNew("Replaced Freight "+harness.Name("t"), "standard", "orders:read")

	// A rotation first: the partner holds a current and a previous key.
	oldSecret := partnersecret.Name(partnersecret.Prefix(prefix), a.PartnerID)
	if _, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(oldSecret)}); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	cur, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(oldSecret)})
	if err != nil {
		t.Fatalf("read AWSCURRENT: %v", err)
	}
	current := aws.ToString(cur.SecretString)
	canary.Add("current key", current)
	oldKeys := []string{current, a.APIKey}
	for _, k := range oldKeys {
		if r := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+k, ""); r.status != http.StatusOK {
			t.Fatalf("a key answered %d before the compromise", r.status)
		}
	}
	partnerStore := &partners.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["partners"]}
	before, err := partnerStore.Get(ctx, a.PartnerID)
	if err != nil {
		t.Fatal(err)
	}

	// A replacement only with every key revoked.
	path := "/v1/admin/partners/" + a.PartnerID + "/revoke"
	wantFunctionProblem(t, sendSigned(t, s, path, `{"keyId":"`+keyIDOf(t, current)+`","reason":"requested","reissue":true}`, localCreds, time.Now()),
		http.StatusBadRequest, "admin-revocation-invalid")

	r := sendSigned(t, s, path, `{"all":true,"reason":"compromised","note":"keys found in a public repository","reissue":true}`, localCreds, time.Now())
	if r.status != http.StatusOK {
		t.Fatalf("ops revocation with a replacement: %d %s", r.status, api.redacted(r.body))
	}
	var rev replacedRevocation
	if err := json.Unmarshal(r.body, &rev); err != nil || rev.Replacement == nil {
		t.Fatalf("answer without a replacement: %v", err)
	}
	rp := rev.Replacement
	canary.Add("pick-up token", rp.PickupToken)
	wantKeys := []string{keyIDOf(t, current), keyIDOf(t, a.APIKey)}
	slices.Sort(wantKeys)
	if rev.RevocationID == "" || !slices.Equal(rev.KeyIDs, wantKeys) || !strings.HasPrefix(rp.PickupToken, "lnyd_pku_") ||
		rp.ReplacementID == "" || slices.Contains(wantKeys, rp.KeyID) || rp.ExpiresAt.Before(time.Now().Add(71*time.Hour)) {
		t.Fatalf("revocation %+v, replacement %s key %s expiring %s", rev.adminRevocation, rp.ReplacementID, rp.KeyID, rp.ExpiresAt)
	}
	if apiKeyEnabled(t, a.PartnerID) {
		t.Error("the partner's API key is enabled right after the revocation with a replacement")
	}

	// Every old key is refused by the gateway, the pick-up of the current key included: no
	// revoked key can fetch the replacement.
	for _, k := range oldKeys {
		for _, r := range []reply{
			send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+k, ""),
			send(t, s, http.MethodGet, "/v1/credentials/current", "Bearer "+k, ""),
			send(t, s, http.MethodPost, "/v1/token", "Bearer "+k, ""),
		} {
			canary.CheckText("refusal of "+r.path, string(r.body))
			if !refusedByTheGateway(r) {
				t.Errorf("%s %s with a revoked key: %d %s, want the gateway's 403", r.method, r.path, r.status, api.redacted(r.body))
			}
		}
	}

	// The new generation: another secret, named by the partner's item and the key's entry.
	after, err := partnerStore.Get(ctx, a.PartnerID)
	if err != nil {
		t.Fatal(err)
	}
	newName := partnersecret.NameOfARN(after.SecretARN)
	if after.KeyID != rp.KeyID || after.SecretARN == before.SecretARN || newName == oldSecret ||
		newName != partnersecret.GenerationName(partnersecret.Prefix(prefix), a.PartnerID, 2) {
		t.Errorf("after the replacement the partner names key %s in secret %s (before: %s)", after.KeyID, after.SecretARN, before.SecretARN)
	}
	if after.PartnerName != before.PartnerName || after.Tier != before.Tier || !slices.Equal(after.Scopes, before.Scopes) {
		t.Errorf("the partner changed: %+v, was %+v", after, before)
	}
	entry, err := (&registry.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["credentials"]}).Get(ctx, credential.KeyID(rp.KeyID))
	if err != nil || entry.Status != registry.StatusActive || entry.SecretARN != after.SecretARN || entry.PartnerID != a.PartnerID {
		t.Errorf("the replacement's entry %+v, %v", entry, err)
	}
	revoked := revocationTrail(t, s, a.PartnerID)[events.TypeCredentialRevoked]
	if last := revoked[len(revoked)-1].(*events.CredentialRevoked); last.RevocationID != rev.RevocationID || last.ReplacementKeyID != rp.KeyID {
		t.Errorf("Credential Revoked %+v, want revocation %s replaced by %s", last, rev.RevocationID, rp.KeyID)
	}

	// The pick-up: another token, the old key as a bearer, then the token once.
	pickup := "/v1/replacements/" + rp.ReplacementID + "/pickup"
	wrong := `{"pickupToken":"lnyd_pku_` + strings.Repeat("A", 43) + `"}`
	wantFunctionProblem(t, send(t, s, http.MethodPost, pickup, "", wrong), http.StatusForbidden, "replacement-pickup-invalid")
	wantFunctionProblem(t, send(t, s, http.MethodPost, pickup, "Bearer "+current, wrong), http.StatusForbidden, "replacement-pickup-invalid")
	body := `{"pickupToken":"` + rp.PickupToken + `"}`
	got := send(t, s, http.MethodPost, pickup, "", body)
	if got.status != http.StatusOK {
		t.Fatalf("pick-up: %d %s", got.status, api.redacted(got.body))
	}
	var collected struct {
		PartnerID string    `json:"partnerId"`
		KeyID     string    `json:"keyId"`
		APIKey    string    `json:"apiKey"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	decodeStrict(t, got.body, &collected)
	canary.Add("replacement key", collected.APIKey)
	if collected.PartnerID != a.PartnerID || collected.KeyID != rp.KeyID || keyIDOf(t, collected.APIKey) != rp.KeyID {
		t.Fatalf("collected key %s of partner %s, want %s", collected.KeyID, collected.PartnerID, rp.KeyID)
	}
	if got.header.Get("Cache-Control") != "no-store" {
		t.Errorf("pick-up Cache-Control %q", got.header.Get("Cache-Control"))
	}
	wantFunctionProblem(t, send(t, s, http.MethodPost, pickup, "", body), http.StatusForbidden, "replacement-pickup-invalid")

	// The gateway enforcer enables the API key again after its flush; then the replacement
	// works on the partner routes, and the old keys stay refused.
	done := waitCompleted(t, s, a.PartnerID, rev.RevocationID, enforcementWait(t)+60*time.Second)
	if len(done.Enforcers) == 0 || done.Enforcers[0].LatencyMS < enforcementWait(t).Milliseconds() {
		t.Errorf("Revocation Completed %+v", done.Enforcers)
	}
	if !apiKeyEnabled(t, a.PartnerID) {
		t.Fatal("the partner's API key is still disabled once the gateway enforcer reported")
	}
	for _, route := range [][2]string{{http.MethodGet, "/v1/partners/me"}, {http.MethodPost, "/v1/token"}, {http.MethodGet, "/v1/credentials/current"}} {
		if r := send(t, s, route[0], route[1], "Bearer "+collected.APIKey, ""); r.status != http.StatusOK {
			t.Errorf("%s %s with the replacement: %d %s", route[0], route[1], r.status, api.redacted(r.body))
		}
	}
	for _, k := range oldKeys {
		if r := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+k, ""); !refusedByTheGateway(r) {
			t.Errorf("an old key once the API key is enabled: %d", r.status)
		}
	}

	// Rotation works on the replacement's secret: the replacement becomes previous.
	if _, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(after.SecretARN)}); err != nil {
		t.Fatalf("rotate the replacement's secret: %v", err)
	}
	next, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(after.SecretARN)})
	if err != nil {
		t.Fatalf("read the new secret's AWSCURRENT: %v", err)
	}
	canary.Add("rotated replacement", aws.ToString(next.SecretString))
	if keyIDOf(t, aws.ToString(next.SecretString)) == rp.KeyID {
		t.Fatal("the rotation of the replacement's secret made no new key")
	}
	if r := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+aws.ToString(next.SecretString), ""); r.status != http.StatusOK {
		t.Errorf("the rotated key: %d", r.status)
	}
	// The collection is recorded once, on the partner's chain.
	for _, d := range recordedOnce(t, s, a.PartnerID, events.TypeCredentialPickedUp, 1) {
		if p := d.(*events.CredentialPickedUp); p.Method != events.PickedUpReplacement || p.KeyID != rp.KeyID {
			t.Errorf("recorded %+v", p)
		}
	}
	checkCanaries(t, s, canary)
}
