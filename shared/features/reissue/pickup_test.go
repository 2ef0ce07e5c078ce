package reissue_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/domain/pickuptoken"
	"github.com/lanyardhq/lanyard/shared/fakes/ddbfault"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secretsmanagertest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/reissue"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/shared/stores/replacements"
)

const (
	partnerA = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	prefix   = "lanyard/partners/"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	c     *secrettest.Canaries
	db    *dynamodbtest.DynamoDB
	h     *reissue.PickupHandler
	r     replacements.Replacement
	key   credential.Key
	token string
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("credentials", dynamodbtest.KeyAttr{Name: registry.PartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	db.CreateTable("replacements", dynamodbtest.KeyAttr{Name: replacements.PartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	db.CreateTable("outbox", dynamodbtest.KeyAttr{Name: outbox.PartitionKey, Type: types.ScalarAttributeTypeS},
		&dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: types.ScalarAttributeTypeN})
	sm := secretsmanagertest.New(secretsmanagertest.Options{})
	fx := &fixture{t: t, c: secrettest.Plant(t), db: db, now: t0}
	key, err := credential.Generate(credential.EnvTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	fx.key = key
	fx.c.Add("replacement key", key.Plaintext().Reveal())
	tok, err := pickuptoken.New(strings.NewReader(strings.Repeat("\x07\x21\x33\x40", 64)))
	if err != nil {
		t.Fatal(err)
	}
	fx.token = tok.Reveal()
	const version = "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee"
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(partnersecret.GenerationName(prefix, partnerA, 2)),
		ClientRequestToken: aws.String(version), SecretString: aws.String(key.Plaintext().Reveal())})
	if err != nil {
		t.Fatal(err)
	}
	put, err := registry.PutNew("credentials", registry.Entry{KeyID: key.ID(), PartnerID: partnerA, Verifier: credential.NewVerifier(key),
		Scopes: []string{"orders:read"}, Tier: "standard", Status: registry.StatusActive, NotBefore: t0, NotAfter: t0.Add(90 * 24 * time.Hour),
		SecretARN: aws.ToString(out.ARN), SecretVersionID: version, CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	fx.r = replacements.Replacement{ID: replacements.NewID(), PartnerID: partnerA, RevocationID: "rev-1", KeyID: string(key.ID()),
		SecretARN: aws.ToString(out.ARN), SecretVersionID: version, PickupTokenHash: pickuptoken.Hash(tok), CreatedAt: t0,
		ExpiresAt: t0.Add(reissue.PickupLifetime)}
	pickup, err := replacements.Put("replacements", fx.r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{put, pickup}}); err != nil {
		t.Fatal(err)
	}
	fx.h = &reissue.PickupHandler{DB: db, Secrets: sm, Tables: reissue.PickupTables{Replacements: "replacements", Credentials: "credentials", Outbox: "outbox"},
		SecretPrefix: prefix, Now: func() time.Time { return fx.now }}
	return fx
}

func (fx *fixture) pickUp(id, token string) lambdaevents.APIGatewayProxyResponse {
	fx.t.Helper()
	resp, err := fx.h.Handle(fx.t.Context(), lambdaevents.APIGatewayProxyRequest{
		Resource: reissue.PickupResource, Path: "/v1/replacements/" + id + "/pickup", HTTPMethod: http.MethodPost,
		PathParameters: map[string]string{reissue.ReplacementIDParameter: id},
		Headers:        map[string]string{"Content-Type": "application/json"},
		Body:           `{"pickupToken":"` + token + `"}`,
	})
	if err != nil {
		fx.t.Fatal(err)
	}
	return resp
}

func refused(t *testing.T, resp lambdaevents.APIGatewayProxyResponse, what string) {
	t.Helper()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Body, "replacement-pickup-invalid") {
		t.Errorf("%s: %d %s, want 403 replacement-pickup-invalid", what, resp.StatusCode, resp.Body)
	}
}

// The token collects the key once; another token, an unknown or malformed replacement, and a
// second pick-up are refused alike.
func TestPickUpOnce(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	other := "lnyd_pku_" + strings.Repeat("A", 43)
	refused(t, fx.pickUp(fx.r.ID, other), "another token")
	refused(t, fx.pickUp(replacements.NewID(), fx.token), "an unknown replacement")
	refused(t, fx.pickUp("rpl-short", fx.token), "a malformed id")
	resp := fx.pickUp(fx.r.ID, fx.token)
	if resp.StatusCode != http.StatusOK || resp.Headers["Cache-Control"] != "no-store" {
		t.Fatalf("pick-up: %d %v", resp.StatusCode, resp.Headers)
	}
	var got reissue.Collected
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
		t.Fatal(err)
	}
	if got.APIKey != fx.key.Plaintext().Reveal() || got.KeyID != string(fx.key.ID()) || got.PartnerID != partnerA {
		t.Errorf("collected key %s of %s", got.KeyID, got.PartnerID)
	}
	refused(t, fx.pickUp(fx.r.ID, fx.token), "a second pick-up")
	r, _, err := replacements.Get(t.Context(), fx.db, "replacements", fx.r.ID)
	if err != nil || r.Status != replacements.StatusCollected || !r.CollectedAt.Equal(t0) {
		t.Errorf("after the pick-up: %+v, %v", r, err)
	}

	// The pick-up is recorded once, on the partner's chain, in the transaction that marked the
	// replacement collected: neither the key nor the token is in the record.
	recs, err := (&outbox.Store{DB: fx.db, Table: "outbox"}).Records(t.Context(), partnerA)
	if err != nil || len(recs) != 1 || recs[0].DetailType != events.TypeCredentialPickedUp {
		t.Fatalf("records %+v, %v: want one Credential Picked Up", recs, err)
	}
	var picked events.CredentialPickedUp
	if err := json.Unmarshal(recs[0].Detail, &picked); err != nil {
		t.Fatal(err)
	}
	want := events.CredentialPickedUp{Meta: picked.Meta, KeyID: string(fx.key.ID()), Method: events.PickedUpReplacement, ReplacementID: fx.r.ID}
	if picked != want || picked.Actor != (events.Actor{Kind: events.ActorPartner, ID: partnerA}) || !picked.Time.Equal(t0) {
		t.Errorf("recorded %+v, want %+v by the partner at %s", picked, want, t0)
	}
	fx.c.CheckText("the pick-up record", string(recs[0].Detail))
	for _, v := range []string{fx.token, pickuptoken.Hash(secret.New(fx.token))} {
		if strings.Contains(string(recs[0].Detail), v) {
			t.Error("the record holds the pick-up token or its hash")
		}
	}
	if n := fx.db.Calls("TransactWriteItems"); n != 2 { // the fixture's own, and the pick-up's
		t.Errorf("%d TransactWriteItems calls", n)
	}
}

// A pick-up whose record does not commit is not carried out: the replacement still waits, no
// record exists, the partner gets a 500 without the key, and the same token collects it once
// DynamoDB answers again.
func TestPickUpFailsClosed(t *testing.T) {
	t.Parallel()
	for _, f := range ddbfault.Faults() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			failing := &ddbfault.Fake{DynamoDB: fx.db, Fault: &f}
			fx.h.DB = failing
			resp := fx.pickUp(fx.r.ID, fx.token)
			if resp.StatusCode != http.StatusInternalServerError || strings.Contains(resp.Body, fx.key.Plaintext().Reveal()) || strings.Contains(resp.Body, "apiKey") {
				t.Errorf("answer %d %s, want a 500 without the key", resp.StatusCode, resp.Body)
			}
			if failing.Calls.Load() != 1 {
				t.Errorf("%d transactions failed, want 1", failing.Calls.Load())
			}
			r, _, err := replacements.Get(t.Context(), fx.db, "replacements", fx.r.ID)
			if err != nil || r.Status != replacements.StatusWaiting {
				t.Errorf("replacement %+v, %v: want it still waiting", r, err)
			}
			if recs, err := (&outbox.Store{DB: fx.db, Table: "outbox"}).Records(t.Context(), partnerA); err != nil || len(recs) != 0 {
				t.Errorf("records %+v, %v: want none", recs, err)
			}

			failing.Fault = nil
			if resp := fx.pickUp(fx.r.ID, fx.token); resp.StatusCode != http.StatusOK {
				t.Errorf("the pick-up once DynamoDB answers: %d %s", resp.StatusCode, resp.Body)
			}
		})
	}
}

// An expired replacement, and one whose key was revoked meanwhile, are refused.
func TestPickUpRefusesExpiredAndRevoked(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.now = fx.r.ExpiresAt
	refused(t, fx.pickUp(fx.r.ID, fx.token), "an expired replacement")

	fx = newFixture(t)
	rev, err := registry.Revoke("credentials", fx.key.ID(), registry.StatusActive, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{rev}}); err != nil {
		t.Fatal(err)
	}
	refused(t, fx.pickUp(fx.r.ID, fx.token), "a revoked replacement")
}
