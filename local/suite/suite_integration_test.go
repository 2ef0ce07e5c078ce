//go:build integration

package suite_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/front"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

var env *harness.Env

func TestMain(m *testing.M) {
	var err error
	env, err = harness.Connect(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "suite integration: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if !deployments.down() {
		code = max(code, 1)
	}
	os.Exit(code)
}

// An event on the bus reaches exactly the consumers whose rules match its detail type: each
// consumer's function records its own event, and an event no rule matches reaches none.
func TestEventReachesExactlyTheMatchingConsumers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tp := topologytest.Sample()
	pk, sk := topology.Attr{Name: "pk", Type: topology.AttrString}, topology.Attr{Name: "sk", Type: topology.AttrString}
	tp.Functions = append(tp.Functions, topology.Function{
		Name: "issued-recorder", Main: "integration/functions/recorder", MemoryMB: 128, Timeout: 5 * time.Second,
		Env: map[string]topology.Value{"RECORDER_TABLE": topology.TableName("issued-deliveries", topology.AccessReadWrite)},
	})
	tp.Tables = append(tp.Tables, topology.Table{Name: "issued-deliveries", PartitionKey: pk, SortKey: &sk})
	tp.Consumers = append(tp.Consumers, topology.Consumer{
		Name: "issuances", Function: "issued-recorder", DetailTypes: []string{events.TypeCredentialIssued},
		BatchSize: 10, BatchingWindow: time.Second, VisibilityTimeout: 30 * time.Second, MaxReceiveCount: 2,
	})
	s, prefix := start(t, tp, nil)

	// One call, the unmatched event first: once both matched events are recorded and both
	// queues are drained, anything the rules had routed has reached a function.
	ids := putEvents(t, s.Provisioned.Bus, []event{
		{events.TypeCredentialRotated, `{"case":"unmatched"}`},
		{events.TypeCredentialRevoked, `{"case":"revoked"}`},
		{events.TypeCredentialIssued, `{"case":"issued"}`},
	})
	unmatched, revoked, issued := ids[0], ids[1], ids[2]

	tables := map[string]string{ // consumer → its function's deliveries table
		"revocations": s.Provisioned.Tables["deliveries"],
		"issuances":   s.Provisioned.Tables["issued-deliveries"],
	}
	want := map[string]string{"revocations": revoked, "issuances": issued}
	got := map[string][]delivery{}
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		for consumer, table := range tables {
			ds, err := deliveries(ctx, table)
			if err != nil {
				return false, err.Error()
			}
			got[consumer] = ds
			if len(ds) == 0 {
				return false, consumer + " has recorded nothing yet"
			}
			// Drained: visible and in flight both zero, so nothing routed to it is still on
			// its way to the function.
			counts, err := queueCounts(ctx, s.Provisioned.Queues[prefix+"-"+consumer])
			if err != nil {
				return false, err.Error()
			}
			if counts != [2]int{} {
				return false, fmt.Sprintf("queue of %s still holds visible/in flight %v", consumer, counts)
			}
		}
		return true, ""
	})
	for consumer, ds := range got {
		var envelopes []string
		for _, d := range ds {
			envelopes = append(envelopes, envelopeID(d.Body)+" "+envelopeType(d))
		}
		if len(ds) != 1 || ds[0].Source != "aws:sqs" || envelopeID(ds[0].Body) != want[consumer] {
			t.Errorf("consumer %s recorded %v, want only event %s (unmatched event %s)", consumer, envelopes, want[consumer], unmatched)
		}
	}
}

