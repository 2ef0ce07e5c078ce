package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/local/front"
	"github.com/lanyardhq/lanyard/local/invoke"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/features/onboarding"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

const (
	onbID       = "onb-7k2m4q6s3u5w7y2a4c6e3g5i7k"
	decidedBody = `{"onboardingId":"onb-7k2m4q6s3u5w7y2a4c6e3g5i7k","status":"approved","partnerId":"p-d4xq7m2kf5hb3nz6w2yr7tcvae","partnerName":"Initech Shipping","tier":"premium","scopes":["shipments:read","shipments:write"],"identity":{"method":"invite","inviteId":"inv-3m5o7q2s4u6w3y5a7c2e4g6i3k"},"createdAt":"2026-11-23T12:00:00Z","expiresAt":"2026-11-30T12:00:00Z","decidedBy":"arn:aws:sts::123456789012:assumed-role/ops/jane","decidedAt":"2026-11-24T09:30:00Z","reason":"contract signed"}`
	listBody    = `{"onboardings":[{"onboardingId":"onb-2b4d6f3h5j7l2n4p6r3t5v7x2z","status":"pending","partnerId":"p-q3s5u7w2y4a6c3e5g7i2k4m6o3","partnerName":"Globex Freight","tier":"premium","scopes":["shipments:read","webhooks:write"],"identity":{"method":"sts","accountId":"111122223333","arn":"arn:aws:iam::111122223333:role/globex-lanyard"},"createdAt":"2026-11-23T15:00:00Z","expiresAt":"2026-11-30T15:00:00Z"}],"truncated":true}`
)

// adminCall is what the fake admin API saw of one request.
type adminCall struct {
	method, path, query string
	body                map[string]any
	rawBody             string
	sigErr              error
}

// fakeAdminAPI answers like the admin routes, after checking the SigV4 signature.
type fakeAdminAPI struct {
	mu     sync.Mutex
	calls  []adminCall
	srv    *httptest.Server
	status int
	ct     string
	body   string
}

