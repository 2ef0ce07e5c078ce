//go:build integration

package suite_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/onboarding"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/topology"
)

// onbTopology is the production declaration plus a recorder consuming the onboarding
// decisions' events: Onboarding Pending / Approved / Denied, and Partner Onboarded for a
// pick-up.
func onbTopology() *topology.Topology {
	return recordingTopology("onboarding-decisions",
		events.TypeOnboardingPending, events.TypeOnboardingApproved, events.TypeOnboardingDenied, events.TypePartnerOnboarded)
}

// onbAPI drives the onboarding routes of one running suite: what a partner sends (open
// routes) and what ops send (SigV4-signed admin routes). Every refusal body is handed to the
// canaries.
type onbAPI struct {
	t      *testing.T
	s      *suite.Suite
	canary *secrettest.Canaries
}

// post POSTs body to an open route with an Idempotency-Key.
func (a onbAPI) post(path, idempotencyKey, body string) reply {
	a.t.Helper()
	return postIdempotent(a.t, a.s, a.canary, path, idempotencyKey, body)
}

// pickup collects the key of onboarding id with token.
func (a onbAPI) pickup(id, idempotencyKey, token string) reply {
	a.t.Helper()
	b, err := json.Marshal(map[string]string{"pickupToken": token})
	if err != nil {
		a.t.Fatal(err)
	}
	return a.post("/v1/onboardings/"+id+"/pickup", idempotencyKey, string(b))
}

// signed sends an admin request signed with the local credentials: body "" sends none.
func (a onbAPI) signed(method, pathAndQuery, body string) reply {
	a.t.Helper()
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.s.APIURL+pathAndQuery, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(a.t.Context(), localCreds, req, hex.EncodeToString(sum[:]), "execute-api", suite.Region, time.Now()); err != nil {
		a.t.Fatalf("sign: %v", err)
	}
	r := do(a.t, req)
	if r.status >= 400 {
		a.canary.CheckText("refusal of "+method+" "+pathAndQuery, string(r.body))
	}
	return r
}

// list is GET /v1/admin/onboardings?status=status, answered 200.
func (a onbAPI) list(status onboarding.Status) onboarding.List {
	a.t.Helper()
	r := a.signed(http.MethodGet, "/v1/admin/onboardings?status="+url.QueryEscape(string(status)), "")
	if r.status != http.StatusOK {
		a.t.Fatalf("list the %s onboardings: %d %s", status, r.status, r.body)
	}
	var l onboarding.List
	decodeStrict(a.t, r.body, &l)
	return l
}

// decide POSTs …/approve or …/deny of onboarding id with reason.
func (a onbAPI) decide(id, verb, reason string) reply {
	a.t.Helper()
	return a.signed(http.MethodPost, "/v1/admin/onboardings/"+id+"/"+verb, fmt.Sprintf(`{"reason":%q}`, reason))
}

// pendingAnswer is the 202 answer to an onboarding of a tier that needs an approval.
type pendingAnswer struct {
	OnboardingID string    `json:"onboardingId"`
	Status       string    `json:"status"`
	PickupToken  string    `json:"pickupToken"`
	ExpiresAt    time.Time `json:"expiresAt"`
	Detail       string    `json:"detail"`
}

// onboardPending onboards name with a premium invite: 202, the pick-up token a canary.
func (a onbAPI) onboardPending(name string, scopes ...string) (pendingAnswer, string, string) {
	a.t.Helper()
	inv := partnerAPI(a).invite(name, "premium")
	idem, body := harness.Name("idem"), onboardBody(name, inv.InviteCode, scopes...)
	before := time.Now()
	r := a.post("/v1/partners", idem, body)
	if r.status != http.StatusAccepted || r.header.Get("Cache-Control") != "no-store" {
		a.t.Fatalf("onboard %s with a premium invite: %d (Cache-Control %q) %s", name, r.status, r.header.Get("Cache-Control"), onbRedacted(r.body))
	}
	var p pendingAnswer
	decodeStrict(a.t, r.body, &p)
	a.canary.Add("pick-up token of "+p.OnboardingID, p.PickupToken)
	if !onboarding.ValidOnboardingID(p.OnboardingID) || p.Status != string(onboarding.StatusPending) || p.Detail != "" ||
		!onbPickupToken.MatchString(p.PickupToken) || p.ExpiresAt.Before(before.Add(onboarding.PendingLifetime-time.Minute)) {
		a.t.Fatalf("pending onboarding %s: status %q, a well-formed token %t, expires %s, detail %q",
			p.OnboardingID, p.Status, onbPickupToken.MatchString(p.PickupToken), p.ExpiresAt, p.Detail)
	}
	return p, idem, body
}

