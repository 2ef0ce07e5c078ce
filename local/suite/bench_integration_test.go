//go:build integration

package suite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/topology"
)

// BenchmarkFrontOverDirectInvoke measures what the local API front adds to a request: each
// iteration sends one request through the front (authorizer cache hit, then LocalStack's Invoke
// of the probe) and makes one direct Lambda Invoke of the same function with the same kind of
// event, timing each. Interleaving them keeps both under the same machine load. Reported:
// front-ns/op, direct-ns/op and their ratio.
func BenchmarkFrontOverDirectInvoke(b *testing.B) {
	env, err := harness.Connect(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	tp := &topology.Topology{
		Functions: []topology.Function{
			{Name: "probe", Main: "integration/functions/probe", MemoryMB: 128, Timeout: 5 * time.Second},
			{Name: "stub-authorizer", Main: "integration/functions/stub-authorizer", MemoryMB: 128, Timeout: 5 * time.Second},
		},
		Authorizer:       &topology.Authorizer{Function: "stub-authorizer", IdentityHeader: "Authorization", ResultTTL: time.Hour},
		Routes:           []topology.Route{{Method: "GET", Path: "/v1/probe", Function: "probe", Auth: topology.AuthPartnerKey}},
		GatewayResponses: topology.GatewayResponses,
	}
	ctx := context.Background()
	s, err := suite.Start(ctx, suite.Options{
		Topology: tp, Prefix: harness.Name("bench"), CodeDir: env.Root + "/bin/local",
		Listen: "127.0.0.1:0", XRayListen: "127.0.0.1:0",
		LocalStackURL: env.LocalStackURL, DynamoDBURL: env.DynamoDBURL,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = s.Close(context.Background())
		for _, fn := range s.Provisioned.Functions {
			_, _ = env.Lambda.DeleteFunction(context.Background(), &lambda.DeleteFunctionInput{FunctionName: aws.String(fn)})
		}
	})

	client := &http.Client{}
	viaFront := func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL+"/v1/probe", nil)
		req.Header.Set("Authorization", "allow-all")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("front answered %d", resp.StatusCode)
		}
	}
	event := []byte(`{"httpMethod":"GET","path":"/v1/probe","resource":"/v1/probe","headers":{},"requestContext":{"authorizer":{"partner":"p-1"}}}`)
	direct := func() {
		out, err := env.Lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(s.Provisioned.Functions["probe"]), Payload: event})
		if err != nil || out.FunctionError != nil {
			b.Fatalf("direct invoke: %v", err)
		}
	}
	// Warm both paths: the execution environment, the authorizer cache, connections.
	for range 3 {
		viaFront()
		direct()
	}

	var front, dir []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		viaFront()
		t1 := time.Now()
		direct()
		front, dir = append(front, t1.Sub(t0)), append(dir, time.Since(t1))
	}
	b.StopTimer()
	if st := s.Front.Stats(); st.AuthorizerInvocations != 1 {
		b.Fatalf("authorizer called %d times; the benchmark must measure cache hits", st.AuthorizerInvocations)
	}
	med := func(d []time.Duration) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[len(d)/2].Nanoseconds())
	}
	f, d := med(front), med(dir)
	b.ReportMetric(f, "front-median-ns")
	b.ReportMetric(d, "direct-median-ns")
	b.ReportMetric(f/d, "front/direct")
}

