//go:build integration

package suite_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/topology"
)

// partnerTopology is the production declaration plus a recorder consuming what onboarding
// publishes, the test rule the relay's events must reach.
func partnerTopology() *topology.Topology {
	return recordingTopology("onboarding-recorder", events.TypePartnerOnboarded, events.TypeCredentialIssued)
}

// recordingTopology is the production declaration plus a recorder consuming detailTypes
// through a consumer named name, writing what it receives into the "deliveries" table.
func recordingTopology(name string, detailTypes ...string) *topology.Topology {
	tp := topology.Lanyard()
	tp.Functions = append(tp.Functions, topology.Function{
		Name: "recorder", Main: "integration/functions/recorder", MemoryMB: 128, Timeout: 5 * time.Second,
		Env: map[string]topology.Value{"RECORDER_TABLE": topology.TableName("deliveries", topology.AccessReadWrite)},
	})
	tp.Consumers = append(tp.Consumers, topology.Consumer{
		Name: name, Function: "recorder", DetailTypes: detailTypes,
		BatchSize: 10, VisibilityTimeout: 30 * time.Second, MaxReceiveCount: 3,
	})
	tp.Tables = append(tp.Tables, topology.Table{Name: "deliveries",
		PartitionKey: topology.Attr{Name: "pk", Type: topology.AttrString}, SortKey: &topology.Attr{Name: "sk", Type: topology.AttrString}})
	return tp
}

// localCreds are the credentials the front accepts on admin routes.
var localCreds = aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", Source: credentials.StaticCredentialsName}