// A record the consumer reports failed comes back alone, the records delivered with it do not,
// and after maxReceiveCount deliveries it lands in the consumer's DLQ.
func TestFailingRecordIsRedeliveredAloneThenDeadLettered(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tp := topologytest.Sample()
	// A short visibility timeout keeps the redeliveries quick; the validation's 6× rule holds.
	consumer := &tp.Consumers[0]
	for i := range tp.Functions {
		if tp.Functions[i].Name == consumer.Function {
			tp.Functions[i].Timeout = 2 * time.Second
		}
	}
	consumer.VisibilityTimeout = 12 * time.Second
	s, prefix := start(t, tp, nil)

	ids := putEvents(t, s.Provisioned.Bus, []event{
		{events.TypeCredentialRevoked, `{"case":"pass-1"}`},
		{events.TypeCredentialRevoked, `{"case":"fail"}`}, // the recorder reports bodies holding "fail" failed
		{events.TypeCredentialRevoked, `{"case":"pass-2"}`},
	})
	failID := ids[1]
	passIDs := []string{ids[0], ids[2]}

	dlqURL := s.Provisioned.Queues[prefix+"-"+consumer.DLQName()]
	if dlqURL == "" {
		t.Fatalf("no DLQ %s-%s among %v", prefix, consumer.DLQName(), s.Provisioned.Queues)
	}
	var dead []sqstypes.Message
	harness.Eventually(t, 2*time.Minute, func() (bool, string) {
		out, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(dlqURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 2,
		})
		if err != nil {
			return false, "receive from the DLQ: " + err.Error()
		}
		dead = append(dead, out.Messages...)
		return len(dead) > 0, "the DLQ is still empty"
	})
	if len(dead) != 1 || envelopeID(aws.ToString(dead[0].Body)) != failID {
		var got []string
		for _, m := range dead {
			got = append(got, envelopeID(aws.ToString(m.Body)))
		}
		t.Fatalf("the DLQ got events %v, want only the failing one %s", got, failID)
	}

	ds, err := deliveries(ctx, s.Provisioned.Tables["deliveries"])
	if err != nil {
		t.Fatal(err)
	}
	byEvent := map[string][]delivery{}
	byInvocation := map[string][]delivery{}
	for _, d := range ds {
		byEvent[envelopeID(d.Body)] = append(byEvent[envelopeID(d.Body)], d)
		byInvocation[d.Invocation] = append(byInvocation[d.Invocation], d)
	}
	for inv, batch := range byInvocation {
		var what []string
		for _, d := range batch {
			what = append(what, fmt.Sprintf("%s (receive %d)", envelopeID(d.Body), d.ReceiveCount))
		}
		t.Logf("invocation %s: %s", inv, strings.Join(what, ", "))
	}
	for _, id := range passIDs {
		if got := byEvent[id]; len(got) != 1 || got[0].ReceiveCount != 1 {
			t.Errorf("passing event %s: %d deliveries (%+v), want one, on its first receive", id, len(got), got)
		}
	}
	fails := byEvent[failID]
	sort.Slice(fails, func(i, j int) bool { return fails[i].ReceiveCount < fails[j].ReceiveCount })
	var counts []int
	for _, d := range fails {
		counts = append(counts, d.ReceiveCount)
	}
	if !slices.Equal(counts, []int{1, 2}) {
		t.Fatalf("failing event %s delivered with receive counts %v, want [1 2] (maxReceiveCount %d)", failID, counts, consumer.MaxReceiveCount)
	}
	for _, d := range fails[1:] {
		if batch := byInvocation[d.Invocation]; len(batch) != 1 || d.BatchSize != 1 {
			t.Errorf("redelivery %d of %s came in a batch of %d", d.ReceiveCount, failID, d.BatchSize)
		}
	}
}

