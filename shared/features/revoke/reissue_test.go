package revoke_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/domain/pickuptoken"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secretsmanagertest"
	"github.com/lanyardhq/lanyard/shared/fakes/usagetest"
	"github.com/lanyardhq/lanyard/shared/features/reissue"
	"github.com/lanyardhq/lanyard/shared/features/usage"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/shared/stores/replacements"
)

const secretPrefix = "lanyard/partners/"

// reissueFixture is adminFixture with an Issuer: Secrets Manager and API Gateway fakes, the
// replacements table, partner A's API key enabled.
type reissueFixture struct {
	*adminFixture
	sm *secretsmanagertest.SecretsManager
	gw *usagetest.APIGateway
}

func newReissueFixture(t *testing.T) *reissueFixture {
	t.Helper()
	fx := &reissueFixture{adminFixture: newAdminFixture(t), sm: secretsmanagertest.New(secretsmanagertest.Options{}), gw: &usagetest.APIGateway{}}
	fx.db.CreateTable("replacements", dynamodbtest.KeyAttr{Name: replacements.PartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	fx.gw.AddKey(usage.KeyName(partnerA), usage.KeyValue(partnerA), true)
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	fx.a.Reissue = &reissue.Issuer{Secrets: fx.sm, APIKeys: fx.gw, CredentialsTable: tables.Credentials, PartnersTable: adminTables.Partners,
		ReplacementsTable: "replacements", SecretPrefix: secretPrefix, Policy: p, Env: credential.EnvTest}
	return fx
}

func (fx *reissueFixture) apiKeyEnabled() bool {
	for _, k := range fx.gw.Keys() {
		if aws.ToString(k.Name) == usage.KeyName(partnerA) {
			return k.Enabled
		}
	}
	fx.t.Fatal("no API key")
	return false
}

// A compromise with "reissue": true revokes every key of the partner and, in the same
// transaction, registers a replacement key held in a new generation of the partner's secret,
// makes the partner's item name it and its secret, records its pick-up (the token's hash only)
// and names it in Credential Revoked; the API key is disabled once committed.
func TestReissue(t *testing.T) {
	t.Parallel()
	fx := newReissueFixture(t)
	out := fx.revokeOK(partnerA, `{"keyId":"`+string(fx.current.ID())+`","reason":"compromised","reissue":true}`)
	rp := out.Replacement
	if rp == nil || out.RevocationID == "" || len(out.KeyIDs) != 3 {
		t.Fatalf("answer %+v", out)
	}
	for _, k := range []credential.Key{fx.current, fx.previous, fx.pending} {
		if got := fx.status(k); got != registry.StatusRevoked {
			t.Errorf("an old key is %s", got)
		}
	}
	st, err := (&partners.Store{DB: fx.db, Table: adminTables.Partners}).GetState(t.Context(), partnerA)
	if err != nil {
		t.Fatal(err)
	}
	name := partnersecret.NameOfARN(st.SecretARN)
	if st.KeyID != rp.KeyID || st.PreviousKeyID != "" || st.PendingKeyID != "" || name != secretPrefix+partnerA+"/g2" {
		t.Errorf("the partner after the replacement: key %s, previous %q, pending %q, secret %s", st.KeyID, st.PreviousKeyID, st.PendingKeyID, st.SecretARN)
	}
	e, err := (&registry.Store{DB: fx.db, Table: tables.Credentials}).Get(t.Context(), credential.KeyID(rp.KeyID))
	if err != nil || e.Status != registry.StatusActive || e.SecretARN != st.SecretARN || e.PartnerID != partnerA || !slices.Equal(e.Scopes, []string{"orders:read"}) {
		t.Fatalf("the replacement's entry %+v, %v", e, err)
	}
	v, err := fx.sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(st.SecretARN), VersionId: aws.String(e.SecretVersionID)})
	if err != nil {
		t.Fatal(err)
	}
	k, err := credential.Parse(aws.ToString(v.SecretString))
	fx.c.Add("replacement key", aws.ToString(v.SecretString))
	if err != nil || k.ID() != e.KeyID || !e.Verifier.Matches(k) {
		t.Fatalf("the new secret does not hold the replacement key: %v", err)
	}
	r, found, err := replacements.Get(t.Context(), fx.db, "replacements", rp.ReplacementID)
	if err != nil || !found || r.KeyID != rp.KeyID || r.Status != replacements.StatusWaiting || !pickuptoken.Matches(r.PickupTokenHash, secret.New(rp.PickupToken)) ||
		strings.Contains(r.PickupTokenHash, rp.PickupToken) || !r.ExpiresAt.Equal(rp.ExpiresAt) {
		t.Errorf("the pick-up %+v (found %t, %v)", r, found, err)
	}
	revs := fx.revocations(partnerA)
	if len(revs) != 1 || revs[0].ReplacementKeyID != rp.KeyID || revs[0].RevocationID != out.RevocationID {
		t.Errorf("Credential Revoked %+v", revs)
	}
	if fx.apiKeyEnabled() {
		t.Error("the API key is enabled after the replacement")
	}

	// Again: the replacement is the partner's only live key, revoked and replaced in g3.
	again := fx.revokeOK(partnerA, `{"all":true,"reason":"leaked","reissue":true}`)
	if again.Replacement == nil || !slices.Equal(again.KeyIDs, []string{rp.KeyID}) {
		t.Fatalf("second replacement %+v", again)
	}
	st, err = (&partners.Store{DB: fx.db, Table: adminTables.Partners}).GetState(t.Context(), partnerA)
	if err != nil || partnersecret.NameOfARN(st.SecretARN) != secretPrefix+partnerA+"/g3" {
		t.Errorf("second replacement's secret %s, %v", st.SecretARN, err)
	}
}