type issuedInvite struct {
	InviteCode  string    `json:"inviteCode"`
	InviteID    string    `json:"inviteId"`
	PartnerName string    `json:"partnerName"`
	Tier        string    `json:"tier"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

type onboarded struct {
	PartnerID string    `json:"partnerId"`
	KeyID     string    `json:"keyId"`
	APIKey    string    `json:"apiKey"`
	Scopes    []string  `json:"scopes"`
	Tier      string    `json:"tier"`
	ExpiresAt time.Time `json:"expiresAt"`
}

type profile struct {
	PartnerID    string    `json:"partnerId"`
	PartnerName  string    `json:"partnerName"`
	Tier         string    `json:"tier"`
	Scopes       []string  `json:"scopes"`
	KeyID        string    `json:"keyId"`
	KeyExpiresAt time.Time `json:"keyExpiresAt"`
}

// partnerAPI drives one running suite's partner routes.
type partnerAPI struct {
	t      *testing.T
	s      *suite.Suite
	canary *secrettest.Canaries
}

func (a partnerAPI) invite(name, tier string) issuedInvite {
	a.t.Helper()
	body := fmt.Sprintf(`{"partnerName":%q,"tier":%q}`, name, tier)
	r := sendSigned(a.t, a.s, "/v1/admin/invites", body, localCreds, time.Now())
	if r.status != http.StatusCreated {
		a.t.Fatalf("POST /v1/admin/invites: %d %s", r.status, a.redacted(r.body))
	}
	var inv issuedInvite
	decodeStrict(a.t, r.body, &inv)
	a.canary.Add("invite code "+inv.InviteID, inv.InviteCode)
	if inv.PartnerName != name || inv.Tier != tier || inv.InviteID == "" || !inv.ExpiresAt.After(time.Now()) {
		a.t.Fatalf("invite %s: %+v", inv.InviteID, inv)
	}
	return inv
}

// onboard POSTs /v1/partners with the Idempotency-Key and body given.
func (a partnerAPI) onboard(idempotencyKey, body string) reply {
	a.t.Helper()
	return postIdempotent(a.t, a.s, a.canary, "/v1/partners", idempotencyKey, body)
}

// postIdempotent POSTs body to an open route with an Idempotency-Key (none when empty), and
// hands every refusal to the canaries.
func postIdempotent(t *testing.T, s *suite.Suite, canary *secrettest.Canaries, path, idempotencyKey, body string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.APIURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	r := do(t, req)
	if r.status >= 400 { // a 201 carries the key and a 202 the pick-up token, by design
		canary.CheckText("refusal of POST "+path, string(r.body))
	}
	return r
}

// onboardNew invites a partner to tier and onboards it with scopes, and returns the 201 answer;
// the key joins the canaries.
func (a partnerAPI) onboardNew(name, tier string, scopes ...string) onboarded {
	a.t.Helper()
	inv := a.invite(name, tier)
	r := a.onboard(harness.Name("idem"), onboardBody(name, inv.InviteCode, scopes...))
	if r.status != http.StatusCreated {
		a.t.Fatalf("onboard %s: %d %s", name, r.status, a.redacted(r.body))
	}
	var ob onboarded
	decodeStrict(a.t, r.body, &ob)
	a.canary.Add("api key of "+name, ob.APIKey)
	return ob
}

func onboardBody(name, code string, scopes ...string) string {
	b, _ := json.Marshal(map[string]any{"partnerName": name, "inviteCode": code, "scopes": scopes})
	return string(b)
}

// redacted renders a body for a failure message with every key, invite code and pick-up token
// blanked.
func (a partnerAPI) redacted(body []byte) string {
	return secretsRE.ReplaceAllString(string(body), "[redacted]")
}

var secretsRE = regexp.MustCompile(credential.ScannerPattern + `|lnyd_(inv|pku)_[A-Za-z0-9_-]+`)

func decodeStrict(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
}

// wantFunctionProblem checks a function's problem+json answer: status, type anchor, and that
// it is a well-formed problem.
func wantFunctionProblem(t *testing.T, r reply, status int, anchor string) problem {
	t.Helper()
	p := r.problem(t)
	if r.status != status || p.Status != status || p.Type != topology.ProblemBase+anchor || p.Title == "" {
		t.Errorf("%s %s: %d %+v, want %d %s", r.method, r.path, r.status, p, status, anchor)
	}
	return p
}

// sameIDKey is a well-formed key with k's id and environment but another secret: its
// checksum is right, so only the registry's verifier can refuse it.
func sameIDKey(t *testing.T, k credential.Key) string {
	t.Helper()
	const base32 = "abcdefghijklmnopqrstuvwxyz234567"
	// Generate maps each random byte b to base32[b&31]: feed it the positions of the id's
	// characters, then real randomness for the secret.
	var pos [256]byte
	var n byte
	for _, c := range []byte(base32) {
		pos[c] = n
		n++
	}
	id := string(k.ID())[1:]
	prefix := make([]byte, len(id))
	for i := range id {
		prefix[i] = pos[id[i]]
	}
	forged, err := credential.Generate(k.Env(), io.MultiReader(bytes.NewReader(prefix), crand.Reader))
	if err != nil || forged.ID() != k.ID() {
		t.Fatalf("forge a key with id %s: %v (got %s)", k.ID(), err, forged.ID())
	}
	return forged.Plaintext().Reveal()
}

// The partner API end to end through `lanyard local`, with the production functions: ops
// issue an invite, the partner onboards with it and calls GET /v1/partners/me with the key; a
// replay returns the same answer and creates nothing; every refusal is problem+json; the relay
// publishes Partner Onboarded and Credential Issued to a test rule; and no key or invite code
// reaches a log, a trace or an error.
//
// Not parallel: the canaries capture the process's slog default.
func TestPartnerOnboardingThroughLocal(t *testing.T) {
	canary := secrettest.Plant(t)
	tp := partnerTopology()
	s, prefix := shared(t, "onboarding-recorder", func() *topology.Topology { return tp }, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	name := "Acme Logistics " + harness.Name("t")

	inv := api.invite(name, "standard")
	idem := harness.Name("idem")
	body := onboardBody(name, inv.InviteCode, "orders:write", "orders:read")
	first := api.onboard(idem, body)
	if first.status != http.StatusCreated || first.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("onboard: %d (Cache-Control %q) %s", first.status, first.header.Get("Cache-Control"), api.redacted(first.body))
	}
	var ob onboarded
	decodeStrict(t, first.body, &ob)
	canary.Add("api key", ob.APIKey)
	key, err := credential.Parse(ob.APIKey)
	if err != nil {
		t.Fatalf("the key answered does not parse: %v", err)
	}
	if key.Env() != credential.EnvLocal || string(key.ID()) != ob.KeyID || ob.Tier != "standard" ||
		!slices.Equal(ob.Scopes, []string{"orders:read", "orders:write"}) || !ob.ExpiresAt.After(time.Now().Add(80*24*time.Hour)) {
		t.Errorf("onboarded %s: key %s env %s, %+v", ob.PartnerID, key.ID(), key.Env(), ob)
	}

	// The key works on a partner route, through the production authorizer.
	me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+ob.APIKey, "")
	if me.status != http.StatusOK {
		t.Fatalf("GET /v1/partners/me: %d %s", me.status, me.body)
	}
	var prof profile
	decodeStrict(t, me.body, &prof)
	if prof.PartnerID != ob.PartnerID || prof.PartnerName != name || prof.Tier != "standard" || prof.KeyID != ob.KeyID ||
		!slices.Equal(prof.Scopes, ob.Scopes) || !prof.KeyExpiresAt.Equal(ob.ExpiresAt) {
		t.Errorf("profile %+v, onboarded %+v", prof, ob)
	}

	// A replay: the same answer, key included, read back from the secret's version.
	replay := api.onboard(idem, body)
	if replay.status != http.StatusCreated || !sameJSON(replay.body, first.body) {
		t.Errorf("replay: %d, same body: %t", replay.status, sameJSON(replay.body, first.body))
	}
	// The same key with another body: refused, nothing done.
	other := api.onboard(idem, onboardBody(name, inv.InviteCode, "orders:read"))
	wantFunctionProblem(t, other, http.StatusUnprocessableEntity, "idempotency-key-reused")

	// The invite is spent; an unknown one and an expired one are refused alike.
	reused := wantFunctionProblem(t, api.onboard(harness.Name("idem"), body), http.StatusForbidden, "invite-invalid")
	unknown := wantFunctionProblem(t, api.onboard(harness.Name("idem"), onboardBody(name, "lnyd_inv_"+strings.Repeat("A", 43), "orders:read")), http.StatusForbidden, "invite-invalid")
	invites := &invite.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["invites"], Outbox: &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}, Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}
	expiredCode, _, err := invites.Issue(ctx, name, "standard", time.Hour, "arn:aws:iam::"+suite.Account+":role/ops")
	if err != nil {
		t.Fatalf("issue an invite that expired an hour ago: %v", err)
	}
	canary.Add("expired invite code", expiredCode.Reveal())
	expired := wantFunctionProblem(t, api.onboard(harness.Name("idem"), onboardBody(name, expiredCode.Reveal(), "orders:read")), http.StatusForbidden, "invite-invalid")
	if reused != unknown || unknown != expired {
		t.Errorf("refusals differ: reused %+v, unknown %+v, expired %+v", reused, unknown, expired)
	}

	// Scopes outside the tier: refused with the scopes named.
	sandbox := api.invite(name+" sandbox", "sandbox")
	denied := api.onboard(harness.Name("idem"), onboardBody(name+" sandbox", sandbox.InviteCode, "orders:read", "orders:write"))
	wantFunctionProblem(t, denied, http.StatusForbidden, "scopes-not-allowed")
	var deniedScopes struct {
		DeniedScopes []string `json:"deniedScopes"`
	}
	if err := json.Unmarshal(denied.body, &deniedScopes); err != nil || !slices.Equal(deniedScopes.DeniedScopes, []string{"orders:write"}) {
		t.Errorf("scopes-not-allowed names %v (%v)", deniedScopes.DeniedScopes, err)
	}

	// Malformed requests are refused before anything happens.
	wantFunctionProblem(t, api.onboard("", body), http.StatusBadRequest, "missing-idempotency-key")
	wantFunctionProblem(t, api.onboard(harness.Name("idem"), `{"partnerName":`), http.StatusBadRequest, "bad-request")
	wantFunctionProblem(t, api.onboard(harness.Name("idem"), `{"partnerName":"x","scopes":["Orders"]}`), http.StatusBadRequest, "validation")

	// Keys the authorizer refuses: a bad checksum, the right id with a wrong secret, none.
	bad := []byte(ob.APIKey)
	bad[len(bad)-1] ^= 1
	send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+string(bad), "").wantProblem(t, "UNAUTHORIZED", http.StatusUnauthorized)
	forged := sameIDKey(t, key)
	canary.Add("forged key", forged)
	send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+forged, "").wantProblem(t, "UNAUTHORIZED", http.StatusUnauthorized)
	send(t, s, http.MethodGet, "/v1/partners/me", "", "").wantProblem(t, "UNAUTHORIZED", http.StatusUnauthorized)

	// Exactly one partner and one secret came of all this.
	if n := partnersNamed(t, s, name); n != 1 {
		t.Errorf("%d partners named %q, want 1", n, name)
	}
	if got := secretsOf(t, prefix, ob.PartnerID); got != 1 {
		t.Errorf("%d secrets for partner %s, want 1", got, ob.PartnerID)
	}

	// The decision's records reach the bus through the relay, and the test rule's consumer.
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		ds, err := deliveries(ctx, s.Provisioned.Tables["deliveries"])
		if err != nil {
			return false, err.Error()
		}
		seen := map[string]bool{}
		for _, d := range ds {
			var e struct {
				DetailType string `json:"detail-type"`
				Detail     struct {
					PartnerID string `json:"partnerId"`
				} `json:"detail"`
			}
			if json.Unmarshal([]byte(d.Body), &e) == nil && e.Detail.PartnerID == ob.PartnerID {
				seen[e.DetailType] = true
			}
		}
		return seen[events.TypePartnerOnboarded] && seen[events.TypeCredentialIssued], fmt.Sprintf("events of %s seen: %v", ob.PartnerID, seen)
	})
	store := &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}
	if err := store.VerifyPartner(ctx, ob.PartnerID); err != nil {
		t.Errorf("the partner's audit chain: %v", err)
	}

	checkCanaries(t, s, canary)
}

// Two onboardings sent at once with one Idempotency-Key and body yield exactly one partner
// and one secret: each answer is the first one's 201, or 409 while it is still in flight.
func TestConcurrentOnboardingsWithOneIdempotencyKey(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "lanyard", topology.Lanyard, canary)
	secretsBefore := listSecrets(t, prefix)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	name := "Concurrent Freight " + harness.Name("t")
	inv := api.invite(name, "sandbox")
	idem, body := harness.Name("idem"), onboardBody(name, inv.InviteCode, "orders:read")

	const n = 4
	replies := make([]reply, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			replies[i] = api.onboard(idem, body)
		})
	}
	close(start)
	wg.Wait()

	var created []reply
	for _, r := range replies {
		switch r.status {
		case http.StatusCreated:
			created = append(created, r)
		case http.StatusConflict:
			wantFunctionProblem(t, r, http.StatusConflict, "idempotency-in-flight")
		default:
			t.Errorf("concurrent onboarding answered %d %s", r.status, api.redacted(r.body))
		}
	}
	if len(created) == 0 {
		// Every request met another in flight: the first has finished by now, and a retry
		// gets its answer.
		harness.Eventually(t, 30*time.Second, func() (bool, string) {
			r := api.onboard(idem, body)
			if r.status == http.StatusCreated {
				created = append(created, r)
				return true, ""
			}
			return false, fmt.Sprintf("retry answered %d", r.status)
		})
	}
	var ob onboarded
	decodeStrict(t, created[0].body, &ob)
	canary.Add("api key", ob.APIKey)
	for _, r := range created[1:] {
		if !sameJSON(r.body, created[0].body) {
			t.Error("two 201 answers differ")
		}
	}
	if got := partnersNamed(t, s, name); got != 1 {
		t.Errorf("%d partners named %q, want 1", got, name)
	}
	if got := secretsOf(t, prefix, ob.PartnerID); got != 1 {
		t.Errorf("%d secrets for partner %s, want 1", got, ob.PartnerID)
	}
	if got := secretsSince(t, prefix, secretsBefore); got != 1 {
		t.Errorf("%d partner secrets created under %s while the test ran, want 1", got, prefix)
	}
	checkCanaries(t, s, canary)
}

// partnersNamed counts the partners table's items named name.
func partnersNamed(t *testing.T, s *suite.Suite, name string) int {
	t.Helper()
	pages := dynamodb.NewScanPaginator(env.DynamoDB, &dynamodb.ScanInput{
		TableName: aws.String(s.Provisioned.Tables["partners"]), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("partnerName = :n"),
		ExpressionAttributeValues: map[string]dynamotypes.AttributeValue{":n": &dynamotypes.AttributeValueMemberS{Value: name}},
	})
	n := 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(t.Context())
		if err != nil {
			t.Fatalf("scan the partners: %v", err)
		}
		n += int(page.Count)
	}
	return n
}

// secretsOf counts the secrets of a partner under the suite's prefix.
func secretsOf(t *testing.T, prefix, partnerID string) int {
	t.Helper()
	n := 0
	for _, name := range listSecrets(t, prefix) {
		if strings.HasSuffix(name, "/"+partnerID) {
			n++
		}
	}
	return n
}

// secretsSince counts the secrets under the suite's prefix that are not among before: those
// created since, by the test that listed before (tests sharing a deployment and reading this
// run alone, not in parallel with one another).
func secretsSince(t *testing.T, prefix string, before []string) int {
	t.Helper()
	n := 0
	for _, name := range listSecrets(t, prefix) {
		if !slices.Contains(before, name) {
			n++
		}
	}
	return n
}

// listSecrets names the secrets (not scheduled for deletion) under the suite's secrets prefix.
func listSecrets(t *testing.T, prefix string) []string {
	t.Helper()
	var names []string
	p := secretsmanager.NewListSecretsPaginator(env.SecretsManager, &secretsmanager.ListSecretsInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{partnersecret.Prefix(prefix)}}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("list secrets: %v", err)
		}
		for _, s := range page.SecretList {
			if s.DeletedDate == nil && strings.HasPrefix(aws.ToString(s.Name), partnersecret.Prefix(prefix)) {
				names = append(names, aws.ToString(s.Name))
			}
		}
	}
	return names
}

// logsOnFailure prints the functions' logs, keys and invite codes blanked, when the test fails
// (read while the test ends, before its deployment is removed).
func logsOnFailure(t *testing.T, s *suite.Suite) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for decl, text := range functionLogs(t, s) {
			t.Logf("logs of %s:\n%s", decl, secretsRE.ReplaceAllString(text, "[redacted]"))
		}
	})
}

// functionLogs reads what each function wrote to CloudWatch Logs, by declared name.
func functionLogs(t *testing.T, s *suite.Suite) map[string]string {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	out := map[string]string{}
	for decl, fn := range s.Provisioned.Functions {
		group := "/aws/lambda/" + fn
		p := cloudwatchlogs.NewFilterLogEventsPaginator(env.Logs, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)})
		var text strings.Builder
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				if !gone(err) { // gone: the function never ran
					t.Errorf("read the logs of %s: %v", decl, err)
				}
				break
			}
			for _, e := range page.Events {
				text.WriteString(aws.ToString(e.Message))
			}
		}
		out[decl] = text.String()
	}
	return out
}

// checkCanaries hands the canaries every log the functions wrote to CloudWatch Logs and every
// trace segment the collector kept.
func checkCanaries(t *testing.T, s *suite.Suite, canary *secrettest.Canaries) {
	t.Helper()
	for decl, text := range functionLogs(t, s) {
		canary.CheckText("logs of "+decl, text)
	}
	for _, id := range s.Traces.Traces() {
		for _, seg := range s.Traces.Segments(id) {
			canary.CheckText("trace segment "+seg.Name, string(seg.Document))
		}
	}
}

// tokenTopology is the production declaration with the token function swapped for its capture
// build (integration/functions/token-capture: the same handler and wiring, plus SDK middleware
// logging the AssumeRole input it sends), so the test can see the session policy and tags that
// GetCallerIdentity never shows.
func tokenTopology(t *testing.T) *topology.Topology {
	t.Helper()
	tp := topology.Lanyard()
	i := slices.IndexFunc(tp.Functions, func(f topology.Function) bool { return f.Name == "token" })
	if i < 0 {
		t.Fatal("the production topology declares no token function")
	}
	tp.Functions[i].Name, tp.Functions[i].Main = "token-capture", "integration/functions/token-capture"
	for j := range tp.Routes {
		if tp.Routes[j].Function == "token" {
			tp.Routes[j].Function = "token-capture"
		}
	}
	for j := range tp.Roles {
		if tp.Roles[j].AssumedBy == "token" {
			tp.Roles[j].AssumedBy = "token-capture"
		}
	}
	return tp
}

// A partner exchanges its key for 15-minute AWS credentials: they are a session of the
// partner-access role named for the partner, and the AssumeRole call the function made carried
// the partner tag and a session policy narrowed to the key's scopes.
func TestTokenExchangeThroughLocal(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "token-capture", func() *topology.Topology { return tokenTopology(t) }, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	name := "Token Freight " + harness.Name("t")
	ob := api.onboardNew(name, "sandbox", "orders:read")

	before := time.Now()
	tok := send(t, s, http.MethodPost, "/v1/token", "Bearer "+ob.APIKey, "")
	if tok.status != http.StatusOK || tok.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST /v1/token: %d %s", tok.status, tok.header.Get("Content-Type"))
	}
	var creds struct {
		AccessKeyID     string    `json:"accessKeyId"`
		SecretAccessKey string    `json:"secretAccessKey"`
		SessionToken    string    `json:"sessionToken"`
		Expiration      time.Time `json:"expiration"`
	}
	decodeStrict(t, tok.body, &creds)
	canary.Add("secret access key", creds.SecretAccessKey)
	canary.Add("session token", creds.SessionToken)
	if d := creds.Expiration.Sub(before); d < 14*time.Minute || d > 16*time.Minute {
		t.Errorf("credentials expire in %s, want 15 minutes (sandbox)", d)
	}

	// The credentials are the partner's session of the partner-access role.
	cfg := env.Config.Copy()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with the exchanged credentials: %v", err)
	}
	wantARN := ":assumed-role/" + prefix + "-partner-access/partner-" + ob.PartnerID
	if arn := aws.ToString(who.Arn); !strings.HasSuffix(arn, wantARN) {
		t.Errorf("caller %s, want …%s", arn, wantARN)
	}

	// What the function asked STS for, as its capture build logged it.
	var captured struct {
		Message         string `json:"message"`
		RoleArn         string `json:"roleArn"`
		RoleSessionName string `json:"roleSessionName"`
		DurationSeconds int32  `json:"durationSeconds"`
		Policy          string `json:"policy"`
		Tags            []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"tags"`
	}
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		for _, line := range strings.Split(functionLogs(t, s)["token-capture"], "\n") {
			if i := strings.Index(line, "{"); i >= 0 && json.Unmarshal([]byte(line[i:]), &captured) == nil && captured.Message == "assume role captured" {
				return true, ""
			}
		}
		return false, "no captured AssumeRole line in the token function's log yet"
	})
	if !strings.HasSuffix(captured.RoleArn, ":role/"+prefix+"-partner-access") || captured.RoleSessionName != "partner-"+ob.PartnerID || captured.DurationSeconds != 900 {
		t.Errorf("AssumeRole of %s as %s for %d s", captured.RoleArn, captured.RoleSessionName, captured.DurationSeconds)
	}
	tags := map[string]string{}
	for _, tg := range captured.Tags {
		tags[tg.Key] = tg.Value
	}
	if tags["partner"] != ob.PartnerID {
		t.Errorf("session tags %v, want partner=%s", tags, ob.PartnerID)
	}
	var doc struct {
		Statement []struct {
			Effect   string          `json:"Effect"`
			Action   json.RawMessage `json:"Action"`
			Resource json.RawMessage `json:"Resource"`
		} `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(captured.Policy), &doc); err != nil || len(doc.Statement) == 0 {
		t.Fatalf("session policy %q: %v", captured.Policy, err)
	}
	for _, st := range doc.Statement {
		res := string(st.Resource)
		if st.Effect != "Allow" || !strings.Contains(string(st.Action), "execute-api:Invoke") || !strings.Contains(res, "/GET/v1/orders") ||
			strings.Contains(res, "POST") || strings.Contains(res, "inventory") {
			t.Errorf("session policy statement %+v is not orders:read alone", st)
		}
	}
	// The exchange is recorded on one of the partner's exchange lanes, never with the session's
	// credentials (the canaries cover the records too).
	for _, d := range recordedOnce(t, s, ob.PartnerID, events.TypeTokenExchanged, 1) {
		canary.CheckText("Token Exchanged", fmt.Sprintf("%+v", d))
		if ex := d.(*events.TokenExchanged); ex.RoleSessionName != "partner-"+ob.PartnerID || ex.KeyID != keyIDOf(t, ob.APIKey) {
			t.Errorf("recorded %+v", ex)
		}
	}
	checkCanaries(t, s, canary)
}

// A partner over its tier's rate gets 429 with the THROTTLED problem, before any function runs;
// another partner of the same tier, with its own usage identifier, is not held back.
func TestPartnerOverItsRateIsThrottled(t *testing.T) {
	canary := secrettest.Plant(t)
	s, _ := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	busy := api.onboardNew("Busy Freight "+harness.Name("t"), "sandbox", "orders:read").APIKey
	calm := api.onboardNew("Calm Freight "+harness.Name("t"), "sandbox", "orders:read").APIKey

	// One request first: the authorizer's policy is then cached, so the burst below meets the
	// throttle within milliseconds rather than behind thirty authorizer invocations (which, on
	// a loaded machine, spread it over long enough for the bucket to refill).
	if r := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+busy, ""); r.status != http.StatusOK {
		t.Fatalf("the first request answered %d", r.status)
	}
	// Sandbox: 5 requests a second, bursts of 10. Forty at once exceed any burst.
	const n = 40
	replies := make([]reply, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-gate
			replies[i] = send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+busy, "")
		})
	}
	close(gate)
	wg.Wait()
	throttled := 0
	for _, r := range replies {
		switch r.status {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			throttled++
			r.wantProblem(t, "THROTTLED", http.StatusTooManyRequests)
		default:
			t.Errorf("a burst request answered %d", r.status)
		}
	}
	if throttled == 0 || throttled == n {
		t.Errorf("%d of %d burst requests throttled, want some but not all", throttled, n)
	}
	if st := s.Front.Stats(); st.Throttled < int64(throttled) {
		t.Errorf("front stats count %d throttled, %d were answered 429", st.Throttled, throttled)
	}
	for range 3 {
		if r := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+calm, ""); r.status != http.StatusOK {
			t.Errorf("the other partner answered %d", r.status)
		}
	}
	checkCanaries(t, s, canary)
}

// recordedOnce fails the test unless the partner's chains — its lifecycle chain and its token
// exchange lanes (outbox.Store.Chains) — hold exactly want records of detailType, and each
// chain verifies; it returns the records' details.
func recordedOnce(t *testing.T, s *suite.Suite, partnerID, detailType string, want int) []events.Detail {
	t.Helper()
	store := &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}
	chains, err := store.Chains(t.Context(), partnerID)
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Detail
	for _, chain := range chains {
		if err := store.VerifyChain(t.Context(), chain); err != nil {
			t.Errorf("chain %s: %v", chain, err)
		}
		recs, err := store.Records(t.Context(), chain)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.DetailType != detailType {
				continue
			}
			d, err := r.Event()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, d)
		}
	}
	if len(out) != want {
		t.Errorf("%d %s records on partner %s's chains %v, want %d", len(out), detailType, partnerID, chains, want)
	}
	return out
}
