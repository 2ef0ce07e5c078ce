package onboarding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/partner"
	"github.com/lanyardhq/lanyard/shared/policy"
	"github.com/lanyardhq/lanyard/shared/problem"
	"github.com/lanyardhq/lanyard/shared/secret"
	"github.com/lanyardhq/lanyard/shared/stsproof"
	"github.com/lanyardhq/lanyard/shared/stsproof/stsprooftest"
)

// The AWS principals of these tests: LocalStack's account (sandbox in the production policy),
// an account the tests allow into premium, and one on no allow-list.
var (
	localID   = stsproof.Identity{AccountID: "000000000000", ARN: "arn:aws:iam::000000000000:root", UserID: "AIDAEXAMPLE"}
	premiumID = stsproof.Identity{AccountID: "111122223333", ARN: "arn:aws:iam::111122223333:role/globex-lanyard", UserID: "AROAEXAMPLE:s"}
	strangeID = stsproof.Identity{AccountID: "999988887777", ARN: "arn:aws:iam::999988887777:user/mallory", UserID: "AIDAOTHER"}
)

// fakeVerifier answers Verify by the request's Authorization header: a known signature is its
// principal's, any other refused (as STS refuses a bad signature).
type fakeVerifier struct {
	mu    sync.Mutex
	ids   map[string]stsproof.Identity
	err   error // when set, every call fails with it (STS unreachable)
	calls int
}

func (v *fakeVerifier) Verify(_ context.Context, r stsproof.Request) (stsproof.Identity, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	if v.err != nil {
		return stsproof.Identity{}, v.err
	}
	if auth := r.Headers["Authorization"]; len(auth) == 1 {
		if id, ok := v.ids[auth[0]]; ok {
			return id, nil
		}
	}
	return stsproof.Identity{}, fmt.Errorf("stsproof: verify identity request: STS answered 403 SignatureDoesNotMatch: %w", stsproof.ErrInvalid)
}

func (v *fakeVerifier) callCount() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls
}

// stsFixture is a fixture whose handler verifies identity requests with a fakeVerifier and
// whose policy allows premiumID's account into premium.
func stsFixture(t *testing.T) (*fixture, *fakeVerifier) {
	t.Helper()
	f := newFixture(t)
	v := &fakeVerifier{ids: map[string]stsproof.Identity{}}
	f.h.Identity = v
	f.h.Policy.Accounts = append(f.h.Policy.Accounts, policy.Account{AccountID: premiumID.AccountID, Tier: "premium", Description: "test"})
	return f, v
}

// sign makes an Authorization header the fake verifier knows as id's.
func (v *fakeVerifier) sign(id stsproof.Identity) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	auth := fmt.Sprintf("AWS4-HMAC-SHA256 Credential=EXAMPLEKEYID/20261123/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-lanyard-server-id, Signature=%064x", len(v.ids)+1)
	v.ids[auth] = id
	return auth
}

