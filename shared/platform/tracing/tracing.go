// Package tracing is Lanyard's one seam onto the tracer. Nothing else imports the X-Ray SDK,
// so the move to OpenTelemetry (the X-Ray SDK for Go ends support on 2027-02-25) touches this
// package and its tracingtest helper alone.
//
// Inside Lambda, active tracing gives every invocation a facade segment; Start opens
// subsegments under it and annotations go there (the facade itself is never sent). Elsewhere —
// the CLI, `lanyard local`, tests — Start opens a root segment and every segment is sampled.
// Segments go over UDP to AWS_XRAY_DAEMON_ADDRESS (default 127.0.0.1:2000); with nothing
// listening the datagrams are dropped and the tracer logs only at debug level.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-xray-sdk-go/instrumentation/awsv2"
	"github.com/aws/aws-xray-sdk-go/strategy/ctxmissing"
	"github.com/aws/aws-xray-sdk-go/strategy/sampling"
	"github.com/aws/aws-xray-sdk-go/xray"
	"github.com/aws/aws-xray-sdk-go/xraylog"

	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

// DaemonAddressEnv names the variable that says where segments go.
const DaemonAddressEnv = "AWS_XRAY_DAEMON_ADDRESS"

// sampleEverything is X-Ray's localized sampling document with one rule: record every segment.
// Only used outside Lambda, where Lanyard's own tools are the only callers.
const sampleEverything = `{"version": 2, "default": {"fixed_target": 1, "rate": 1.0}}`

var setupMu sync.Mutex

func init() {
	// The tracer's own chatter (emit failures with no daemon, missing context) goes to slog at
	// debug level: quiet by default, visible with LANYARD_LOG_LEVEL=debug.
	xray.SetLogger(slogBridge{})
}

// Setup configures the process tracer from the environment. Call it once from main (Load does);
// calling it again re-reads AWS_XRAY_DAEMON_ADDRESS.
func Setup() error {
	setupMu.Lock()
	defer setupMu.Unlock()
	cfg := xray.Config{
		DaemonAddr:             os.Getenv(DaemonAddressEnv),
		ContextMissingStrategy: ctxmissing.NewDefaultIgnoreErrorStrategy(),
	}
	if !logging.InLambda() {
		s, err := sampling.NewLocalizedStrategyFromJSONBytes([]byte(sampleEverything))
		if err != nil {
			return fmt.Errorf("tracing: build sampling strategy: %w", err)
		}
		cfg.SamplingStrategy = s
	}
	if err := xray.Configure(cfg); err != nil {
		return fmt.Errorf("tracing: %s is not host:port: %w", DaemonAddressEnv, err)
	}
	return nil
}

// InstrumentAWS traces every call made by SDK clients built from cfg: one subsegment per call
// with service, operation, region, request id and status.
func InstrumentAWS(cfg *aws.Config) {
	awsv2.AWSV2Instrumentor(&cfg.APIOptions)
}

// Span is one unit of traced work.
type Span struct {
	seg *xray.Segment
}

// Start opens a span named name: a subsegment when ctx already carries a trace (always inside
// Lambda), a new root segment otherwise. End it with End.
func Start(ctx context.Context, name string) (context.Context, *Span) {
	if xray.GetSegment(ctx) != nil || logging.InLambda() {
		ctx, seg := xray.BeginSubsegment(ctx, name)
		return ctx, &Span{seg: seg}
	}
	ctx, seg := xray.BeginSegment(ctx, name)
	return ctx, &Span{seg: seg}
}

// Annotate adds an indexed annotation (searchable in the X-Ray console), e.g. the partner id.
// Values are ids and names, never secret material.
func (s *Span) Annotate(key, value string) {
	if s == nil || s.seg == nil {
		return
	}
	_ = s.seg.AddAnnotation(key, value)
}

// End closes the span, recording err as a fault when it is not nil.
func (s *Span) End(err error) {
	if s == nil || s.seg == nil {
		return
	}
	s.seg.Close(err)
}

// TraceID returns the id of the trace ctx belongs to, or "" when there is none.
func TraceID(ctx context.Context) string {
	return xray.TraceID(ctx)
}

// slogBridge sends the X-Ray SDK's log lines to slog at debug level.
type slogBridge struct{}

func (slogBridge) Log(level xraylog.LogLevel, msg fmt.Stringer) {
	// The SDK logs on every span; render its message only when someone reads it.
	if !slog.Default().Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	slog.Debug("xray: "+msg.String(), "xrayLevel", level.String())
}