var onbPickupToken = regexp.MustCompile(`^` + onboarding.PickupTokenPrefix + `[0-9A-Za-z]{43}$`)

// onbRedacted renders a body for a failure message with keys, invite codes and pick-up
// tokens blanked.
func onbRedacted(body []byte) string {
	return onbPickupTokens.ReplaceAllString(secretsRE.ReplaceAllString(string(body), "[redacted]"), "[redacted]")
}

var onbPickupTokens = regexp.MustCompile(onboarding.PickupTokenPrefix + `[0-9A-Za-z]+`)

// onbNewPickupToken is a well-formed pick-up token no onboarding answered with.
func onbNewPickupToken() string {
	return onboarding.PickupTokenPrefix + (rand.Text() + rand.Text())[:43]
}

// onbFind is the onboarding id in l, if listed.
func onbFind(l onboarding.List, id string) (onboarding.View, bool) {
	i := slices.IndexFunc(l.Onboardings, func(v onboarding.View) bool { return v.OnboardingID == id })
	if i < 0 {
		return onboarding.View{}, false
	}
	return l.Onboardings[i], true
}

// onbSign signs a GetCallerIdentity request with creds for LocalStack's STS, serverID and the
// onboarding request of name and scopes (onboarding.RequestDigest), and plants its
// Authorization header and signature as canaries.
func onbSign(t *testing.T, canary *secrettest.Canaries, creds aws.Credentials, serverID, label, name string, scopes ...string) stsproof.Request {
	t.Helper()
	endpoint, err := stsproof.ParseEndpoint(env.LocalStackURL)
	if err != nil {
		t.Fatalf("LocalStack's STS endpoint: %v", err)
	}
	r, err := stsproof.Sign(t.Context(), creds, suite.Region, endpoint, serverID, onboarding.RequestDigest(name, scopes), time.Now())
	if err != nil {
		t.Fatalf("sign the identity request: %v", err)
	}
	auth := http.Header(r.Headers).Get("Authorization")
	_, sig, found := strings.Cut(auth, "Signature=")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !found || len(sig) != 64 {
		t.Fatal("the signed request has no SigV4 Authorization header")
	}
	canary.Add("Authorization header of the "+label+" identity request", auth)
	canary.Add("signature of the "+label+" identity request", sig)
	return r
}

// onbSession is a session of role in account, assumed through LocalStack's STS with the
// account's credentials (LocalStack takes a 12-digit access key id as the account); its secret
// key and token are planted as canaries.
func onbSession(t *testing.T, canary *secrettest.Canaries, account, role string) aws.Credentials {
	t.Helper()
	client := sts.NewFromConfig(env.Config, func(o *sts.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(account, "test", "")
	})
	out, err := client.AssumeRole(t.Context(), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + account + ":role/" + role), RoleSessionName: aws.String("onboarding-test"),
	})
	if err != nil {
		t.Fatalf("assume role %s of account %s: %v", role, account, err)
	}
	c := out.Credentials
	canary.Add("secret key of a session of "+role, aws.ToString(c.SecretAccessKey))
	canary.Add("session token of a session of "+role, aws.ToString(c.SessionToken))
	return aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken)}
}

// onbSTSBody is an onboarding body proving the identity with r.
func onbSTSBody(t *testing.T, name string, r stsproof.Request, scopes ...string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"partnerName": name, "identityRequest": r, "scopes": scopes})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The accounts of the local overlay (policy/local.json), which only lanyard local's builds
// carry: a partner's, whose role lanyard-onboarding onboards into sandbox, and LocalStack's
// default account, where lanyard local runs Lanyard, listed too.
const (
	onbPartnerAccount = "000000000001"
	onbRole           = "lanyard-onboarding"
)