// stsBody is a createPartner body proving identity with a request signed auth.
func stsBody(name, auth string, scopes ...string) string {
	b, err := json.Marshal(map[string]any{
		"partnerName": name,
		"identityRequest": map[string]any{
			"method": "POST",
			"url":    "https://sts.us-east-1.amazonaws.com/",
			"headers": map[string][]string{
				"Authorization":       {auth},
				"Content-Type":        {stsproof.ContentType},
				"Host":                {"sts.us-east-1.amazonaws.com"},
				"X-Amz-Date":          {"20261123T120000Z"},
				"X-Lanyard-Server-ID": {"lanyard-test"},
			},
			"body": stsproof.Body,
		},
		"scopes": scopes,
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// accountItem reads the claim of an AWS account from the partners table (nil when none).
func (f *fixture) accountItem(accountID string) map[string]types.AttributeValue {
	f.t.Helper()
	out, err := f.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(testTables.Partners), Key: accountKey(accountID)})
	if err != nil {
		f.t.Fatal(err)
	}
	return out.Item
}

func attr(item map[string]types.AttributeValue, name string) string {
	switch v := item[name].(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	}
	return ""
}

// An allow-listed account onboards into its tier: the partner records the verified account and
// principal, Partner Onboarded carries them, and the account is claimed by the partner.
func TestOnboardWithSTS(t *testing.T) {
	t.Parallel()
	f, v := stsFixture(t)
	ctx := context.Background()
	auth := v.sign(localID)
	resp := f.post("sts", stsBody("Local Ltd", auth, "orders:read"))
	got := created(t, resp)
	if got.Tier != "sandbox" || !slices.Equal(got.Scopes, []string{"orders:read"}) {
		t.Errorf("answer %+v", got.onboarded)
	}
	pt, err := (&partner.Store{DB: f.db, Table: testTables.Partners}).Get(ctx, got.PartnerID)
	if err != nil {
		t.Fatal(err)
	}
	if pt.IdentityMethod != events.ProofSTS || pt.InviteID != "" || pt.PartnerName != "Local Ltd" || pt.Tier != "sandbox" {
		t.Errorf("partner %+v", pt)
	}
	if pt.AccountID != localID.AccountID || pt.ARN != localID.ARN {
		t.Errorf("partner account %q arn %q", pt.AccountID, pt.ARN)
	}
	claim := f.accountItem(localID.AccountID)
	if attr(claim, attrAcctOwner) != got.PartnerID || attr(claim, attrAcctState) != accountOnboarded || attr(claim, attrAcctARN) != localID.ARN || claim[attrAcctExpiresAtMs] != nil {
		t.Errorf("account claim %s", itemText(claim))
	}
	records := f.records(got.PartnerID)
	ev, _ := records[0].Event()
	if id := ev.(*events.PartnerOnboarded).Identity; id != (events.Identity{Method: events.ProofSTS, AccountID: localID.AccountID, ARN: localID.ARN}) {
		t.Errorf("Partner Onboarded identity %+v", id)
	}
	if c := f.counts(); c != (counts{Partners: 2, Credentials: 1, Idempotency: 1, Outbox: 3, Secrets: 1}) {
		t.Errorf("counts %+v", c)
	}

	// A replay answers from the record, once STS has verified the proof again
	// (TestSTSReplayRechecksTheProof).
	calls := v.callCount()
	if again := f.post("sts", stsBody("Local Ltd", auth, "orders:read")); again.Body != resp.Body {
		t.Error("the replay differs")
	}
	if v.callCount() != calls+1 {
		t.Errorf("the replay asked STS %d times, want once", v.callCount()-calls)
	}
	if strings.Contains(f.dump(), auth) {
		t.Error("a table holds the identity request's signature")
	}
}

// One partner per AWS account: a second onboarding of the account, with another request and
// key, is 409 and creates nothing.
func TestSTSSecondOnboardingOfAnAccount(t *testing.T) {
	t.Parallel()
	f, v := stsFixture(t)
	created(t, f.post("first", stsBody("Local Ltd", v.sign(localID), "orders:read")))
	before := f.counts()
	resp := f.post("second", stsBody("Local Two", v.sign(localID), "inventory:read"))
	p := refusal(t, resp, problem.Conflict)
	if !strings.Contains(p.Detail, "AWS account already has a Lanyard partner") {
		t.Errorf("detail %q", p.Detail)
	}
	if after := f.counts(); after.Partners != before.Partners || after.Secrets != before.Secrets || f.sm.created() != 1 {
		t.Errorf("counts %+v then %+v", before, after)
	}
	if again := f.post("second", stsBody("Local Two", v.sign(localID), "inventory:read")); again.StatusCode != 422 {
		t.Errorf("the key holds another request of the account: %d", again.StatusCode)
	}
}

// Two onboardings of one account racing: the account's condition lets one commit; the other
// is 409 and deletes the secret it made.
func TestSTSRaceForOneAccount(t *testing.T) {
	t.Parallel()
	f, v := stsFixture(t)
	var winner lambdaevents.APIGatewayProxyResponse
	var fired atomic.Bool
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && fired.CompareAndSwap(false, true) {
			winner = f.post("winner", stsBody("Local Ltd", v.sign(localID), "orders:read"))
		}
		return nil
	}
	loser := f.post("loser", stsBody("Local Ltd", v.sign(localID), "orders:read"))
	f.db.Intercept = nil
	won := created(t, winner)
	refusal(t, loser, problem.Conflict)
	lost, _ := f.record("loser")
	if f.secretExists(lost.PartnerID) || !f.secretExists(won.PartnerID) {
		t.Error("the loser's secret was kept, or the winner's deleted")
	}
	if c := f.counts(); c.Partners != 2 || c.Secrets != 1 {
		t.Errorf("counts %+v", c)
	}
}

