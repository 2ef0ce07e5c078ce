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
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/stsprooftest"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// The AWS principals of these tests: a partner's role in an account allowed into sandbox, one
// in an account allowed into premium, principals of the sandbox account its entry does not
// admit (its root, another role), a principal of the account the deployment runs in (allowed
// into sandbox, to show that does not help), and one of an account on no allow-list.
const (
	sandboxAccount = "444455556666"
	premiumAccount = "111122223333"
	hostAccount    = "777788889999"
)

var (
	sandboxID  = stsproof.Identity{AccountID: sandboxAccount, ARN: "arn:aws:sts::" + sandboxAccount + ":assumed-role/lanyard-onboarding/alice", UserID: "AROAEXAMPLE:alice"}
	premiumID  = stsproof.Identity{AccountID: premiumAccount, ARN: "arn:aws:sts::" + premiumAccount + ":assumed-role/globex-lanyard/s", UserID: "AROAEXAMPLE:s"}
	rootID     = stsproof.Identity{AccountID: sandboxAccount, ARN: "arn:aws:iam::" + sandboxAccount + ":root", UserID: sandboxAccount}
	otherRole  = stsproof.Identity{AccountID: sandboxAccount, ARN: "arn:aws:sts::" + sandboxAccount + ":assumed-role/ci-deploy/build-7", UserID: "AROAOTHER:build-7"}
	hostID     = stsproof.Identity{AccountID: hostAccount, ARN: "arn:aws:sts::" + hostAccount + ":assumed-role/lanyard-onboarding/x", UserID: "AROAHOST:x"}
	strangeID  = stsproof.Identity{AccountID: "999988887777", ARN: "arn:aws:iam::999988887777:user/mallory", UserID: "AIDAOTHER"}
	testPolicy = []policy.Account{
		{AccountID: sandboxAccount, Principals: []string{"arn:aws:iam::" + sandboxAccount + ":role/lanyard-onboarding"}, Tier: "sandbox", Description: "test"},
		{AccountID: premiumAccount, Principals: []string{"arn:aws:iam::" + premiumAccount + ":role/globex-lanyard"}, Tier: "premium", Description: "test"},
		{AccountID: hostAccount, Principals: []string{"arn:aws:iam::" + hostAccount + ":role/lanyard-onboarding"}, Tier: "sandbox", Description: "test"},
	}
)

// fakeVerifier answers Verify by the request's Authorization header: a known signature is its
// principal's, any other refused (as STS refuses a bad signature). Like stsproof.Verifier, it
// refuses a request whose X-Lanyard-Request-SHA256 is not the digest it is asked to expect;
// and like STS, a signature once seen over one digest does not verify over another (it covers
// the header).
type fakeVerifier struct {
	mu      sync.Mutex
	ids     map[string]stsproof.Identity
	bound   map[string]string // Authorization → the digest it was first seen over
	digests []string          // the digests Verify was asked to expect
	err     error             // when set, every call fails with it (STS unreachable)
	calls   int
}