// The front admits partner-key requests as API Gateway does: the REQUEST authorizer's policy,
// cached per identity for the TTL and across routes, flushed by FlushStageAuthorizersCache;
// what never reaches a function is answered as problem+json. The key the authorizer refuses is
// a canary: it must appear in no log, trace or response.
func TestFrontAuthorizesPartnerRoutesWithACachedPolicy(t *testing.T) {
	t.Parallel() // a deployment of its own (see the package doc)
	canaries := secrettest.Plant(t)
	ctx := t.Context()
	tp := topologytest.Sample()
	ttl := tp.Authorizer.ResultTTL
	s, _ := start(t, tp, canaries.Logger())
	refused := canaries.New("partner-key")
	calls := func() int64 { return s.Front.Stats().AuthorizerInvocations }
	call := func(method, path, key string) reply {
		t.Helper()
		r := send(t, s, method, path, key, `{"n":1}`)
		canaries.CheckText(method+" "+path+" response", string(r.body))
		return r
	}
	expectCalls := func(step string, before, delta int64) {
		t.Helper()
		if got := calls() - before; got != delta {
			t.Errorf("%s: the authorizer was called %d times, want %d", step, got, delta)
		}
	}

	before := calls()
	call(http.MethodGet, "/v1/probe", "").wantProblem(t, "UNAUTHORIZED", http.StatusUnauthorized)
	expectCalls("no identity header", before, 0)

	before = calls()
	call(http.MethodGet, "/v1/probe", refused.Reveal()).wantProblem(t, "UNAUTHORIZED", http.StatusUnauthorized)
	expectCalls("refused key", before, 1)

	before = calls()
	call(http.MethodGet, "/v1/probe", "deny").wantProblem(t, "ACCESS_DENIED", http.StatusForbidden)
	expectCalls("deny", before, 1)

	// One authorizer call admits the key on two routes: the policy is cached by identity.
	before, hits := calls(), s.Front.Stats().AuthorizerCacheHits
	list := call(http.MethodGet, "/v1/probe", "allow-all").wantEcho(t)
	item := call(http.MethodPost, "/local/v1/probe/k-42", "allow-all").wantEcho(t)
	expectCalls("allow-all on two routes", before, 1)
	if got := s.Front.Stats().AuthorizerCacheHits - hits; got != 1 {
		t.Errorf("allow-all on two routes: %d cache hits, want 1", got)
	}
	for _, e := range []echo{list, item} {
		for k, want := range map[string]string{"partner": "p-1", "scopes": "probe:read", "principalId": "p-1"} {
			if got, ok := e.Authorizer[k].(string); !ok || got != want {
				t.Errorf("%s %s: authorizer context %s = %#v, want the string %q", e.Method, e.Path, k, e.Authorizer[k], want)
			}
		}
	}
	if item.Path != "/v1/probe/k-42" || item.Resource != "/v1/probe/{id}" || item.PathParameters["id"] != "k-42" || item.Stage != "local" {
		t.Errorf("item route echo: %+v", item)
	}

	// allow-get's policy allows GET /v1/probe only; cached, it refuses the other route without
	// asking the authorizer again.
	filled := time.Now()
	before, hits = calls(), s.Front.Stats().AuthorizerCacheHits
	call(http.MethodGet, "/v1/probe", "allow-get").wantEcho(t)
	call(http.MethodPost, "/v1/probe/k-42", "allow-get").wantProblem(t, "ACCESS_DENIED", http.StatusForbidden)
	expectCalls("allow-get", before, 1)
	if got := s.Front.Stats().AuthorizerCacheHits - hits; got != 1 {
		t.Errorf("allow-get on the other route: %d cache hits, want 1", got)
	}

	// Past the TTL the authorizer is asked again.
	before = calls()
	var refreshed time.Time
	harness.Eventually(t, ttl+10*time.Second, func() (bool, string) {
		at := time.Now()
		call(http.MethodGet, "/v1/probe", "allow-get").wantEcho(t)
		if calls() == before {
			return false, fmt.Sprintf("authorizer not called again %s after the policy was cached", time.Since(filled).Round(time.Millisecond))
		}
		refreshed = at
		return true, ""
	})
	expectCalls("after the TTL", before, 1)
	if age := refreshed.Sub(filled); age < ttl {
		t.Errorf("the cached policy was dropped after %s, before its TTL %s", age, ttl)
	}

	// FlushStageAuthorizersCache, through the SDK's client pointed at the front, empties the
	// cache: the next request asks the authorizer though the policy is well within its TTL.
	gw := apigateway.NewFromConfig(s.Config, func(o *apigateway.Options) { o.BaseEndpoint = aws.String(s.APIURL) })
	for attempt := 1; ; attempt++ {
		if attempt > 5 {
			t.Fatal("could not make a request within the policy's TTL to test the flush")
		}
		cached := time.Now()
		before = calls()
		call(http.MethodGet, "/v1/probe", "allow-get").wantEcho(t)
		if calls() != before {
			continue // that request found the policy expired and cached a fresh one
		}
		flushes := s.Front.Stats().CacheFlushes
		if _, err := gw.FlushStageAuthorizersCache(ctx, &apigateway.FlushStageAuthorizersCacheInput{
			RestApiId: aws.String(suite.APIID), StageName: aws.String("local"),
		}); err != nil {
			t.Fatalf("FlushStageAuthorizersCache: %v", err)
		}
		call(http.MethodGet, "/v1/probe", "allow-get").wantEcho(t)
		if time.Since(cached) >= ttl-500*time.Millisecond && attempt < 3 {
			continue // too slow to tell a flush from an expiry; try again
		}
		expectCalls("after a flush", before, 1)
		if got := s.Front.Stats().CacheFlushes - flushes; got != 1 {
			t.Errorf("the front answered %d flushes, want 1", got)
		}
		break
	}

	// A route that is not declared, whatever the key, is API Gateway's missing token.
	call(http.MethodGet, "/v1/nowhere", "allow-all").wantProblem(t, "MISSING_AUTHENTICATION_TOKEN", http.StatusForbidden)
	call(http.MethodDelete, "/v1/probe", "allow-all").wantProblem(t, "MISSING_AUTHENTICATION_TOKEN", http.StatusForbidden)

	// The functions' trace segments hold no canary either.
	for _, id := range s.Traces.Traces() {
		for _, seg := range s.Traces.Segments(id) {
			canaries.CheckText("trace segment", string(seg.Document))
		}
	}
}

