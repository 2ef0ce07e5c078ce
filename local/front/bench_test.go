package front_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/lanyardhq/lanyard/local/front"
	"github.com/lanyardhq/lanyard/local/invoke"
)

// benchSetup returns a front whose authorizer cache already holds the benchmark key's policy,
// the invoke.Func behind it (canned answers, no work) and the proxy event the front sends.
func benchSetup(b *testing.B) (*front.Front, *http.Request, invoke.Func, []byte) {
	b.Helper()
	allow, err := json.Marshal(policyAnswer("Allow", arnPrefix+"*"))
	if err != nil {
		b.Fatal(err)
	}
	canned := []byte(cannedResponse)
	var event []byte
	fn := invoke.Func(func(_ context.Context, function string, payload []byte) (invoke.Result, error) {
		if function == authorizerLambda {
			return invoke.Result{Payload: allow}, nil
		}
		if event == nil {
			event = payload
		}
		return invoke.Result{Payload: canned}, nil
	})
	f, err := front.New(front.Config{
		Topology: testTopology(), Invoker: fn, Region: testRegion, AccountID: testAccount, APIID: testAPI,
		Credentials: credentials.StaticCredentialsProvider{Value: localCreds},
		Now:         func() time.Time { return epoch },
		Logger:      discardLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/probe?page=2", nil)
	req.Header.Set("Authorization", "bench-key")
	req.Header.Set("Accept", "application/json")
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, req) // the authorizer runs once; every later request is a cache hit
	if rec.Code != http.StatusCreated || event == nil {
		b.Fatalf("priming request answered %d", rec.Code)
	}
	return f, req, fn, event
}

// BenchmarkFrontCachedAuthorizer is one partner-key request through the front with an
// authorizer cache hit. Its x-direct metric is its time per request over
// BenchmarkDirectInvoke's, measured in the same run: the front's own overhead as a ratio.
func BenchmarkFrontCachedAuthorizer(b *testing.B) {
	f, req, fn, event := benchSetup(b)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("status %d", rec.Code)
		}
	}
	if s := f.Stats(); s.AuthorizerInvocations != 1 {
		b.Fatalf("authorizer invoked %d times, want 1 (cache hits only)", s.AuthorizerInvocations)
	}
	perRequest := b.Elapsed() / time.Duration(b.N)
	direct := timeDirectInvokes(b.Context(), fn, event, max(b.N, 10000))
	b.ReportMetric(float64(perRequest)/float64(direct), "x-direct")
	b.ReportMetric(float64(perRequest-direct), "overhead-ns/op")
}

// BenchmarkDirectInvoke calls the same invoke.Func with the same proxy event, without the front.
func BenchmarkDirectInvoke(b *testing.B) {
	_, _, fn, event := benchSetup(b)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		res, err := fn.Invoke(ctx, routeLambda, event)
		if err != nil || res.FunctionError != "" {
			b.Fatal("invoke failed")
		}
	}
}

func timeDirectInvokes(ctx context.Context, fn invoke.Func, event []byte, n int) time.Duration {
	start := time.Now()
	for range n {
		_, _ = fn.Invoke(ctx, routeLambda, event)
	}
	if d := time.Since(start) / time.Duration(n); d > 0 {
		return d
	}
	return 1
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
