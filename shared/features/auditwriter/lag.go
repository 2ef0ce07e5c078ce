package auditwriter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/platform/metrics"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// Metric names of the lag check.
const (
	MetricLagSeconds = "AuditWriterLagSeconds"
	MetricBehind     = "AuditWriterBehind"
)

// Pending is what the lag check reads of the outbox.
type Pending interface {
	OldestUnaudited(ctx context.Context) (outbox.Unaudited, bool, error)
}

var _ Pending = (*outbox.Store)(nil)

// MetricsWriter writes an EMF document.
type MetricsWriter interface {
	Emit(d metrics.Document) error
}

var _ MetricsWriter = (*metrics.Writer)(nil)

// Lag is how far behind the outbox the audit log is.
type Lag struct {
	// Found says a record waits; Oldest is the one that has waited longest.
	Found  bool
	Oldest outbox.Unaudited
	// Lag is how long it has waited (0 when none waits, and never less).
	Lag time.Duration
	// Budget is the policy's audit.writerLagBudget; Behind says Lag is past it.
	Budget time.Duration
	Behind bool
}

// MeasureLag reads the oldest record not yet written to the audit log and says how long it has
// waited at now, against budget.
func MeasureLag(ctx context.Context, p Pending, budget time.Duration, now time.Time) (Lag, error) {
	oldest, found, err := p.OldestUnaudited(ctx)
	if err != nil {
		return Lag{}, fmt.Errorf("measure the audit writer's lag: %w", err)
	}
	l := Lag{Found: found, Oldest: oldest, Budget: budget}
	if found {
		l.Lag = max(now.Sub(oldest.CommittedAt), 0)
		l.Behind = l.Lag > budget
	}
	return l, nil
}

// LagCheck is the audit-lag schedule's work: measure the lag and write it as metrics.
type LagCheck struct {
	Outbox  Pending
	Budget  time.Duration
	Metrics MetricsWriter
	// Function is the Function dimension of the metrics (the writer's function name).
	Function string
	Now      func() time.Time
}

// Check measures the lag and writes AuditWriterLagSeconds and AuditWriterBehind, with the
// function as their one dimension (never a partner or a chain). A failed read fails the
// invocation, so it shows; no metric is written for it, which an alarm treats as missing data.
func (c *LagCheck) Check(ctx context.Context) (Lag, error) {
	now := time.Now().UTC()
	if c.Now != nil {
		now = c.Now().UTC()
	}
	l, err := MeasureLag(ctx, c.Outbox, c.Budget, now)
	if err != nil {
		return Lag{}, err
	}
	behind := 0.0
	if l.Behind {
		behind = 1
		slog.WarnContext(ctx, "audit writer behind its budget", "lag", l.Lag.String(), "budget", l.Budget.String(),
			"chain", l.Oldest.Chain, "seq", l.Oldest.Seq)
	}
	slog.InfoContext(ctx, "audit lag", "lagSeconds", l.Lag.Seconds(), "behind", l.Behind, "found", l.Found)
	if c.Metrics != nil {
		if err := c.Metrics.Emit(metrics.Document{
			Dimensions: []metrics.Dimension{{Name: "Function", Value: c.Function}},
			Metrics: []metrics.Metric{
				{Name: MetricLagSeconds, Unit: metrics.Seconds, Values: []float64{l.Lag.Seconds()}},
				{Name: MetricBehind, Unit: metrics.Count, Values: []float64{behind}},
			},
		}); err != nil {
			slog.WarnContext(ctx, "audit lag: metrics not written", "error", err)
		}
	}
	return l, nil
}

// Handler is the function's entry point for both of its triggers.
type Handler struct {
	Writer *Writer
	Lag    *LagCheck
}

// Handle takes an SQS batch (it has Records) to the writer, and anything else (the audit-lag
// schedule's event, whose content the check does not need) to the lag check.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("audit writer: the invocation's event is not JSON: %w", err)
	}
	if probe.Records != nil {
		var batch lambdaevents.SQSEvent
		if err := json.Unmarshal(raw, &batch); err != nil {
			return nil, fmt.Errorf("audit writer: decode the SQS batch: %w", err)
		}
		return h.Writer.HandleEvents(ctx, batch), nil
	}
	_, err := h.Lag.Check(ctx)
	return nil, err
}