// The admin route admits only requests signed with SigV4 by the local credentials, fresh; a
// signed request reaches the function with the caller's identity.
func TestFrontAdmitsOnlySignedAdminRequests(t *testing.T) {
	t.Parallel()
	s, _ := shared(t, "sample", topologytest.Sample, nil)
	const path = "/v1/admin/probe"
	body := `{"op":"rotate"}`
	right := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}

	unsigned := send(t, s, http.MethodPost, path, "", body)
	unsigned.wantProblem(t, "MISSING_AUTHENTICATION_TOKEN", http.StatusForbidden)

	wrong := sendSigned(t, s, path, body, aws.Credentials{AccessKeyID: "test", SecretAccessKey: "not-the-secret"}, time.Now())
	wrong.wantProblem(t, "ACCESS_DENIED", http.StatusForbidden)
	if got := wrong.header.Get("x-amzn-ErrorType"); got != "InvalidSignatureException" {
		t.Errorf("wrong secret: x-amzn-ErrorType %q, want InvalidSignatureException", got)
	}

	stale := sendSigned(t, s, path, body, right, time.Now().Add(-10*time.Minute))
	stale.wantProblem(t, "ACCESS_DENIED", http.StatusForbidden)
	if p := stale.problem(t); !strings.HasPrefix(p.Detail, "Signature expired") {
		t.Errorf("stale signature: detail %q, want AWS's \"Signature expired\"", p.Detail)
	}

	e := sendSigned(t, s, path, body, right, time.Now()).wantEcho(t)
	id := e.Identity
	if id.AccessKey != "test" || id.AccountID != suite.Account || id.UserArn != "arn:aws:iam::"+suite.Account+":root" ||
		id.Caller == "" || id.User == "" || id.SourceIP != "127.0.0.1" {
		t.Errorf("identity passed to the function: %+v", id)
	}
	if e.Body != body || e.Resource != path || len(e.Authorizer) != 0 {
		t.Errorf("echo of the signed request: %+v", e)
	}
}

