package health_test

import (
	"context"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/health"
)

func TestHandleReportsVersionAndRegion(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	h := health.Handler{Version: "v1.2.3", Region: "eu-west-1", Now: func() time.Time { return at }}
	got, err := h.Handle(context.Background())
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	want := health.Report{Status: "ok", Version: "v1.2.3", Region: "eu-west-1", Time: at.UTC()}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