// A partner proves its AWS principal with a GetCallerIdentity request signed by the SDK for
// LocalStack's STS, this deployment's id and this very onboarding request, and is onboarded at
// the tier the policy's allow-list gives the account when the account's entry admits the
// principal (the local overlay: sessions of role lanyard-onboarding of 000000000001, sandbox);
// its key works; the partner item records the verified principal; one AWS account has one
// partner. Refused, before and after, whatever else is right: another role of the account and
// its root (principal-not-allowed), the account Lanyard runs in although allow-listed and an
// account on no allow-list (account-not-allowed), a request signed for another deployment,
// and the partner's own proof sent with another partner name or other scopes
// (identity-proof-invalid). Neither the signed request's Authorization header, the session's
// secrets nor the key reaches a log or a trace.
//
// Not parallel: the canaries capture the process's slog default.
func TestSTSIdentityOnboardingThroughLocal(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "lanyard", topology.Lanyard, canary)
	secretsBefore := listSecrets(t, prefix)
	logsOnFailure(t, s)
	api := onbAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	name := "Globex Freight " + harness.Name("t")
	// `lanyard local` gives the functions the suite's prefix as LANYARD_SERVER_ID.
	serverID := prefix
	partnerRole := onbSession(t, canary, onbPartnerAccount, onbRole)
	refuse := func(label string, creds aws.Credentials, server, as string, want string) {
		t.Helper()
		r := onbSign(t, canary, creds, server, label, name+" "+label, "orders:read")
		refusal := wantFunctionProblem(t, api.post("/v1/partners", harness.Name("idem"), onbSTSBody(t, name+" "+label, r, "orders:read")), http.StatusForbidden, want)
		if refusal.Detail == "" {
			t.Errorf("%s: %s without its fixed detail", as, want)
		}
	}

	// Principals of the allowed account its entry does not admit, while the account is free.
	refuse("other role", onbSession(t, canary, onbPartnerAccount, "ci-deploy"), serverID, "another role of the account", "principal-not-allowed")
	refuse("root", aws.Credentials{AccessKeyID: onbPartnerAccount, SecretAccessKey: "test"}, serverID, "the account's root", "principal-not-allowed")
	// The account lanyard local runs Lanyard in, allow-listed with the same role, and an
	// account on no allow-list.
	refuse("host", onbSession(t, canary, suite.Account, onbRole), serverID, "the account Lanyard runs in", "account-not-allowed")
	refuse("stranger", onbSession(t, canary, "111122223333", onbRole), serverID, "an account on no allow-list", "account-not-allowed")
	// Signed for another deployment: refused before STS is asked.
	refuse("foreign", partnerRole, serverID+"-other", "a request for another deployment", "identity-proof-invalid")

	// The partner's proof, captured and sent with another partner name or other scopes.
	signed := onbSign(t, canary, partnerRole, serverID, "first", name, "orders:read")
	wantFunctionProblem(t, api.post("/v1/partners", harness.Name("idem"), onbSTSBody(t, name+" captured", signed, "orders:read")),
		http.StatusForbidden, "identity-proof-invalid")
	wantFunctionProblem(t, api.post("/v1/partners", harness.Name("idem"), onbSTSBody(t, name, signed, "inventory:read", "orders:read")),
		http.StatusForbidden, "identity-proof-invalid")

	// The request it was signed for onboards.
	idem, body := harness.Name("idem"), onbSTSBody(t, name, signed, "orders:read")
	first := api.post("/v1/partners", idem, body)
	if first.status != http.StatusCreated || first.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("onboard with an identity request: %d (Cache-Control %q) %s", first.status, first.header.Get("Cache-Control"), onbRedacted(first.body))
	}
	var ob onboarded
	decodeStrict(t, first.body, &ob)
	canary.Add("api key", ob.APIKey)
	if ob.Tier != "sandbox" || !slices.Equal(ob.Scopes, []string{"orders:read"}) || !partners.ValidID(ob.PartnerID) {
		t.Errorf("onboarded %s: tier %s, scopes %v; want the allow-list's sandbox and orders:read", ob.PartnerID, ob.Tier, ob.Scopes)
	}

	// The key works on a partner route.
	me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+ob.APIKey, "")
	if me.status != http.StatusOK {
		t.Fatalf("GET /v1/partners/me: %d %s", me.status, me.body)
	}
	var prof profile
	decodeStrict(t, me.body, &prof)
	if prof.PartnerID != ob.PartnerID || prof.PartnerName != name || prof.Tier != "sandbox" || prof.KeyID != ob.KeyID {
		t.Errorf("profile %+v, onboarded %s key %s", prof, ob.PartnerID, ob.KeyID)
	}

	// The partner item records how it proved who it is: the principal STS verified.
	wantARN := "arn:aws:sts::" + onbPartnerAccount + ":assumed-role/" + onbRole + "/onboarding-test"
	p, err := (&partners.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["partners"]}).Get(ctx, ob.PartnerID)
	if err != nil {
		t.Fatalf("read the partner: %v", err)
	}
	if p.IdentityMethod != partners.IdentityMethodSTS || p.AccountID != onbPartnerAccount || p.ARN != wantARN || p.InviteID != "" || p.PartnerName != name {
		t.Errorf("partner item: identity %q, account %q, arn %q, invite %q, name %q; want sts, %s, %s",
			p.IdentityMethod, p.AccountID, p.ARN, p.InviteID, p.PartnerName, onbPartnerAccount, wantARN)
	}
	// … and the account's claim names it; the refused accounts have none.
	claimOf := func(account string) map[string]dynamotypes.AttributeValue {
		t.Helper()
		claim, err := env.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.Provisioned.Tables["partners"]), ConsistentRead: aws.Bool(true),
			Key: partners.Key(partners.AccountKeyPrefix + account),
		})
		if err != nil {
			t.Fatalf("read the claim of account %s: %v", account, err)
		}
		return claim.Item
	}
	if c := claimOf(onbPartnerAccount); onbString(c, "state") != "onboarded" || onbString(c, "ownerPartnerId") != ob.PartnerID {
		t.Errorf("claim of account %s: state %q, owner %q; want onboarded by %s", onbPartnerAccount, onbString(c, "state"), onbString(c, "ownerPartnerId"), ob.PartnerID)
	}
	for _, account := range []string{suite.Account, "111122223333"} {
		if c := claimOf(account); c != nil {
			t.Errorf("refused account %s has a claim", account)
		}
	}

	// A replay gets the same answer, key included.
	if replay := api.post("/v1/partners", idem, body); replay.status != http.StatusCreated || !sameJSON(replay.body, first.body) {
		t.Errorf("replay: %d, same body: %t", replay.status, sameJSON(replay.body, first.body))
	}

	// One AWS account, one partner: a fresh proof of the same principal is refused.
	again := onbSign(t, canary, partnerRole, serverID, "second", name+" again", "orders:read")
	wantFunctionProblem(t, api.post("/v1/partners", harness.Name("idem"), onbSTSBody(t, name+" again", again, "orders:read")),
		http.StatusConflict, "conflict")

	// Of all this, one partner and one secret.
	for _, n := range []string{name, name + " again", name + " captured", name + " other role", name + " root", name + " host", name + " stranger", name + " foreign"} {
		want := 0
		if n == name {
			want = 1
		}
		if got := partnersNamed(t, s, n); got != want {
			t.Errorf("%d partners named %q, want %d", got, n, want)
		}
	}
	if got := secretsOf(t, prefix, ob.PartnerID); got != 1 {
		t.Errorf("%d secrets for partner %s, want 1", got, ob.PartnerID)
	}
	if got := secretsSince(t, prefix, secretsBefore); got != 1 {
		t.Errorf("%d partner secrets created under %s while the test ran, want 1", got, prefix)
	}
	checkCanaries(t, s, canary)
}