func newFakeAdminAPI(t *testing.T, status int, ct, body string) *fakeAdminAPI {
	t.Helper()
	f := &fakeAdminAPI{status: status, ct: ct, body: body}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		c := adminCall{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, rawBody: string(raw)}
		_ = json.Unmarshal(raw, &c.body)
		_, c.sigErr = verifySigV4(r.Context(), r, raw)
		f.mu.Lock()
		f.calls = append(f.calls, c)
		f.mu.Unlock()
		if c.sigErr != nil {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"title":"Forbidden","status":403,"detail":"The signature was refused."}`)
			return
		}
		w.Header().Set("Content-Type", f.ct)
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, f.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAdminAPI) requests() []adminCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]adminCall(nil), f.calls...)
}

func TestOnboardingApproveAndDeny(t *testing.T) {
	awsEnv(t)
	for _, tc := range []struct {
		args     []string
		path     string
		wantBody map[string]any
	}{
		{[]string{"onboarding", "approve", onbID, "--reason", "contract signed"}, "/v1/admin/onboardings/" + onbID + "/approve", map[string]any{"reason": "contract signed"}},
		{[]string{"onboarding", "deny", onbID}, "/v1/admin/onboardings/" + onbID + "/deny", map[string]any{}},
	} {
		api := newFakeAdminAPI(t, 200, "application/json", decidedBody)
		code, out, errOut := runCLI(append(tc.args, "--endpoint", api.srv.URL)...)
		if code != 0 || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", tc.args, code, errOut)
		}
		for _, line := range []string{
			"Onboarding  onb-7k2m4q6s3u5w7y2a4c6e3g5i7k\n",
			"Status      approved\n",
			"Identity    invite inv-3m5o7q2s4u6w3y5a7c2e4g6i3k\n",
			"Decided by  arn:aws:sts::123456789012:assumed-role/ops/jane\n",
			"Reason      contract signed\n",
		} {
			if !strings.Contains(out, line) {
				t.Errorf("%v: stdout %q lacks %q", tc.args, out, line)
			}
		}
		reqs := api.requests()
		if len(reqs) != 1 || reqs[0].sigErr != nil || reqs[0].method != "POST" || reqs[0].path != tc.path || fmt.Sprint(reqs[0].body) != fmt.Sprint(tc.wantBody) {
			t.Errorf("%v: requests %+v", tc.args, reqs)
		}
	}
}

func TestOnboardingList(t *testing.T) {
	awsEnv(t)
	api := newFakeAdminAPI(t, 200, "application/json", listBody)
	t.Setenv(APIURLEnv, api.srv.URL+"/prod")
	code, out, errOut := runCLI("onboarding", "list", "--status", "pending")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"ONBOARDING                      STATUS   PARTNER         TIER     SCOPES                         IDENTITY          CREATED               EXPIRES\n",
		"onb-2b4d6f3h5j7l2n4p6r3t5v7x2z  pending  Globex Freight  premium  shipments:read,webhooks:write  sts 111122223333  2026-11-23T15:00:00Z  2026-11-30T15:00:00Z\n",
		"(more onboardings matched",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout %q lacks %q", out, want)
		}
	}
	r := api.requests()
	if len(r) != 1 || r[0].sigErr != nil || r[0].method != "GET" || r[0].path != "/prod/v1/admin/onboardings" || r[0].query != "status=pending" || r[0].rawBody != "" {
		t.Errorf("requests %+v", r)
	}

	// JSON prints the answer as received; no --status sends no query.
	code, out, _ = runCLI("onboarding", "list", "-o", "json")
	var printed, sent map[string]any
	_ = json.Unmarshal([]byte(listBody), &sent)
	if err := json.Unmarshal([]byte(out), &printed); code != 0 || err != nil || fmt.Sprint(printed) != fmt.Sprint(sent) {
		t.Errorf("json: exit %d, %q", code, out)
	}
	if r := api.requests(); r[1].query != "" {
		t.Errorf("query %q", r[1].query)
	}
}

func TestOnboardingUsageAndProblems(t *testing.T) {
	awsEnv(t)
	api := newFakeAdminAPI(t, 409, "application/problem+json", `{"type":"https://github.com/lanyardhq/lanyard/blob/main/docs/problems.md#conflict","title":"Conflict","status":409,"detail":"Onboarding onb-7k2m4q6s3u5w7y2a4c6e3g5i7k is denied, not pending: only a pending onboarding can be approved or denied."}`)
	usage := []struct {
		args []string
		want string
	}{
		{[]string{"onboarding", "approve"}, "lanyard: approve takes one onboarding id, not 0 arguments\n"},
		{[]string{"onboarding", "deny", onbID, "extra"}, "lanyard: deny takes one onboarding id, not 2 arguments\n"},
		{[]string{"onboarding", "approve", "p-abc"}, "lanyard: \"p-abc\" is not an onboarding id (onb- and 26 lowercase letters and digits)\n"},
		{[]string{"onboarding", "approve", onbID, "--reason", " "}, "lanyard: --reason must not be empty\n"},
		{[]string{"onboarding", "list", "--status", "waiting"}, "lanyard: --status must be one of pending, approved, denied, collected, expired, not \"waiting\"\n"},
		{[]string{"onboarding", "list", "--endpoint", "ftp://x"}, ""},
	}
	for _, u := range usage {
		args := u.args
		if !slices.Contains(args, "--endpoint") {
			args = append(args, "--endpoint", api.srv.URL)
		}
		code, out, errOut := runCLI(args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || (u.want != "" && errOut != u.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", u.args, code, out, errOut)
		}
	}
	if n := len(api.requests()); n != 0 {
		t.Errorf("%d requests for bad command lines", n)
	}
	code, _, errOut := runCLI("onboarding", "approve", onbID, "--endpoint", api.srv.URL)
	if code != 1 || errOut != "lanyard: Conflict: Onboarding onb-7k2m4q6s3u5w7y2a4c6e3g5i7k is denied, not pending: only a pending onboarding can be approved or denied.\n" {
		t.Errorf("conflict: exit %d, stderr %q", code, errOut)
	}
	bad := newFakeAdminAPI(t, 200, "application/json", `{}`)
	if code, _, errOut := runCLI("onboarding", "deny", onbID, "--endpoint", bad.srv.URL); code != 1 || !strings.Contains(errOut, "without an onboarding") {
		t.Errorf("empty answer: exit %d, stderr %q", code, errOut)
	}
}

// adminInvoker runs the admin handler in process for `lanyard local`'s front.
type adminInvoker struct{ h *onboarding.AdminHandler }

func (i adminInvoker) Invoke(ctx context.Context, function string, payload []byte) (invoke.Result, error) {
	if function != "lanyard-probe" {
		return invoke.Result{}, fmt.Errorf("no function %s", function)
	}
	var ev lambdaevents.APIGatewayProxyRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return invoke.Result{}, err
	}
	resp, err := i.h.Handle(ctx, ev)
	if err != nil {
		return invoke.Result{}, err
	}
	out, err := json.Marshal(resp)
	return invoke.Result{Payload: out}, err
}

// scanAll adds Scan to the DynamoDB fake: every item in one page.
type scanAll struct{ *dynamodbtest.DynamoDB }

func (d scanAll) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	items := d.Items(aws.ToString(in.TableName))
	return &dynamodb.ScanOutput{Items: items, Count: int32(len(items))}, nil //nolint:gosec // a test's handful of items
}

// The CLI's signature is what `lanyard local`'s front accepts, and the admin handler records the
// caller the front names in requestContext.identity.userArn as the decider.
func TestOnboardingThroughTheLocalFront(t *testing.T) {
	awsEnv(t)
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	t.Cleanup(func() { slog.SetDefault(prev) })
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("onboardings", dynamodbtest.KeyAttr{Name: onboarding.OnboardingsPartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	db.CreateTable("partners", dynamodbtest.KeyAttr{Name: "partnerId", Type: types.ScalarAttributeTypeS}, nil)
	db.CreateTable("outbox", dynamodbtest.KeyAttr{Name: outbox.PartitionKey, Type: types.ScalarAttributeTypeS}, &dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: types.ScalarAttributeTypeN})
	now := time.Now().UTC().Truncate(time.Millisecond)
	var ids []string
	for i := range 2 {
		o := onboarding.Onboarding{
			ID: onboarding.NewOnboardingID(), PartnerID: fmt.Sprintf("p-abcdefghijklmnopqrstuvwxy%d", i+2), SecretVersionID: "v",
			PartnerName: "Initech", Tier: "premium", Scopes: []string{"shipments:write"}, IdentityMethod: events.ProofInvite,
			InviteID: "inv-x", PickupTokenHash: "sha256:x", Status: onboarding.StatusPending, Justification: "j", PolicyRevision: 2,
			CreatedAt: now.Add(time.Duration(i) * time.Minute), ExpiresAt: now.Add(onboarding.PendingLifetime),
		}
		item, err := o.Item()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("onboardings"), Item: item}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	h := &onboarding.AdminHandler{DB: scanAll{db}, Tables: onboarding.Tables{Onboardings: "onboardings", Partners: "partners", Outbox: "outbox"}}
	top := topologytest.Sample()
	for _, r := range []struct{ method, path string }{
		{"GET", onboarding.ListResource}, {"POST", onboarding.ApproveResource}, {"POST", onboarding.DenyResource},
	} {
		top.Routes = append(top.Routes, topology.Route{Method: r.method, Path: r.path, Function: "probe", Auth: topology.AuthIAM})
	}
	f, err := front.New(front.Config{
		Topology: top, Invoker: adminInvoker{h}, Region: "us-east-1", AccountID: "000000000000", APIID: "lnyd0api01",
		Logger: slog.New(slog.DiscardHandler), Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)

	code, out, errOut := runCLI("onboarding", "approve", ids[0], "--reason", "ok", "--endpoint", srv.URL, "-o", "json")
	if code != 0 || errOut != "" {
		t.Fatalf("approve: exit %d, stderr %q", code, errOut)
	}
	var v onboarding.View
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Status != onboarding.StatusApproved || v.DecidedBy != "arn:aws:iam::000000000000:root" || v.Reason != "ok" {
		t.Errorf("approve answered %+v (%v)", v, err)
	}
	if code, _, errOut := runCLI("onboarding", "deny", ids[1], "--endpoint", srv.URL+"/local"); code != 0 || errOut != "" {
		t.Errorf("deny: exit %d, stderr %q", code, errOut)
	}
	code, out, errOut = runCLI("onboarding", "list", "--status", "pending", "--endpoint", srv.URL, "-o", "json")
	var l onboarding.List
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || len(l.Onboardings) != 0 {
		t.Errorf("list pending: exit %d, stderr %q, %+v", code, errOut, l)
	}
	code, out, _ = runCLI("onboarding", "list", "--endpoint", srv.URL)
	if code != 0 || !strings.Contains(out, ids[0]+"  approved") || !strings.Contains(out, ids[1]+"  denied") {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	// A second decision is the handler's 409, one line.
	if code, _, errOut := runCLI("onboarding", "approve", ids[1], "--endpoint", srv.URL); code != 1 || !strings.HasPrefix(errOut, "lanyard: Conflict: Onboarding "+ids[1]+" is denied") {
		t.Errorf("second decision: exit %d, stderr %q", code, errOut)
	}
	// The records: Onboarding Approved by the local caller.
	recs, err := (&outbox.Store{DB: db, Table: "outbox"}).Records(t.Context(), "p-abcdefghijklmnopqrstuvwxy2")
	if err != nil || len(recs) != 1 || recs[0].DetailType != events.TypeOnboardingApproved {
		t.Fatalf("outbox %v %v", recs, err)
	}
	ev, _ := recs[0].Event()
	if a := ev.(*events.OnboardingApproved); a.Actor != (events.Actor{Kind: events.ActorOps, ID: "arn:aws:iam::000000000000:root"}) {
		t.Errorf("actor %+v", a.Actor)
	}
}