// A write to a table with a stream reaches the stream's consumer as a DynamoDB event.
func TestStreamRecordReachesItsConsumer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := shared(t, "sample", topologytest.Sample, nil)
	key := harness.Name("item")
	if _, err := env.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Provisioned.Tables["records"]),
		Item: map[string]dynamotypes.AttributeValue{
			"pk": &dynamotypes.AttributeValueMemberS{Value: key}, "sk": &dynamotypes.AttributeValueMemberS{Value: "v1"},
			"note": &dynamotypes.AttributeValueMemberS{Value: "hello"},
		},
	}); err != nil {
		t.Fatalf("put item: %v", err)
	}

	var got []delivery
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		ds, err := deliveries(ctx, s.Provisioned.Tables["deliveries"])
		if err != nil {
			return false, err.Error()
		}
		got = got[:0]
		for _, d := range ds {
			if d.Source == "aws:dynamodb" && strings.Contains(d.Keys, key) {
				got = append(got, d)
			}
		}
		return len(got) > 0, "the recorder has recorded no stream record of " + key
	})
	d := got[0]
	var keys, image map[string]map[string]string
	if err := json.Unmarshal([]byte(d.Keys), &keys); err != nil {
		t.Fatalf("keys %s: %v", d.Keys, err)
	}
	if err := json.Unmarshal([]byte(d.NewImage), &image); err != nil {
		t.Fatalf("new image %s: %v", d.NewImage, err)
	}
	if len(got) != 1 || d.EventName != "INSERT" || keys["pk"]["S"] != key || keys["sk"]["S"] != "v1" || image["note"]["S"] != "hello" {
		t.Errorf("stream deliveries of %s: %+v", key, got)
	}
	if len(s.Provisioned.Streams) != 1 || d.EventSourceARN != s.Provisioned.Streams[0].StreamARN {
		t.Errorf("eventSourceARN %q, want the table's stream %+v", d.EventSourceARN, s.Provisioned.Streams)
	}
}

// The functions' trace segments reach the suite's collector: an API request leaves the
// subsegments the authorizer and the route's function annotate with the partner.
func TestAPIRequestLeavesTraces(t *testing.T) {
	t.Parallel()
	s, _ := shared(t, "sample", topologytest.Sample, nil)
	send(t, s, http.MethodGet, "/v1/probe", "allow-all", "").wantEcho(t)

	harness.Eventually(t, 20*time.Second, func() (bool, string) {
		names := map[string]bool{}
		for _, id := range s.Traces.Traces() {
			for _, seg := range s.Traces.Segments(id) {
				if v, ok := seg.Annotation("partner"); ok && v == "p-1" {
					names[seg.Name] = true
				}
			}
		}
		if !names["authorize"] || !names["probe"] {
			return false, fmt.Sprintf("segments annotated with partner p-1: %v of %d traces (collector %+v)", names, len(s.Traces.Traces()), s.Traces.Stats())
		}
		return true, ""
	})
}

// start provisions tp under a fresh prefix, serves it on free ports, and when the test ends
// stops the suite and removes the deployment (provision.Down). With a nil logger the suite's
// logs are kept and shown only if the test fails. Only the tests that must change their
// deployment use it (see the package's doc comment); the others share one (shared).
func start(t *testing.T, tp *topology.Topology, logger *slog.Logger) (*suite.Suite, string) {
	t.Helper()
	prefix := harness.Name("lanyard")
	if logger == nil {
		logs := &syncBuffer{}
		logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("suite logs:\n%s", logs.String())
			}
		})
	}
	// Registered first, so it runs last and also removes what a failed Start left behind.
	t.Cleanup(func() { down(t, prefix, tp) })
	t.Cleanup(func() { noRotationFailure(t, prefix, tp) })
	began := time.Now()
	s, err := suite.Start(t.Context(), suiteOptions(tp, prefix, logger))
	if err != nil {
		t.Fatalf("start the suite (run `scripts/build.sh local` first): %v", err)
	}
	t.Logf("suite %s up in %s at %s", prefix, time.Since(began).Round(time.Millisecond), s.APIURL)
	onLoopbackOnly(t, s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close the suite: %v", err)
		}
		select {
		case err := <-s.Err():
			t.Errorf("the suite stopped on its own: %v", err)
		default:
		}
	})
	return s, prefix
}

