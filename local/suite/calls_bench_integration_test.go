//go:build integration

package suite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/platform/awscalls"
)

// invocationCalls is one invocation's line of shared/platform/awscalls (every function logs one
// per invocation, counted by the SDK middleware on its clients) with the fields the
// invocation's other lines gave (a rotation step's "step", an authorizer decision's "cached").
type invocationCalls struct {
	requestID   string
	total       int
	byOperation map[string]int
	sequence    []string
	fields      map[string]any
}

// service is the calls of the invocation to one service ("DynamoDB", "Secrets Manager", "STS").
func (c invocationCalls) service(name string) int {
	n := 0
	for op, k := range c.byOperation {
		if strings.HasPrefix(op, name+".") {
			n += k
		}
	}
	return n
}

// functionCalls reads function's log from since on and returns its invocations' call lines in
// log order, each with the fields of the invocation's other lines.
func functionCalls(ctx context.Context, function string, since time.Time) ([]invocationCalls, error) {
	p := cloudwatchlogs.NewFilterLogEventsPaginator(env.Logs, &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName: aws.String("/aws/lambda/" + function), StartTime: aws.Int64(since.Add(-time.Second).UnixMilli()),
	})
	var out []invocationCalls
	fields := map[string]map[string]any{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the log of %s: %w", function, err)
		}
		for _, e := range page.Events {
			msg := aws.ToString(e.Message)
			i := strings.Index(msg, "{")
			if i < 0 {
				continue
			}
			var line map[string]any
			if json.Unmarshal([]byte(msg[i:]), &line) != nil {
				continue
			}
			id, _ := line["requestId"].(string)
			if id == "" {
				continue
			}
			if line["message"] != awscalls.Message {
				if fields[id] == nil {
					fields[id] = map[string]any{}
				}
				for k, v := range line {
					fields[id][k] = v
				}
				continue
			}
			var c struct {
				Total int            `json:"awsCalls"`
				By    map[string]int `json:"awsCallsByOperation"`
				Seq   []string       `json:"awsCallSequence"`
			}
			if err := json.Unmarshal([]byte(msg[i:]), &c); err != nil {
				return nil, fmt.Errorf("a calls line of %s: %w", function, err)
			}
			out = append(out, invocationCalls{requestID: id, total: c.Total, byOperation: c.By, sequence: c.Seq})
		}
	}
	for i := range out {
		out[i].fields = fields[out[i].requestID]
	}
	return out, nil
}

// waitCalls waits until function's log from since on holds at least n call lines for which
// keep is true (nil: every line), and returns those.
func waitCalls(b *testing.B, function string, since time.Time, n int, keep func(invocationCalls) bool) []invocationCalls {
	b.Helper()
	var got []invocationCalls
	harness.Eventually(b, 60*time.Second, func() (bool, string) {
		all, err := functionCalls(context.Background(), function, since)
		if err != nil {
			return false, err.Error()
		}
		got = slices.DeleteFunc(all, func(c invocationCalls) bool { return keep != nil && !keep(c) })
		return len(got) >= n, fmt.Sprintf("%d of %d call lines of %s", len(got), n, function)
	})
	return got
}

// callsPer is the mean calls per invocation of lines: in total, and to each service named.
func callsPer(lines []invocationCalls) (total float64, byService func(string) float64) {
	if len(lines) == 0 {
		return 0, func(string) float64 { return 0 }
	}
	n := float64(len(lines))
	for _, c := range lines {
		total += float64(c.total)
	}
	return total / n, func(s string) float64 {
		sum := 0
		for _, c := range lines {
			sum += c.service(s)
		}
		return float64(sum) / n
	}
}

// logSequences logs each distinct call sequence of lines with how many invocations made it
// (seen with go test -v).
func logSequences(b *testing.B, what string, lines []invocationCalls) {
	b.Helper()
	seen := map[string]int{}
	for _, c := range lines {
		seen[strings.Join(c.sequence, " ")]++
	}
	for _, k := range slices.Sorted(maps.Keys(seen)) {
		b.Logf("%s: %d× [%s]", what, seen[k], k)
	}
}