func (v *fakeVerifier) Verify(_ context.Context, r stsproof.Request, requestDigest string) (stsproof.Identity, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.digests = append(v.digests, requestDigest)
	header := r.Headers[stsproof.RequestDigestHeader]
	if len(header) != 1 || header[0] != requestDigest {
		return stsproof.Identity{}, fmt.Errorf("stsproof: verify identity request: %w: X-Lanyard-Request-SHA256 is not the digest of the request the proof was sent with", stsproof.ErrInvalid)
	}
	v.calls++
	if v.err != nil {
		return stsproof.Identity{}, v.err
	}
	if auth := r.Headers["Authorization"]; len(auth) == 1 {
		if first, seen := v.bound[auth[0]]; seen && first != header[0] {
			return stsproof.Identity{}, fmt.Errorf("stsproof: verify identity request: %w: rejected by STS (HTTP 403, SignatureDoesNotMatch)", stsproof.ErrInvalid)
		}
		if id, ok := v.ids[auth[0]]; ok {
			v.bound[auth[0]] = header[0]
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

// stsFixture is a fixture whose handler verifies identity requests with a fakeVerifier, runs
// in hostAccount, and whose policy allow-lists testPolicy's accounts.
func stsFixture(t *testing.T) (*fixture, *fakeVerifier) {
	t.Helper()
	f := newFixture(t)
	v := &fakeVerifier{ids: map[string]stsproof.Identity{}, bound: map[string]string{}}
	f.h.Identity = v
	f.h.HostAccountID = hostAccount
	f.h.Policy.Accounts = append(f.h.Policy.Accounts, testPolicy...)
	return f, v
}

// sign makes an Authorization header the fake verifier knows as id's, over the digest the
// request first carries.
func (v *fakeVerifier) sign(id stsproof.Identity) string { return v.signOver(id, "") }

// signOver makes an Authorization header the fake verifier knows as id's, over digest: with
// another X-Lanyard-Request-SHA256, it does not verify.
func (v *fakeVerifier) signOver(id stsproof.Identity, digest string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	auth := fmt.Sprintf("AWS4-HMAC-SHA256 Credential=EXAMPLEKEYID/20261123/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-lanyard-request-sha256;x-lanyard-server-id, Signature=%064x", len(v.ids)+1)
	v.ids[auth] = id
	if digest != "" {
		v.bound[auth] = digest
	}
	return auth
}

// stsBody is a createPartner body proving identity with a request signed auth, over the
// digest of name and scopes.
func stsBody(name, auth string, scopes ...string) string {
	return stsBodyOver(RequestDigest(name, scopes), name, auth, scopes...)
}

// stsBodyOver is stsBody with the request signed over digest, whatever the body says.
func stsBodyOver(digest, name, auth string, scopes ...string) string {
	b, err := json.Marshal(map[string]any{
		"partnerName": name,
		"identityRequest": map[string]any{
			"method": "POST",
			"url":    "https://sts.us-east-1.amazonaws.com/",
			"headers": map[string][]string{
				"Authorization":            {auth},
				"Content-Type":             {stsproof.ContentType},
				"Host":                     {"sts.us-east-1.amazonaws.com"},
				"X-Amz-Date":               {"20261123T120000Z"},
				"X-Lanyard-Server-ID":      {"lanyard-test"},
				"X-Lanyard-Request-SHA256": {digest},
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
	out, err := f.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(testTables.Partners), Key: partners.AccountKey(accountID)})
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
	auth := v.sign(sandboxID)
	resp := f.post("sts", stsBody("Local Ltd", auth, "orders:read"))
	got := created(t, resp)
	if got.Tier != "sandbox" || !slices.Equal(got.Scopes, []string{"orders:read"}) {
		t.Errorf("answer %+v", got.onboarded)
	}
	pt, err := (&partners.Store{DB: f.db, Table: testTables.Partners}).Get(ctx, got.PartnerID)
	if err != nil {
		t.Fatal(err)
	}
	if pt.IdentityMethod != events.ProofSTS || pt.InviteID != "" || pt.PartnerName != "Local Ltd" || pt.Tier != "sandbox" {
		t.Errorf("partner %+v", pt)
	}
	if pt.AccountID != sandboxID.AccountID || pt.ARN != sandboxID.ARN {
		t.Errorf("partner account %q arn %q", pt.AccountID, pt.ARN)
	}
	claim := f.accountItem(sandboxID.AccountID)
	if attr(claim, partners.AttrAccountOwner) != got.PartnerID || attr(claim, partners.AttrAccountState) != partners.AccountOnboarded || attr(claim, partners.AttrAccountARN) != sandboxID.ARN || claim[partners.AttrAccountExpiresAtMs] != nil {
		t.Errorf("account claim %s", itemText(claim))
	}
	records := f.records(got.PartnerID)
	ev, _ := records[0].Event()
	if id := ev.(*events.PartnerOnboarded).Identity; id != (events.Identity{Method: events.ProofSTS, AccountID: sandboxID.AccountID, ARN: sandboxID.ARN}) {
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
	created(t, f.post("first", stsBody("Local Ltd", v.sign(sandboxID), "orders:read")))
	before := f.counts()
	resp := f.post("second", stsBody("Local Two", v.sign(sandboxID), "inventory:read"))
	p := refusal(t, resp, problem.Conflict)
	if !strings.Contains(p.Detail, "AWS account already has a Lanyard partner") {
		t.Errorf("detail %q", p.Detail)
	}
	if after := f.counts(); after.Partners != before.Partners || after.Secrets != before.Secrets || f.sm.created() != 1 {
		t.Errorf("counts %+v then %+v", before, after)
	}
	if again := f.post("second", stsBody("Local Two", v.sign(sandboxID), "inventory:read")); again.StatusCode != 422 {
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
			winner = f.post("winner", stsBody("Local Ltd", v.sign(sandboxID), "orders:read"))
		}
		return nil
	}
	loser := f.post("loser", stsBody("Local Ltd", v.sign(sandboxID), "orders:read"))
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
	refusal(t, f.post("scopes", stsBody("Local Ltd", v.sign(sandboxID), "orders:write")), problem.ScopesNotAllowed)

	v.mu.Lock()
	v.err = errors.New("stsproof: verify identity request: Post \"https://sts.us-east-1.amazonaws.com/\": context deadline exceeded")
	v.mu.Unlock()
	auth := v.sign(sandboxID)
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

// The allow-list admits principals, not accounts: of an allowed account only the principals
// its entry names onboard (never its root); the account the deployment runs in never does,
// even allow-listed; an account on no allow-list does not. Each refusal is recorded (its
// replay answers the same) and creates nothing.
func TestSTSPrincipalRefusals(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		id   stsproof.Identity
		want problem.Type
	}{
		{"the account's root", rootID, problem.PrincipalNotAllowed},
		{"another role of the account", otherRole, problem.PrincipalNotAllowed},
		{"the account Lanyard runs in", hostID, problem.AccountNotAllowed},
		{"an account on no allow-list", strangeID, problem.AccountNotAllowed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, v := stsFixture(t)
			body := stsBody("Local Ltd", v.sign(tt.id), "orders:read")
			p := refusal(t, f.post("refused", body), tt.want)
			if p.Detail != tt.want.DefaultDetail() {
				t.Errorf("detail %q", p.Detail)
			}
			if again := f.post("refused", body); again.StatusCode != tt.want.Status() || problemType(again.Body) != tt.want.URI() {
				t.Errorf("the replay answers %d %s", again.StatusCode, problemType(again.Body))
			}
			if c := f.counts(); c.Partners != 0 || c.Secrets != 0 || c.Credentials != 0 || f.accountItem(tt.id.AccountID) != nil {
				t.Errorf("counts %+v, claim %s", c, itemText(f.accountItem(tt.id.AccountID)))
			}
			// The account's admitted role still onboards (one partner per account untouched).
			if tt.id.AccountID == sandboxAccount {
				created(t, f.post("admitted", stsBody("Local Ltd", v.sign(sandboxID), "orders:read")))
			}
		})
	}
}

// The account the deployment runs in comes from the invoked function's ARN when the handler is
// not told it; without either, an identity request is a 500 and STS is not asked.
func TestSTSHostAccountFromLambdaContext(t *testing.T) {
	t.Parallel()
	f, v := stsFixture(t)
	f.h.HostAccountID = ""
	inLambda := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:" + hostAccount + ":function:lanyard-onboarding",
	})
	post := func(ctx context.Context, key, body string) lambdaevents.APIGatewayProxyResponse {
		t.Helper()
		resp, err := f.h.Handle(ctx, request(key, body))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	refusal(t, post(inLambda, "host", stsBody("Host Ltd", v.sign(hostID), "orders:read")), problem.AccountNotAllowed)
	calls := v.callCount()
	body := stsBody("Local Ltd", v.sign(sandboxID), "orders:read")
	refusal(t, post(context.Background(), "no-context", body), problem.Internal)
	if v.callCount() != calls {
		t.Error("STS was asked although the deployment's account is unknown")
	}
	created(t, post(inLambda, "no-context", body))
}

// A proof serves the one request it was signed for: the same signed request with another
// partner name or other scopes is refused, whether it keeps its X-Lanyard-Request-SHA256 (not
// this body's digest) or the header is rewritten (the signature no longer covers it); nothing
// is created and the account stays free. The digest is of the body's values as decoded and
// whatever the scopes' order.
func TestSTSProofServesOneRequest(t *testing.T) {
	t.Parallel()
	f, v := stsFixture(t)
	signedFor := RequestDigest("Acme Logistics", []string{"orders:read"})
	auth := v.signOver(sandboxID, signedFor)
	for name, body := range map[string]string{
		"another partner name":         stsBodyOver(signedFor, "Mallory Freight", auth, "orders:read"),
		"other scopes":                 stsBodyOver(signedFor, "Acme Logistics", auth, "inventory:read", "orders:read"),
		"header rewritten to the body": stsBody("Mallory Freight", auth, "orders:read"),
		"a different scope":            stsBodyOver(signedFor, "Acme Logistics", auth, "inventory:read"),
	} {
		if resp := f.post("replay-"+strings.ReplaceAll(name, " ", "-"), body); resp.StatusCode != problem.IdentityProofInvalid.Status() || problemType(resp.Body) != problem.IdentityProofInvalid.URI() {
			t.Errorf("%s: %d %s, want identity-proof-invalid", name, resp.StatusCode, problemType(resp.Body))
		}
	}
	if c := f.counts(); c.Partners != 0 || c.Secrets != 0 || f.accountItem(sandboxAccount) != nil {
		t.Errorf("a refused replay created something: %+v", c)
	}
	// The request it was signed for onboards, its scopes in any order, its name however
	// JSON spells it.
	body := strings.Replace(stsBodyOver(signedFor, "Acme Logistics", auth, "orders:read"), "Acme", `\u0041cme`, 1)
	created(t, f.post("signed-for", body))
	if v.digests[len(v.digests)-1] != signedFor {
		t.Errorf("Verify expected %s, want %s", v.digests[len(v.digests)-1], signedFor)
	}
}

func TestRequestDigest(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		scopes []string
		want   string
	}{
		// sha256("POST /v1/partners\nscopes=inventory:read,orders:read\npartnerName=Acme Logistics")
		{"Acme Logistics", []string{"orders:read", "inventory:read"}, "3ebef838f6d184a91b079f446c9b2dd3986e5a6fcfe904f77c72a96ecb6e5f9d"},
		{"Acme Logistics", []string{"inventory:read", "orders:read"}, "3ebef838f6d184a91b079f446c9b2dd3986e5a6fcfe904f77c72a96ecb6e5f9d"},
		// Composed and decomposed spellings are different names to the digest.
		{"Caf\u00e9", []string{"orders:read"}, "edc80b7f5560147cf7b832264460407c1508b5e8e5290454da8f3c774cc5a355"},
		{"Cafe\u0301", []string{"orders:read"}, "89ac6ad71f4b1141cb8fe9ba7c0503997fc6588be9199bfc222b5d611e98c8b8"},
	} {
		if got := RequestDigest(tt.name, tt.scopes); got != tt.want {
			t.Errorf("RequestDigest(%q, %v) = %s, want %s", tt.name, tt.scopes, got, tt.want)
		}
	}
	scopes := []string{"orders:read", "inventory:read"}
	RequestDigest("x", scopes)
	if scopes[0] != "orders:read" {
		t.Error("RequestDigest sorted its caller's scopes")
	}
	// A name that looks like another field does not collide.
	if RequestDigest("a\nscopes=b", []string{"c"}) == RequestDigest("a", []string{"b", "c"}) {
		t.Error("two requests share a digest")
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
	if attr(claim, partners.AttrAccountState) != partners.AccountPending || attr(claim, partners.AttrAccountOwner) != o.PartnerID || attr(claim, partners.AttrAccountOnboardingID) != o.ID ||
		attr(claim, partners.AttrAccountExpiresAtMs) != fmt.Sprint(o.ExpiresAt.UnixMilli()) {
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
	if attr(claim, partners.AttrAccountState) != partners.AccountOnboarded || attr(claim, partners.AttrAccountOwner) != got.PartnerID || claim[partners.AttrAccountExpiresAtMs] != nil {
		t.Errorf("claim after the pick-up %s", itemText(claim))
	}
	pt, err := (&partners.Store{DB: f.db, Table: testTables.Partners}).Get(context.Background(), got.PartnerID)
	if err != nil || pt.AccountID != premiumID.AccountID || pt.IdentityMethod != partners.IdentityMethodSTS {
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
	if claim := f.accountItem(premiumID.AccountID); attr(claim, partners.AttrAccountOnboardingID) != second.OnboardingID {
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
	f.h.HostAccountID = hostAccount
	f.h.Policy.Accounts = append(f.h.Policy.Accounts, testPolicy...)
	creds := aws.Credentials{AccessKeyID: "AKIAPARTNER", SecretAccessKey: "partner-secret", SessionToken: "partner-session"}
	fake.Allow(creds, sandboxID)
	sign := func(serverID, name string, scopes ...string) stsproof.Request {
		t.Helper()
		r, err := stsproof.Sign(context.Background(), creds, "us-east-1", fake.URL, serverID, RequestDigest(name, scopes), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	body := func(name string, r stsproof.Request, scopes ...string) string {
		b, _ := json.Marshal(map[string]any{"partnerName": name, "identityRequest": r, "scopes": scopes})
		return string(b)
	}

	// Signed for another deployment: refused without asking STS.
	refusal(t, f.post("other-server", body("Local Ltd", sign("another-lanyard", "Local Ltd", "orders:read"), "orders:read")), problem.IdentityProofInvalid)
	// Signed for another request (partner name, scopes): refused without asking STS; with the
	// digest header rewritten to this body's, STS refuses the signature.
	r := sign("lanyard-unit", "Local Ltd", "orders:read")
	refusal(t, f.post("other-name", body("Mallory", r, "orders:read")), problem.IdentityProofInvalid)
	refusal(t, f.post("other-scopes", body("Local Ltd", r, "inventory:read", "orders:read")), problem.IdentityProofInvalid)
	if n := len(fake.Calls()); n != 0 {
		t.Errorf("STS received %d requests signed for another deployment or request", n)
	}
	rewritten := stsproof.Request{Method: r.Method, URL: r.URL, Body: r.Body, Headers: map[string][]string{}}
	for k, vs := range r.Headers {
		rewritten.Headers[k] = vs
	}
	rewritten.Headers[stsproof.RequestDigestHeader] = []string{RequestDigest("Mallory", []string{"orders:read"})}
	refusal(t, f.post("rewritten", body("Mallory", rewritten, "orders:read")), problem.IdentityProofInvalid)
	if n := len(fake.Calls()); n != 1 {
		t.Errorf("STS received %d requests, want the rewritten one", n)
	}

	got := created(t, f.post("signed", body("Local Ltd", r, "orders:read")))
	if got.Tier != "sandbox" {
		t.Errorf("tier %s", got.Tier)
	}
	if claim := f.accountItem(sandboxAccount); attr(claim, partners.AttrAccountOwner) != got.PartnerID || attr(claim, partners.AttrAccountARN) != sandboxID.ARN {
		t.Errorf("claim %s", itemText(claim))
	}
}