// BenchmarkOnboarding measures POST /v1/partners through `lanyard local` with the production
// functions: each iteration onboards a new partner with its own invite (issued beforehand,
// outside the timing), first one at a time, then eight at a time. Reported: p50 and p99 of each
// mode, and the p50s over the p50 of GET /v1/health through the same front in the same run
// (the cost of any request through the front and LocalStack's Invoke), as ratios; and the AWS
// calls per onboarding, in all and per service, as the onboarding function's invocations of
// the timed part logged them (shared/platform/awscalls).
func BenchmarkOnboarding(b *testing.B) {
	env, err := harness.Connect(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	prefix := harness.Name("bench")
	s, err := suite.Start(ctx, suite.Options{
		Topology: topology.Lanyard(), Prefix: prefix, CodeDir: env.Root + "/bin/local",
		Listen: "127.0.0.1:0", XRayListen: "127.0.0.1:0",
		LocalStackURL: env.LocalStackURL, DynamoDBURL: env.DynamoDBURL,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = s.Close(context.Background())
		for _, fn := range s.Provisioned.Functions {
			_, _ = env.Lambda.DeleteFunction(context.Background(), &lambda.DeleteFunctionInput{FunctionName: aws.String(fn)})
		}
	})
	client := &http.Client{}
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}

	post := func(path string, header map[string]string, body string, sign bool) (int, []byte) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if sign {
			sum := sha256.Sum256([]byte(body))
			if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", suite.Region, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	type job struct{ name, code string }
	invites := func(n int) []job {
		jobs := make([]job, n)
		for i := range jobs {
			name := harness.Name("Bench Partner")
			status, body := post("/v1/admin/invites", nil, fmt.Sprintf(`{"partnerName":%q,"tier":"sandbox"}`, name), true)
			var inv struct {
				InviteCode string `json:"inviteCode"`
			}
			if status != http.StatusCreated || json.Unmarshal(body, &inv) != nil {
				b.Fatalf("issue an invite: %d", status)
			}
			jobs[i] = job{name, inv.InviteCode}
		}
		return jobs
	}
	onboard := func(j job) time.Duration {
		body := fmt.Sprintf(`{"partnerName":%q,"inviteCode":%q,"scopes":["orders:read"]}`, j.name, j.code)
		t0 := time.Now()
		status, _ := post("/v1/partners", map[string]string{"Idempotency-Key": harness.Name("idem")}, body, false)
		d := time.Since(t0)
		if status != http.StatusCreated {
			b.Fatalf("onboard: %d", status)
		}
		return d
	}
	health := func() time.Duration {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL+"/v1/health", nil)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return time.Since(t0)
	}
	// Warm every function on both paths.
	for _, j := range invites(2) {
		onboard(j)
	}
	health()

	b.StopTimer()
	n := b.N
	seqJobs, concJobs := invites(n), invites(n)
	var seq, conc, base []time.Duration
	since := time.Now()
	b.StartTimer()
	for _, j := range seqJobs {
		seq = append(seq, onboard(j))
		base = append(base, health())
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan job)
	for range 8 {
		wg.Go(func() {
			for j := range work {
				d := onboard(j)
				mu.Lock()
				conc = append(conc, d)
				mu.Unlock()
			}
		})
	}
	for _, j := range concJobs {
		work <- j
	}
	close(work)
	wg.Wait()
	b.StopTimer()

	pct := func(d []time.Duration, p float64) float64 {
		sorted := slices.Clone(d)
		slices.Sort(sorted)
		i := int(math.Ceil(p*float64(len(sorted)))) - 1
		return float64(sorted[max(i, 0)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(seq, 0.5), "seq-p50-ms")
	b.ReportMetric(pct(seq, 0.99), "seq-p99-ms")
	b.ReportMetric(pct(conc, 0.5), "conc8-p50-ms")
	b.ReportMetric(pct(conc, 0.99), "conc8-p99-ms")
	b.ReportMetric(pct(base, 0.5), "health-p50-ms")
	b.ReportMetric(pct(seq, 0.5)/pct(base, 0.5), "seq-p50/health-p50")
	b.ReportMetric(pct(conc, 0.5)/pct(base, 0.5), "conc8-p50/health-p50")

	lines := waitCalls(b, s.Provisioned.Functions["onboarding"], since, len(seq)+len(conc), nil)
	logSequences(b, "onboarding", lines)
	total, per := callsPer(lines)
	b.ReportMetric(total, "aws-calls/onboarding")
	b.ReportMetric(per("DynamoDB"), "ddb-calls/onboarding")
	b.ReportMetric(per("Secrets Manager"), "sm-calls/onboarding")
}