// The refusals of an identity request: invalid (one fixed answer, before any record: there is
// no verified account to keep one under, and a retry is verified again), an account on no
// allow-list, and STS unreachable (500, nothing recorded: the retry asks again).
func TestSTSRefusals(t *testing.T) {
	t.Parallel()
	f, v := stsFixture(t)
	invalid := f.post("invalid", stsBody("Local Ltd", "AWS4-HMAC-SHA256 Credential=forged", "orders:read"))
	p := refusal(t, invalid, problem.IdentityProofInvalid)
	if p.Detail != problem.IdentityProofInvalid.DefaultDetail() {
		t.Errorf("detail %q", p.Detail)
	}
	if again := f.post("invalid", stsBody("Local Ltd", "AWS4-HMAC-SHA256 Credential=forged", "orders:read")); again.Body != invalid.Body {
		t.Error("the retry is answered otherwise")
	}
	if _, ok := f.record("invalid"); ok {
		t.Error("an invalid identity request left a record")
	}
	refusal(t, f.post("strange", stsBody("Mallory", v.sign(strangeID), "orders:read")), problem.AccountNotAllowed)
	refusal(t, f.post("scopes", stsBody("Local Ltd", v.sign(localID), "orders:write")), problem.ScopesNotAllowed)

	v.mu.Lock()
	v.err = errors.New("stsproof: verify identity request: Post \"https://sts.us-east-1.amazonaws.com/\": context deadline exceeded")
	v.mu.Unlock()
	auth := v.sign(localID)
	refusal(t, f.post("down", stsBody("Local Ltd", auth, "orders:read")), problem.Internal)
	if rec, ok := f.record("down"); ok {
		t.Errorf("STS unreachable left a record: %+v", rec)
	}
	v.mu.Lock()
	v.err = nil
	v.mu.Unlock()
	created(t, f.post("down", stsBody("Local Ltd", auth, "orders:read")))

	f.h.Identity = nil
	refusal(t, f.post("no-verifier", stsBody("Local Ltd", v.sign(premiumID), "orders:read")), problem.Internal)
	if c := f.counts(); c.Partners != 2 || c.Secrets != 1 {
		t.Errorf("counts %+v", c)
	}
}