// onLoopbackOnly fails the test when the suite's front answers on an address of this machine
// outside the loopback range, or its trace collector is bound to one.
func onLoopbackOnly(t *testing.T, s *suite.Suite) {
	t.Helper()
	harness.RefusedBeyondLoopback(t, "the API front", s.APIURL)
	if host, _, err := net.SplitHostPort(s.Traces.Addr()); err != nil || !net.ParseIP(host).IsLoopback() {
		t.Errorf("the trace collector listens on %s, not on a loopback address", s.Traces.Addr())
	}
}

// suiteOptions runs tp under prefix on free ports against the harness's servers.
func suiteOptions(tp *topology.Topology, prefix string, logger *slog.Logger) suite.Options {
	return suite.Options{
		Topology: tp, Prefix: prefix, CodeDir: filepath.Join(env.Root, "bin", "local"),
		Listen: "127.0.0.1:0", XRayListen: "127.0.0.1:0",
		LocalStackURL: env.LocalStackURL, DynamoDBURL: env.DynamoDBURL,
		PollInterval: 100 * time.Millisecond, Logger: logger,
		// A second local principal, whose good signature only the routes restricted to the
		// dependents refuse (TestIntrospectionThroughLocal).
		Signers: []front.Signer{{Credentials: credentials.StaticCredentialsProvider{Value: observerCreds}, ARN: observerARN}},
	}
}

// down removes the deployment of tp under prefix (provision.Down, as `lanyard local down`), so
// a run that failed half way is removed too, and fails the test when something could not be.
func down(t testing.TB, prefix string, tp *topology.Topology) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := suite.Down(ctx, suiteOptions(tp, prefix, nil)); err != nil {
		t.Errorf("remove the deployment %s: %v", prefix, err)
	}
}

// deployments are the deployments tests share, one per topology.
var deployments = &sharedDeployments{m: map[string]*deployment{}}

type sharedDeployments struct {
	mu sync.Mutex
	m  map[string]*deployment
}

// deployment is one shared deployment: started by the first test that asks for it, stopped
// and removed when the package's tests are done.
type deployment struct {
	once   sync.Once
	tp     *topology.Topology
	prefix string
	logs   *fanout
	s      *suite.Suite
	err    error
}

// shared returns the running deployment of the topology named key, which build declares (it
// is called once, by the first test asking for key). Tests sharing a deployment keep apart by
// partner: each onboards its own, and reads only its own partners' items and keys. While the
// test runs, the suite's logs also go to the canaries' capture (canary not nil), or to a
// buffer shown if the test fails.
func shared(t *testing.T, key string, build func() *topology.Topology, canary *secrettest.Canaries) (*suite.Suite, string) {
	t.Helper()
	deployments.mu.Lock()
	d, ok := deployments.m[key]
	if !ok {
		d = &deployment{prefix: harness.Name("lanyard-" + key), logs: &fanout{}}
		deployments.m[key] = d
	}
	deployments.mu.Unlock()
	if canary != nil {
		d.logs.attach(t, canary.Writer())
	} else {
		logs := &syncBuffer{}
		d.logs.attach(t, logs)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("suite logs while the test ran:\n%s", logs.String())
			}
		})
	}
	d.once.Do(func() {
		d.tp = build()
		began := time.Now()
		d.s, d.err = suite.Start(context.Background(), suiteOptions(d.tp, d.prefix, logging.NewJSON(d.logs, slog.LevelDebug)))
		if d.err == nil {
			t.Logf("shared suite %s up in %s at %s", d.prefix, time.Since(began).Round(time.Millisecond), d.s.APIURL)
			onLoopbackOnly(t, d.s)
		}
	})
	if d.err != nil {
		t.Fatalf("start the shared suite %s (run `make build-local` first): %v", d.prefix, d.err)
	}
	return d.s, d.prefix
}

