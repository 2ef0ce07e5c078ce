package tracing_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/fakes/tracingtest"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
)

func outsideLambda(t *testing.T) {
	t.Helper()
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
}

// A segment must reach whatever listens at AWS_XRAY_DAEMON_ADDRESS, in the daemon's wire format:
// a JSON header line, then the segment document.
func TestSegmentReachesDaemonAddress(t *testing.T) {
	outsideLambda(t)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	t.Setenv(tracing.DaemonAddressEnv, conn.LocalAddr().String())
	if err := tracing.Setup(); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		t.Setenv(tracing.DaemonAddressEnv, "127.0.0.1:2000")
		_ = tracing.Setup()
	})

	ctx, span := tracing.Start(context.Background(), "lanyard-test")
	span.Annotate("partner", "p-123")
	_, child := tracing.Start(ctx, "child-work")
	child.End(nil)
	span.End(nil)

	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatalf("deadline: %v", err)
	}
	buf := make([]byte, 64*1024)
	n, _, err := conn.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no segment arrived at the daemon address: %v", err)
	}
	header, body, ok := strings.Cut(string(buf[:n]), "\n")
	if !ok || !strings.Contains(header, `"format"`) {
		t.Fatalf("datagram is not in the daemon format: %q", string(buf[:n]))
	}
	var seg struct {
		Name        string            `json:"name"`
		TraceID     string            `json:"trace_id"`
		Annotations map[string]string `json:"annotations"`
		Subsegments []struct {
			Name string `json:"name"`
		} `json:"subsegments"`
	}
	if err := json.Unmarshal([]byte(body), &seg); err != nil {
		t.Fatalf("segment is not JSON: %v", err)
	}
	if seg.Name != "lanyard-test" || seg.TraceID == "" || seg.Annotations["partner"] != "p-123" {
		t.Errorf("unexpected segment: %+v", seg)
	}
	if len(seg.Subsegments) != 1 || seg.Subsegments[0].Name != "child-work" {
		t.Errorf("subsegment missing: %+v", seg.Subsegments)
	}
}

// With nothing listening the tracer must neither fail nor block the work it traces.
func TestNoDaemonIsHarmless(t *testing.T) {
	outsideLambda(t)
	t.Setenv(tracing.DaemonAddressEnv, "127.0.0.1:1")
	if err := tracing.Setup(); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		t.Setenv(tracing.DaemonAddressEnv, "127.0.0.1:2000")
		_ = tracing.Setup()
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			_, s := tracing.Start(context.Background(), "quiet")
			s.End(errors.New("boom"))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("tracing blocked with no daemon listening")
	}
}

func TestSetupRefusesMalformedDaemonAddress(t *testing.T) {
	outsideLambda(t)
	t.Setenv(tracing.DaemonAddressEnv, "not-an-address")
	err := tracing.Setup()
	t.Setenv(tracing.DaemonAddressEnv, "127.0.0.1:2000")
	_ = tracing.Setup()
	if err == nil || !strings.Contains(err.Error(), tracing.DaemonAddressEnv) {
		t.Fatalf("want an error naming %s, got %v", tracing.DaemonAddressEnv, err)
	}
}

func TestRecorderCapturesSegmentsAndErrors(t *testing.T) {
	outsideLambda(t)
	rec := tracingtest.Install(t)
	ctx, span := tracing.Start(context.Background(), "onboard")
	if tracing.TraceID(ctx) == "" {
		t.Error("no trace id in a traced context")
	}
	span.Annotate("partner", "p-9")
	span.End(errors.New("registry write failed"))
	docs := rec.Documents()
	if len(docs) != 1 {
		t.Fatalf("want 1 segment, got %d", len(docs))
	}
	for _, want := range []string{`"name":"onboard"`, `"partner":"p-9"`, "registry write failed"} {
		if !strings.Contains(docs[0], want) {
			t.Errorf("segment lacks %s: %s", want, docs[0])
		}
	}
	var nilSpan *tracing.Span
	nilSpan.Annotate("k", "v") // a nil span is inert
	nilSpan.End(nil)
}