// A taken generation (a secret of that name exists: one being deleted, or a replacement that
// did not commit) is skipped.
func TestReissueSkipsATakenGeneration(t *testing.T) {
	t.Parallel()
	fx := newReissueFixture(t)
	if _, err := fx.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(secretPrefix + partnerA + "/g2"), SecretString: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	fx.revokeOK(partnerA, `{"all":true,"reason":"compromised","reissue":true}`)
	st, err := (&partners.Store{DB: fx.db, Table: adminTables.Partners}).GetState(t.Context(), partnerA)
	if err != nil || partnersecret.NameOfARN(st.SecretARN) != secretPrefix+partnerA+"/g3" {
		t.Errorf("replacement's secret %s, %v", st.SecretARN, err)
	}
}

// A replacement is refused without the revocation of every key (400), and when nothing is left
// to revoke (409); neither leaves a secret behind.
func TestReissueRefusals(t *testing.T) {
	t.Parallel()
	fx := newReissueFixture(t)
	resp := fx.callAdmin(adminRequest(partnerA, `{"keyId":"`+string(fx.current.ID())+`","reason":"requested","reissue":true}`))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Body, "admin-revocation-invalid") || !strings.Contains(resp.Body, "reissue") {
		t.Errorf("a replacement of one key: %d %s", resp.StatusCode, resp.Body)
	}
	fx.revokeOK(partnerA, `{"all":true,"reason":"offboarded"}`)
	resp = fx.callAdmin(adminRequest(partnerA, `{"all":true,"reason":"compromised","reissue":true}`))
	if resp.StatusCode != http.StatusConflict || !strings.Contains(resp.Body, "conflict") {
		t.Errorf("a replacement with nothing to revoke: %d %s", resp.StatusCode, resp.Body)
	}
	if _, err := fx.sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretPrefix + partnerA + "/g2")}); err == nil {
		t.Error("a refused replacement left a secret")
	}
	if !fx.apiKeyEnabled() {
		t.Error("a refused replacement disabled the API key")
	}
}
