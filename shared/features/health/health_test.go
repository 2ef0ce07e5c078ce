package health_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/features/health"
)

func TestHandleReportsVersionAndRegion(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	h := health.Handler{Version: "v1.2.3", Region: "eu-west-1", Now: func() time.Time { return at }}
	resp, err := h.Handle(context.Background(), lambdaevents.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/v1/health"})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if resp.StatusCode != 200 || resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("response %d %v", resp.StatusCode, resp.Headers)
	}
	var got health.Report
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	want := health.Report{Status: "ok", Version: "v1.2.3", Region: "eu-west-1", Time: at.UTC()}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// A report that cannot be encoded (a clock past the year 9999) is answered as every route's
// fault is, by the envelope: 500 problem+json, never a Lambda error.
func TestHandleAnswersAFaultAsAProblem(t *testing.T) {
	t.Parallel()
	h := health.Handler{Version: "v1", Region: "eu-west-1", Now: func() time.Time { return time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }}
	resp, err := h.Handle(context.Background(), lambdaevents.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/v1/health"})
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	if resp.StatusCode != 500 || resp.Headers["Content-Type"] != "application/problem+json" {
		t.Fatalf("response %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
}