// Ops approval end to end through `lanyard local`: a premium invite's onboarding is pending
// (202, a one-time pick-up token) and lists as such; the pick-up waits (409) until ops approve;
// then it creates the partner and its working key, exactly once. A denied onboarding and one
// that expired create nothing, whatever ops or the partner do. The onboarding decisions reach
// the bus as events; every refusal is problem+json; no pick-up token, key or invite code
// reaches a log or a trace.
//
// Not parallel: the canaries capture the process's slog default.
func TestOnboardingApprovalThroughLocal(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "onboarding-decisions", onbTopology, canary)
	secretsBefore := listSecrets(t, prefix)
	logsOnFailure(t, s)
	api := onbAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	const caller = "arn:aws:iam::" + suite.Account + ":root" // the front's identity of the local credentials

	// --- Approved, then collected once.
	name := "Initech Shipping " + harness.Name("t")
	pend, idem, body := api.onboardPending(name, "shipments:write", "orders:read")

	// A replay shows the answer without the token, and says why.
	replay := api.post("/v1/partners", idem, body)
	var replayed pendingAnswer
	if replay.status != http.StatusAccepted {
		t.Fatalf("replay of the pending onboarding: %d %s", replay.status, onbRedacted(replay.body))
	}
	decodeStrict(t, replay.body, &replayed)
	if replayed.OnboardingID != pend.OnboardingID || replayed.PickupToken != "" || replayed.Detail == "" || !replayed.ExpiresAt.Equal(pend.ExpiresAt) {
		t.Errorf("replay: onboarding %s, shows a token %t, detail %q", replayed.OnboardingID, replayed.PickupToken != "", replayed.Detail)
	}

	// Before ops decide, the pick-up is told to wait; nothing is recorded under its key.
	pickupKey := harness.Name("pickup")
	early := wantFunctionProblem(t, api.pickup(pend.OnboardingID, pickupKey, pend.PickupToken), http.StatusConflict, "conflict")
	if early.Detail != onboarding.PickupPendingDetail {
		t.Errorf("early pick-up: detail %q, want %q", early.Detail, onboarding.PickupPendingDetail)
	}

	// Ops see it pending, with the identity proof, and never the token or its hash.
	pending := api.list(onboarding.StatusPending)
	v, ok := onbFind(pending, pend.OnboardingID)
	if !ok {
		t.Fatalf("onboarding %s is not among the %d pending ones", pend.OnboardingID, len(pending.Onboardings))
	}
	reserved := v.PartnerID
	if v.Status != onboarding.StatusPending || v.PartnerName != name || v.Tier != "premium" ||
		!slices.Equal(v.Scopes, []string{"orders:read", "shipments:write"}) || v.Identity.Method != events.ProofInvite ||
		v.Identity.InviteID == "" || !partners.ValidID(reserved) || v.DecidedBy != "" {
		t.Errorf("listed onboarding: %+v", v)
	}
	if l := api.list(onboarding.StatusApproved); slices.ContainsFunc(l.Onboardings, func(v onboarding.View) bool { return v.OnboardingID == pend.OnboardingID }) {
		t.Errorf("onboarding %s listed as approved before any approval", pend.OnboardingID)
	}
	wantFunctionProblem(t, api.signed(http.MethodGet, "/v1/admin/onboardings?status=bogus", ""), http.StatusBadRequest, "bad-request")

	// Only ops decide: unsigned, the admin route never reaches the function.
	send(t, s, http.MethodPost, "/v1/admin/onboardings/"+pend.OnboardingID+"/approve", "", "{}").wantProblem(t, "MISSING_AUTHENTICATION_TOKEN", http.StatusForbidden)

	approved := api.decide(pend.OnboardingID, "approve", "contract signed, ticket OPS-1234")
	if approved.status != http.StatusOK {
		t.Fatalf("approve: %d %s", approved.status, approved.body)
	}
	var av onboarding.View
	decodeStrict(t, approved.body, &av)
	if av.Status != onboarding.StatusApproved || av.DecidedBy != caller || av.Reason != "contract signed, ticket OPS-1234" || av.PartnerID != reserved {
		t.Errorf("approved onboarding: %+v", av)
	}
	// Decided once: a second approval and a denial are refused.
	wantFunctionProblem(t, api.decide(pend.OnboardingID, "approve", "again"), http.StatusConflict, "conflict")
	wantFunctionProblem(t, api.decide(pend.OnboardingID, "deny", "too late"), http.StatusConflict, "conflict")
	wantFunctionProblem(t, api.decide(onboarding.NewOnboardingID(), "approve", "no such onboarding"), http.StatusNotFound, "not-found")

	// Another token is refused; the right one, with the key the early pick-up used, collects.
	wantFunctionProblem(t, api.pickup(pend.OnboardingID, harness.Name("pickup"), onbNewPickupToken()), http.StatusForbidden, "pickup-invalid")
	got := api.pickup(pend.OnboardingID, pickupKey, pend.PickupToken)
	if got.status != http.StatusCreated || got.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("pick-up after the approval: %d (Cache-Control %q) %s", got.status, got.header.Get("Cache-Control"), onbRedacted(got.body))
	}
	var ob onboarded
	decodeStrict(t, got.body, &ob)
	canary.Add("api key", ob.APIKey)
	if ob.PartnerID != reserved || ob.Tier != "premium" || !slices.Equal(ob.Scopes, []string{"orders:read", "shipments:write"}) {
		t.Errorf("collected: partner %s tier %s scopes %v; want %s premium [orders:read shipments:write]", ob.PartnerID, ob.Tier, ob.Scopes, reserved)
	}
	me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+ob.APIKey, "")
	if me.status != http.StatusOK {
		t.Fatalf("GET /v1/partners/me with the collected key: %d %s", me.status, me.body)
	}
	var prof profile
	decodeStrict(t, me.body, &prof)
	if prof.PartnerID != reserved || prof.PartnerName != name || prof.Tier != "premium" || prof.KeyID != ob.KeyID {
		t.Errorf("profile %+v, collected %s key %s", prof, ob.PartnerID, ob.KeyID)
	}
	// The same pick-up again is its replay; another one is refused: the key is collected once.
	if again := api.pickup(pend.OnboardingID, pickupKey, pend.PickupToken); again.status != http.StatusCreated || !sameJSON(again.body, got.body) {
		t.Errorf("replay of the pick-up: %d, same body: %t", again.status, sameJSON(again.body, got.body))
	}
	wantFunctionProblem(t, api.pickup(pend.OnboardingID, harness.Name("pickup"), pend.PickupToken), http.StatusForbidden, "pickup-invalid")
	if l := api.list(onboarding.StatusCollected); !slices.ContainsFunc(l.Onboardings, func(v onboarding.View) bool {
		return v.OnboardingID == pend.OnboardingID && v.CollectedAt != ""
	}) {
		t.Errorf("onboarding %s is not listed as collected", pend.OnboardingID)
	}

	// --- Denied: nothing is created.
	deniedName := "Umbrella Cargo " + harness.Name("t")
	denied, _, _ := api.onboardPending(deniedName, "orders:read")
	dr := api.decide(denied.OnboardingID, "deny", "no contract on file")
	if dr.status != http.StatusOK {
		t.Fatalf("deny: %d %s", dr.status, dr.body)
	}
	var dv onboarding.View
	decodeStrict(t, dr.body, &dv)
	if dv.Status != onboarding.StatusDenied || dv.DecidedBy != caller || !partners.ValidID(dv.PartnerID) {
		t.Errorf("denied onboarding: %+v", dv)
	}
	wantFunctionProblem(t, api.pickup(denied.OnboardingID, harness.Name("pickup"), denied.PickupToken), http.StatusForbidden, "pickup-invalid")
	wantFunctionProblem(t, api.decide(denied.OnboardingID, "approve", "changed our mind"), http.StatusConflict, "conflict")
	wantFunctionProblem(t, api.pickup(denied.OnboardingID, harness.Name("pickup"), denied.PickupToken), http.StatusForbidden, "pickup-invalid")

	// --- Expired: a pending and an approved onboarding past their expiry, written as
	// onboarding writes them, with pick-up tokens the test knows.
	now := time.Now().UTC().Truncate(time.Millisecond)
	expired := func(status onboarding.Status, name string) (onboarding.Onboarding, string) {
		token := onbNewPickupToken()
		canary.Add("pick-up token of the "+string(status)+" expired onboarding", token)
		o := onboarding.Onboarding{
			ID: onboarding.NewOnboardingID(), PartnerID: partners.NewID(), SecretVersionID: uuid.NewString(),
			PartnerName: name, Tier: "premium", Scopes: []string{"orders:read"},
			IdentityMethod: events.ProofInvite, InviteID: "inv-" + strings.ToLower(rand.Text()),
			PickupTokenHash: onboarding.PickupTokenHash(secret.New(token)), Status: status,
			Justification: "tier premium allows orders:read", PolicyRevision: 3,
			CreatedAt: now.Add(-onboarding.PendingLifetime - time.Hour), ExpiresAt: now.Add(-time.Hour),
		}
		if status == onboarding.StatusApproved {
			o.DecidedBy, o.DecidedAt = caller, now.Add(-2*time.Hour)
		}
		item, err := o.Item()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Provisioned.Tables["onboardings"]), Item: item}); err != nil {
			t.Fatalf("write the %s onboarding that expired: %v", status, err)
		}
		return o, token
	}
	lapsedName, lateName := "Lapsed Freight "+harness.Name("t"), "Late Freight "+harness.Name("t")
	lapsed, lapsedToken := expired(onboarding.StatusPending, lapsedName)
	late, lateToken := expired(onboarding.StatusApproved, lateName)
	if l := api.list(onboarding.StatusExpired); !slices.ContainsFunc(l.Onboardings, func(v onboarding.View) bool { return v.OnboardingID == lapsed.ID }) ||
		!slices.ContainsFunc(l.Onboardings, func(v onboarding.View) bool { return v.OnboardingID == late.ID }) {
		t.Errorf("the onboardings past their expiry are not listed as expired: %d listed", len(l.Onboardings))
	}
	// Ops can no longer decide it (409: not pending); the partner cannot collect either.
	ex := wantFunctionProblem(t, api.decide(lapsed.ID, "approve", "too late"), http.StatusConflict, "conflict")
	if !strings.Contains(ex.Detail, string(onboarding.StatusExpired)) {
		t.Errorf("approval of an expired onboarding: detail %q does not say it expired", ex.Detail)
	}
	wantFunctionProblem(t, api.decide(lapsed.ID, "deny", "too late"), http.StatusConflict, "conflict")
	wantFunctionProblem(t, api.pickup(lapsed.ID, harness.Name("pickup"), lapsedToken), http.StatusForbidden, "pickup-invalid")
	wantFunctionProblem(t, api.pickup(late.ID, harness.Name("pickup"), lateToken), http.StatusForbidden, "pickup-invalid")

	// Denied and expired: no partner, no secret, no audit record under the reserved ids.
	for n, id := range map[string]string{deniedName: dv.PartnerID, lapsedName: lapsed.PartnerID, lateName: late.PartnerID} {
		if got := partnersNamed(t, s, n); got != 0 {
			t.Errorf("%d partners named %q, want none", got, n)
		}
		if got := secretsOf(t, prefix, id); got != 0 {
			t.Errorf("%d secrets for the reserved partner id %s, want none", got, id)
		}
	}
	for _, id := range []string{lapsed.PartnerID, late.PartnerID} {
		out, err := env.DynamoDB.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(s.Provisioned.Tables["outbox"]), ConsistentRead: aws.Bool(true),
			KeyConditionExpression:    aws.String(outbox.PartitionKey + " = :p"),
			ExpressionAttributeValues: map[string]dynamotypes.AttributeValue{":p": &dynamotypes.AttributeValueMemberS{Value: id}},
		})
		if err != nil {
			t.Fatalf("query the outbox: %v", err)
		}
		if out.Count != 0 {
			t.Errorf("%d outbox items for the expired onboarding's partner %s, want none", out.Count, id)
		}
	}
	if got := partnersNamed(t, s, name); got != 1 {
		t.Errorf("%d partners named %q, want 1", got, name)
	}
	// The collection is recorded once, on the partner's chain, and its replay, which showed the
	// key again, once more.
	methods := map[string]int{}
	for _, d := range recordedOnce(t, s, reserved, events.TypeCredentialPickedUp, 2) {
		p := d.(*events.CredentialPickedUp)
		methods[p.Method]++
		if p.Method == events.PickedUpOnboarding && p.OnboardingID != pend.OnboardingID {
			t.Errorf("recorded %+v", p)
		}
	}
	if methods[events.PickedUpOnboarding] != 1 || methods[events.PickedUpReplay] != 1 {
		t.Errorf("pick-ups recorded by method %v, want one onboarding and one replay", methods)
	}
	if got := secretsSince(t, prefix, secretsBefore); got != 1 {
		t.Errorf("%d partner secrets created under %s while the test ran, want only the collected one's", got, prefix)
	}

	// The decisions' events reach the bus: pending and approved (then the partner onboarded at
	// the pick-up) for the first, pending and denied for the second.
	want := []string{
		events.TypeOnboardingPending + " " + pend.OnboardingID,
		events.TypeOnboardingApproved + " " + pend.OnboardingID,
		events.TypePartnerOnboarded + " " + reserved,
		events.TypeOnboardingPending + " " + denied.OnboardingID,
		events.TypeOnboardingDenied + " " + denied.OnboardingID,
	}
	var seen map[string]events.Detail
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		var err error
		seen, err = onbRecorded(t, s)
		if err != nil {
			return false, err.Error()
		}
		for _, w := range want {
			if seen[w] == nil {
				return false, fmt.Sprintf("no %s among %v", w, keys(seen))
			}
		}
		return true, ""
	})
	if d, ok := seen[events.TypeOnboardingApproved+" "+pend.OnboardingID].(*events.OnboardingApproved); !ok ||
		d.PartnerID != reserved || d.Actor != (events.Actor{Kind: events.ActorOps, ID: caller}) || d.Tier != "premium" || d.Reason != "contract signed, ticket OPS-1234" {
		t.Errorf("Onboarding Approved: %+v", seen[events.TypeOnboardingApproved+" "+pend.OnboardingID])
	}
	if d, ok := seen[events.TypeOnboardingDenied+" "+denied.OnboardingID].(*events.OnboardingDenied); !ok ||
		d.PartnerID != dv.PartnerID || d.Actor != (events.Actor{Kind: events.ActorOps, ID: caller}) || d.Reason != "no contract on file" {
		t.Errorf("Onboarding Denied: %+v", seen[events.TypeOnboardingDenied+" "+denied.OnboardingID])
	}
	if d, ok := seen[events.TypeOnboardingPending+" "+pend.OnboardingID].(*events.OnboardingPending); !ok ||
		d.PartnerID != reserved || d.PartnerName != name || d.Tier != "premium" || d.Identity.Method != events.ProofInvite ||
		!d.ExpiresAt.Equal(pend.ExpiresAt) {
		t.Errorf("Onboarding Pending: %+v", seen[events.TypeOnboardingPending+" "+pend.OnboardingID])
	}
	for k := range seen {
		for _, id := range []string{lapsed.ID, late.ID, lapsed.PartnerID, late.PartnerID, dv.PartnerID} {
			if strings.HasSuffix(k, " "+id) && !slices.Contains(want, k) {
				t.Errorf("unexpected event %s", k)
			}
		}
	}
	checkCanaries(t, s, canary)
}

// onbRecorded decodes what the recorder got, keyed "<detail type> <onboarding id>" (Partner
// Onboarded: "<detail type> <partner id>").
func onbRecorded(t *testing.T, s *suite.Suite) (map[string]events.Detail, error) {
	ds, err := deliveries(t.Context(), s.Provisioned.Tables["deliveries"])
	if err != nil {
		return nil, err
	}
	out := map[string]events.Detail{}
	for _, d := range ds {
		if d.Source != "aws:sqs" {
			continue
		}
		e, det, err := events.Decode([]byte(d.Body))
		if err != nil {
			return nil, fmt.Errorf("delivery %s: %w", d.ID, err)
		}
		id := det.Header().PartnerID
		switch v := det.(type) {
		case *events.OnboardingPending:
			id = v.OnboardingID
		case *events.OnboardingApproved:
			id = v.OnboardingID
		case *events.OnboardingDenied:
			id = v.OnboardingID
		}
		out[e.DetailType+" "+id] = det
	}
	return out, nil
}

// onbString is a string attribute of item, or "".
func onbString(item map[string]dynamotypes.AttributeValue, name string) string {
	if v, ok := item[name].(*dynamotypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
