// Package awscalls counts the AWS calls each invocation of a function makes, by service and
// operation, so the cost of an operation in calls is measured rather than counted by hand.
//
// Two halves:
//
//   - Instrument adds an SDK middleware to an aws.Config: every client built from it afterwards
//     counts each operation it is asked for in the Tally its context carries (none: nothing is
//     counted). The middleware sits at the front of the Initialize step, outside the retry
//     loop, so one call is one operation as the code makes it, however many attempts the
//     retryer needs; a call that fails is still a call.
//   - Handler wraps a Lambda handler: each invocation gets a fresh Tally, and when it returns,
//     one log line (Message) lists its calls: "awsCalls" (the total), "awsCallsByOperation"
//     ({"DynamoDB.GetItem": 2, …}) and "awsCallSequence" (every call in order). The line
//     carries the logger's request id, so a reader can pair it with the invocation's other
//     lines.
//
// Only service and operation names are recorded: no input, output, key or id.
package awscalls

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"
)

// MiddlewareID is the id of the counting middleware in an SDK stack.
const MiddlewareID = "LanyardCountCalls"

// Message is the message of the line Handler logs per invocation; the field names follow.
const (
	Message          = "aws calls"
	FieldTotal       = "awsCalls"
	FieldByOperation = "awsCallsByOperation"
	FieldSequence    = "awsCallSequence"
)

// Tally is the calls of one unit of work. Safe for concurrent use.
type Tally struct {
	mu    sync.Mutex
	calls []string // "Service.Operation", in the order they were made
}

// Add records one call.
func (t *Tally) Add(service, operation string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls = append(t.calls, service+"."+operation)
}

// Total is the number of calls recorded.
func (t *Tally) Total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.calls)
}

// Sequence returns the calls recorded, in order, as "Service.Operation".
func (t *Tally) Sequence() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.calls)
}

// ByOperation returns the number of calls of each "Service.Operation".
func (t *Tally) ByOperation() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for _, c := range t.calls {
		out[c]++
	}
	return out
}

type tallyKey struct{}

// WithTally returns a context carrying a new Tally, and the Tally.
func WithTally(ctx context.Context) (context.Context, *Tally) {
	t := &Tally{}
	return context.WithValue(ctx, tallyKey{}, t), t
}

// FromContext returns the Tally ctx carries, or nil.
func FromContext(ctx context.Context) *Tally {
	t, _ := ctx.Value(tallyKey{}).(*Tally)
	return t
}

// Instrument adds the counting middleware to cfg: every client built from cfg afterwards counts
// its calls into the Tally of the call's context.
func Instrument(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc(MiddlewareID, count), middleware.Before)
	})
}

func count(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	if t := FromContext(ctx); t != nil {
		t.Add(middleware.GetServiceID(ctx), middleware.GetOperationName(ctx))
	}
	return next.HandleInitialize(ctx, in)
}

// Handler wraps h: each invocation runs with a fresh Tally, and logs one line with its calls to
// logger (nil: slog.Default()) once it returns.
func Handler(h lambda.Handler, logger *slog.Logger) lambda.Handler {
	return counted{next: h, log: logger}
}

type counted struct {
	next lambda.Handler
	log  *slog.Logger
}

func (c counted) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ctx, t := WithTally(ctx)
	out, err := c.next.Invoke(ctx, payload)
	Log(ctx, c.log, t)
	return out, err
}

// Log writes the line of t to logger (nil: slog.Default()).
func Log(ctx context.Context, logger *slog.Logger, t *Tally) {
	if logger == nil {
		logger = slog.Default()
	}
	by := t.ByOperation()
	ops := make(map[string]any, len(by))
	for _, k := range slices.Sorted(maps.Keys(by)) {
		ops[k] = by[k]
	}
	logger.InfoContext(ctx, Message,
		slog.Int(FieldTotal, t.Total()),
		slog.Any(FieldByOperation, ops),
		slog.Any(FieldSequence, t.Sequence()))
}