// benchKeys onboards n sandbox partners through the front, one at a time, and returns their
// API keys.
func benchKeys(b *testing.B, s *suite.Suite, n int) []string {
	b.Helper()
	ctx := context.Background()
	post := func(path string, header map[string]string, body string, sign bool) (int, []byte) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if sign {
			sum := sha256.Sum256([]byte(body))
			if err := v4.NewSigner().SignHTTP(ctx, localCreds, req, hex.EncodeToString(sum[:]), "execute-api", suite.Region, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	keys := make([]string, n)
	for i := range keys {
		name := harness.Name("Calls Bench")
		status, body := post("/v1/admin/invites", nil, fmt.Sprintf(`{"partnerName":%q,"tier":"sandbox"}`, name), true)
		var inv struct {
			InviteCode string `json:"inviteCode"`
		}
		if status != http.StatusCreated || json.Unmarshal(body, &inv) != nil {
			b.Fatalf("issue an invite: %d", status)
		}
		status, body = post("/v1/partners", map[string]string{"Idempotency-Key": harness.Name("idem")},
			fmt.Sprintf(`{"partnerName":%q,"inviteCode":%q,"scopes":["orders:read"]}`, name, inv.InviteCode), false)
		var ob struct {
			APIKey string `json:"apiKey"`
		}
		if status != http.StatusCreated || json.Unmarshal(body, &ob) != nil || ob.APIKey == "" {
			b.Fatalf("onboard: %d", status)
		}
		keys[i] = ob.APIKey
	}
	return keys
}

// median of d in milliseconds.
func medianMS(d []time.Duration) float64 {
	sorted := slices.Clone(d)
	slices.Sort(sorted)
	return float64(sorted[len(sorted)/2].Microseconds()) / 1000
}

// BenchmarkTokenExchange measures POST /v1/token (a partner key exchanged for temporary AWS
// credentials) through `lanyard local` with the production functions, each iteration next to a
// GET /v1/health through the same front. Reported: the medians and their ratio, and the AWS
// calls per exchange the token function's invocations logged (shared/platform/awscalls): in all
// and per service.
func BenchmarkTokenExchange(b *testing.B) {
	s, _ := benchSuite(b)
	key := benchKeys(b, s, 1)[0]
	ctx := context.Background()
	do := func(method, path, auth string, want int) time.Duration {
		req, _ := http.NewRequestWithContext(ctx, method, s.APIURL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			b.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
		return time.Since(t0)
	}
	for range 2 { // warm the functions and the front's authorizer cache
		do(http.MethodPost, "/v1/token", "Bearer "+key, http.StatusOK)
		do(http.MethodGet, "/v1/health", "", http.StatusOK)
	}
	since := time.Now()
	var tok, health []time.Duration
	for b.Loop() {
		tok = append(tok, do(http.MethodPost, "/v1/token", "Bearer "+key, http.StatusOK))
		health = append(health, do(http.MethodGet, "/v1/health", "", http.StatusOK))
	}
	lines := waitCalls(b, s.Provisioned.Functions["token"], since, len(tok), nil)
	logSequences(b, "token exchange", lines)
	total, per := callsPer(lines)
	t, h := medianMS(tok), medianMS(health)
	b.ReportMetric(t, "token-median-ms")
	b.ReportMetric(h, "health-median-ms")
	b.ReportMetric(t/h, "token/health")
	b.ReportMetric(total, "aws-calls/exchange")
	b.ReportMetric(per("DynamoDB"), "ddb-calls/exchange")
	b.ReportMetric(per("STS"), "sts-calls/exchange")
}

// BenchmarkAuthorizer measures the partner-key authorizer's decisions by invoking the deployed
// function directly (the front's own policy cache would hide it), each next to a direct Invoke
// of the healthcheck function (the cost of any Invoke). With the policy's keyCacheTtl at 0s
// every decision reads the key's registry entry; the benchmark checks none was served from
// memory. Reported: both medians and their ratio, and the AWS calls per decision the function's
// invocations logged (shared/platform/awscalls).
func BenchmarkAuthorizer(b *testing.B) {
	s, _ := benchSuite(b)
	const keysN = 4
	keys := benchKeys(b, s, keysN)
	ctx := context.Background()
	fn := s.Provisioned.Functions["authorizer"]
	arn := fmt.Sprintf("arn:aws:execute-api:%s:%s:bench/local/GET/v1/partners/me", suite.Region, suite.Account)
	invoke := func(fn string, payload []byte, want string) time.Duration {
		t0 := time.Now()
		out, err := env.Lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: payload})
		d := time.Since(t0)
		if err != nil || out.FunctionError != nil || !strings.Contains(string(out.Payload), want) {
			b.Fatalf("invoke %s: %v %s", fn, err, aws.ToString(out.FunctionError))
		}
		return d
	}
	decide := func(key string) time.Duration {
		ev, _ := json.Marshal(map[string]any{
			"type": "REQUEST", "methodArn": arn, "resource": "/v1/partners/me", "path": "/v1/partners/me",
			"httpMethod": "GET", "headers": map[string]string{"Authorization": "Bearer " + key},
		})
		return invoke(fn, ev, `"Allow"`)
	}
	health := func() time.Duration {
		return invoke(s.Provisioned.Functions["healthcheck"], []byte(`{"httpMethod":"GET","path":"/v1/health","resource":"/v1/health"}`), `"statusCode":200`)
	}
	for _, k := range keys { // warm both functions
		decide(k)
		health()
	}
	since := time.Now()
	var decisions, healths []time.Duration
	for b.Loop() {
		decisions = append(decisions, decide(keys[len(decisions)%keysN]))
		healths = append(healths, health())
	}
	fromMemory := func(c invocationCalls) bool { v, ok := c.fields["cached"].(bool); return ok && v }
	lines := waitCalls(b, fn, since, len(decisions), nil)
	logSequences(b, "decision", lines)
	for _, l := range lines {
		if fromMemory(l) {
			b.Fatal("a decision was served from the in-memory key cache, which the policy switches off")
		}
	}
	calls, per := callsPer(lines)
	d, h := medianMS(decisions), medianMS(healths)
	b.ReportMetric(d, "decision-median-ms")
	b.ReportMetric(h, "health-invoke-median-ms")
	b.ReportMetric(d/h, "decision/health")
	b.ReportMetric(calls, "aws-calls/decision")
	b.ReportMetric(per("DynamoDB"), "ddb-calls/decision")
}