// An account allowed into a tier that needs an approval: the pending onboarding claims the
// account (a second onboarding is 409); a denial frees it; after an approval the pick-up makes
// the claim the partner's for good; an expired claim is taken by the next onboarding.
func TestSTSPending(t *testing.T) {
	t.Parallel()
	f, v := stsFixture(t)
	first := accepted(t, f.post("p1", stsBody("Globex", v.sign(premiumID), "shipments:write")))
	o := f.onboarding(first.OnboardingID)
	if o.IdentityMethod != events.ProofSTS || o.AccountID != premiumID.AccountID || o.ARN != premiumID.ARN || o.InviteID != "" {
		t.Errorf("onboarding identity %+v", o)
	}
	claim := f.accountItem(premiumID.AccountID)
	if attr(claim, attrAcctState) != accountPending || attr(claim, attrAcctOwner) != o.PartnerID || attr(claim, attrAcctOnboardingID) != o.ID ||
		attr(claim, attrAcctExpiresAtMs) != fmt.Sprint(o.ExpiresAt.UnixMilli()) {
		t.Errorf("pending claim %s", itemText(claim))
	}
	refusal(t, f.post("p2", stsBody("Globex", v.sign(premiumID), "shipments:write")), problem.Conflict)

	decided(t, f.deny(first.OnboardingID, `{"reason":"unknown company"}`))
	if claim := f.accountItem(premiumID.AccountID); claim != nil {
		t.Errorf("the denial left the claim %s", itemText(claim))
	}
	second, token := pendSTS(t, f, "p3", v.sign(premiumID))
	decided(t, f.approve(second.OnboardingID, ""))
	got := created(t, f.pickup("pick", second.OnboardingID, token))
	claim = f.accountItem(premiumID.AccountID)
	if attr(claim, attrAcctState) != accountOnboarded || attr(claim, attrAcctOwner) != got.PartnerID || claim[attrAcctExpiresAtMs] != nil {
		t.Errorf("claim after the pick-up %s", itemText(claim))
	}
	pt, err := (&partner.Store{DB: f.db, Table: testTables.Partners}).Get(context.Background(), got.PartnerID)
	if err != nil || pt.AccountID != premiumID.AccountID || pt.IdentityMethod != partner.IdentityMethodSTS {
		t.Errorf("partner %+v, %v", pt, err)
	}
	f.clock.Advance(2 * PendingLifetime)
	refusal(t, f.post("p4", stsBody("Globex", v.sign(premiumID), "shipments:write")), problem.Conflict)
}

func pendSTS(t *testing.T, f *fixture, key, auth string) (pendingBody, secret.Value) {
	t.Helper()
	p := accepted(t, f.post(key, stsBody("Globex", auth, "shipments:write")))
	return p, secret.New(p.PickupToken)
}

// A pending claim that expired without a decision does not hold the account.
func TestSTSExpiredPendingClaim(t *testing.T) {
	t.Parallel()
	f, v := stsFixture(t)
	accepted(t, f.post("p1", stsBody("Globex", v.sign(premiumID), "shipments:write")))
	f.clock.Advance(PendingLifetime)
	second := accepted(t, f.post("p2", stsBody("Globex", v.sign(premiumID), "shipments:write")))
	if claim := f.accountItem(premiumID.AccountID); attr(claim, attrAcctOnboardingID) != second.OnboardingID {
		t.Errorf("claim %s, want the second onboarding's", itemText(claim))
	}
}

// The real verifier against the fake STS, with a request as stsproof.Sign (and so `lanyard
// identity-request`) builds it: the body passes the schema and the account onboards.
func TestOnboardWithSignedRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	fake := stsprooftest.New(t)
	f.h.Identity = &stsproof.Verifier{ServerID: "lanyard-unit", Endpoint: fake.URL, HTTP: fake.Client()}
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	r, err := stsproof.Sign(context.Background(), creds, "us-east-1", fake.URL, "lanyard-unit", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"partnerName": "Local Ltd", "identityRequest": r, "scopes": []string{"orders:read"}})
	got := created(t, f.post("signed", string(b)))
	if got.Tier != "sandbox" {
		t.Errorf("tier %s", got.Tier)
	}
	if claim := f.accountItem(stsprooftest.LocalIdentity.AccountID); attr(claim, attrAcctOwner) != got.PartnerID {
		t.Errorf("claim %s", itemText(claim))
	}
	// Signed for another deployment: refused without asking STS.
	calls := len(fake.Calls())
	r, _ = stsproof.Sign(context.Background(), creds, "us-east-1", fake.URL, "another-lanyard", time.Now())
	b, _ = json.Marshal(map[string]any{"partnerName": "Local Ltd", "identityRequest": r, "scopes": []string{"orders:read"}})
	refusal(t, f.post("other-server", string(b)), problem.IdentityProofInvalid)
	if len(fake.Calls()) != calls {
		t.Error("a request for another server id was sent to STS")
	}
}