// down stops every shared deployment, checks no rotation failed in it, and removes it,
// reporting on stderr; it returns false when something failed.
func (ds *sharedDeployments) down() bool {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	ok := true
	fail := func(format string, args ...any) {
		ok = false
		fmt.Fprintf(os.Stderr, "shared suite: "+format+"\n", args...)
	}
	for key, d := range ds.m {
		if d.tp == nil {
			continue
		}
		if d.s != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := d.s.Close(ctx); err != nil {
				fail("close %s (%s): %v", d.prefix, key, err)
			}
			cancel()
			select {
			case err := <-d.s.Err():
				fail("%s (%s) stopped on its own: %v", d.prefix, key, err)
			default:
			}
			if slices.ContainsFunc(d.tp.Tables, func(tb topology.Table) bool { return tb.Name == "outbox" }) {
				failures, err := rotationFailures(context.Background(), d.prefix, d.prefix+"-outbox")
				switch {
				case err != nil:
					fail("look for Credential Rotation Failed in %s: %v", d.prefix, err)
				case len(failures) > 0:
					fail("the tests sharing %s left Credential Rotation Failed behind:\n%s", d.prefix, strings.Join(failures, "\n"))
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if _, err := suite.Down(ctx, suiteOptions(d.tp, d.prefix, nil)); err != nil {
			fail("remove %s (%s): %v", d.prefix, key, err)
		}
		cancel()
	}
	return ok
}

// fanout writes to the writers attached by the tests running now.
type fanout struct {
	mu sync.Mutex
	ws map[*testing.T]io.Writer
}

// attach writes to w until the test ends.
func (f *fanout) attach(t *testing.T, w io.Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ws == nil {
		f.ws = map[*testing.T]io.Writer{}
	}
	f.ws[t] = w
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.ws, t)
	})
}

func (f *fanout) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.ws {
		_, _ = w.Write(p)
	}
	return len(p), nil
}

// gone reports an error saying the resource does not exist (any more).
func gone(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "ResourceNotFoundException", "NotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist":
		return true
	}
	return false
}

type event struct{ detailType, detail string }

// putEvents puts Lanyard events on bus in one call and returns their ids, in order.
func putEvents(t *testing.T, bus string, evs []event) []string {
	t.Helper()
	var entries []ebtypes.PutEventsRequestEntry
	for _, e := range evs {
		entries = append(entries, ebtypes.PutEventsRequestEntry{
			EventBusName: aws.String(bus), Source: aws.String(events.Source),
			DetailType: aws.String(e.detailType), Detail: aws.String(e.detail),
		})
	}
	out, err := env.EventBridge.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		t.Fatalf("put events: %v", err)
	}
	if out.FailedEntryCount != 0 || len(out.Entries) != len(evs) {
		t.Fatalf("put events: %d failed of %d", out.FailedEntryCount, len(out.Entries))
	}
	ids := make([]string, 0, len(evs))
	for _, e := range out.Entries {
		ids = append(ids, aws.ToString(e.EventId))
	}
	return ids
}

// queueCounts is a queue's visible and in-flight message counts.
func queueCounts(ctx context.Context, url string) ([2]int, error) {
	out, err := env.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return [2]int{}, fmt.Errorf("attributes of %s: %w", url, err)
	}
	var c [2]int
	for i, k := range []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		c[i], _ = strconv.Atoi(out.Attributes[string(k)])
	}
	return c, nil
}

