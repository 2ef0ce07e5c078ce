//go:build integration

package suite_test

import (
	"context"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
			{Name: "authorizer", Main: "integration/functions/authorizer", MemoryMB: 128, Timeout: 5 * time.Second},
		},
		Authorizer:       &topology.Authorizer{Function: "authorizer", IdentityHeader: "Authorization", ResultTTL: time.Hour},
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