// delivery is one item the recorder wrote (see integration/functions/recorder).
type delivery = harness.Delivery

func envelopeType(d delivery) string {
	var e struct {
		DetailType string `json:"detail-type"`
	}
	_ = json.Unmarshal([]byte(d.Body), &e)
	return e.DetailType
}

func envelopeID(body string) string {
	var e struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.ID
}

// deliveries reads every item of a recorder's table.
func deliveries(ctx context.Context, table string) ([]delivery, error) {
	return env.Deliveries(ctx, table)
}

// reply is an HTTP response from the front.
type reply struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

// send calls the front; key, when not empty, is the Authorization header.
func send(t *testing.T, s *suite.Suite, method, path, key, body string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.APIURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", key)
	}
	return do(t, req)
}

// sendSigned POSTs body to path signed with SigV4 by creds, as of signedAt.
func sendSigned(t *testing.T, s *suite.Suite, path, body string, creds aws.Credentials, signedAt time.Time) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.APIURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), "execute-api", suite.Region, signedAt); err != nil {
		t.Fatalf("sign: %v", err)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", req.Method, req.URL.Path, err)
	}
	return reply{method: req.Method, path: req.URL.Path, status: resp.StatusCode, header: resp.Header, body: b}
}

// echo is the probe's answer to an API request (integration/functions/probe).
type echo struct {
	Method         string            `json:"method"`
	Path           string            `json:"path"`
	Resource       string            `json:"resource"`
	PathParameters map[string]string `json:"pathParameters"`
	Body           string            `json:"body"`
	Stage          string            `json:"stage"`
	Authorizer     map[string]any    `json:"authorizer"`
	Identity       struct {
		AccessKey string `json:"accessKey"`
		AccountID string `json:"accountId"`
		Caller    string `json:"caller"`
		User      string `json:"user"`
		UserArn   string `json:"userArn"`
		SourceIP  string `json:"sourceIp"`
	} `json:"identity"`
}

// wantEcho fails the test unless the probe answered 200, and returns what it echoed.
func (r reply) wantEcho(t *testing.T) echo {
	t.Helper()
	var e echo
	if r.status != http.StatusOK {
		t.Fatalf("%s %s: status %d, want 200 from the probe: %s", r.method, r.path, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Method != r.method {
		t.Fatalf("%s %s: not the probe's echo (%v): %s", r.method, r.path, err, r.body)
	}
	return e
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func (r reply) problem(t *testing.T) problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s %s: Content-Type %q, want application/problem+json", r.method, r.path, ct)
	}
	var fields map[string]json.RawMessage
	var p problem
	if err := json.Unmarshal(r.body, &fields); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %s", r.method, r.path, r.body)
	}
	for _, k := range []string{"type", "title", "status"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("%s %s: problem without %q: %s", r.method, r.path, k, r.body)
		}
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("%s %s: problem fields of the wrong type: %s", r.method, r.path, r.body)
	}
	return p
}

// wantProblem checks the reply is the declared gateway response of that type, as problem+json.
func (r reply) wantProblem(t *testing.T, responseType string, status int) {
	t.Helper()
	i := slices.IndexFunc(topology.GatewayResponses, func(g topology.GatewayResponse) bool { return g.Type == responseType })
	if i < 0 {
		t.Fatalf("no declared gateway response %s", responseType)
	}
	want := topology.GatewayResponses[i]
	if r.status != status {
		t.Errorf("%s %s: status %d, want %d (%s): %s", r.method, r.path, r.status, status, responseType, r.body)
	}
	p := r.problem(t)
	if p.Type != want.Problem || p.Title != want.Title || p.Status != r.status {
		t.Errorf("%s %s: problem %+v, want type %s, title %q, status %d", r.method, r.path, p, want.Problem, want.Title, r.status)
	}
}

// syncBuffer is a bytes.Buffer safe for the suite's concurrent loggers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
