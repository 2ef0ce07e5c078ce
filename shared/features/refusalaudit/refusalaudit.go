// Package refusalaudit writes the counts of refused onboardings to the audit log: the
// audit-refusals function runs it every minute (its schedule). Onboarding counts each refusal
// by window and reason in the refusals table (shared/stores/refusals); for each window closed
// for at least Margin since the cursor, a run reads the window's counts, writes one
// auditline.Refusals line per reason to the audit log group (one PutLogEvents, on a log stream
// of its own execution environment), then advances the cursor past the window. A window nobody
// was refused in writes nothing.
//
// Exactly once where it matters, at least once where it cannot be: the cursor advances only
// from the value the run read (a conditional update), so of two runs that read the same cursor
// one advances it and the other stops; both may have written the window's lines, but a line's
// eventId is derived from its window and reason (auditline.Refusals), so the repeat collapses
// with the first wherever the audit log is read. A run that fails between its write and its
// advance leaves the same repeat for the next run.
//
// After an outage a run catches up at most MaxWindows windows, oldest first; the next runs take
// the rest, from the oldest window still within the counts' retention (refusals.Retention). Without a cursor (the first run
// of a deployment), a run starts MaxWindows windows before the current one, which covers the
// refusals counted between the deployment and the schedule's first run.
package refusalaudit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/lanyardhq/lanyard/shared/domain/auditline"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/refusals"
)

// DefaultMargin is how long after a window's end its counts are read: a refusal counted at the
// window's last instant lands within onboarding's count timeout (seconds), well inside it.
const DefaultMargin = 30 * time.Second

// DefaultMaxWindows is how many windows one run writes at most.
const DefaultMaxWindows = 60

// LogsAPI is the part of the CloudWatch Logs client the writer uses.
type LogsAPI interface {
	CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error)
	PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error)
}

var _ LogsAPI = (*cloudwatchlogs.Client)(nil)

// Store is the part of the refusals store a run uses.
type Store interface {
	Cursor(ctx context.Context) (refusals.Cursor, error)
	Counts(ctx context.Context, start time.Time) ([]refusals.Count, error)
	Advance(ctx context.Context, prev refusals.Cursor, next time.Time) (bool, error)
}

var _ Store = (*refusals.Store)(nil)

// Writer writes closed windows' counts to the audit log. Build it once per cold start; runs
// are serialized (an execution environment runs one at a time anyway).
type Writer struct {
	Store Store
	Logs  LogsAPI
	// LogGroup is the audit log group; Stream this environment's log stream in it, created on
	// the first write.
	LogGroup string
	Stream   string
	// Window is the window length (refusals.CheckWindow), the same onboarding counts with.
	Window time.Duration
	// Margin is how long after its end a window is read; zero means DefaultMargin.
	Margin time.Duration
	// MaxWindows bounds the windows of one run; zero means DefaultMaxWindows.
	MaxWindows int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu            sync.Mutex
	streamCreated bool
}

// Report is what one run did.
type Report struct {
	// Windows is how many windows the run passed the cursor over; Lines how many lines it
	// wrote.
	Windows int
	Lines   int
	// Lost says another run advanced the cursor first: this run stopped there.
	Lost bool
	// Next is the cursor after the run.
	Next time.Time
}

func (w *Writer) now() time.Time {
	if w.Now == nil {
		return time.Now().UTC()
	}
	return w.Now().UTC()
}

// Handle is the scheduled invocation.
func (w *Writer) Handle(ctx context.Context, ev lambdaevents.EventBridgeEvent) error {
	rep, err := w.Run(ctx)
	slog.InfoContext(ctx, "refusal counts written", "scheduledAt", ev.Time, "windows", rep.Windows,
		"lines", rep.Lines, "lost", rep.Lost, "next", refusals.WindowKey(rep.Next))
	return err
}

// Run writes every window closed for Margin since the cursor, up to MaxWindows, and advances
// the cursor past each.
func (w *Writer) Run(ctx context.Context) (rep Report, err error) {
	ctx, span := tracing.Start(ctx, "refusal-audit")
	defer func() { span.End(err) }()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := refusals.CheckWindow(w.Window); err != nil {
		return rep, err
	}
	margin, maxWindows := w.Margin, w.MaxWindows
	if margin <= 0 {
		margin = DefaultMargin
	}
	if maxWindows <= 0 {
		maxWindows = DefaultMaxWindows
	}
	now := w.now()
	cur, err := w.Store.Cursor(ctx)
	if err != nil {
		return rep, err
	}
	next := FirstWindow(cur, now, w.Window, maxWindows)
	rep.Next = next
	for rep.Windows < maxWindows {
		end := next.Add(w.Window)
		if now.Before(end.Add(margin)) {
			break
		}
		n, err := w.writeWindow(ctx, next, end)
		if err != nil {
			return rep, err
		}
		rep.Lines += n
		ok, err := w.Store.Advance(ctx, cur, end)
		if err != nil {
			return rep, err
		}
		if !ok {
			rep.Lost = true
			return rep, nil
		}
		cur = refusals.Cursor{Next: end, Found: true}
		rep.Windows, rep.Next, next = rep.Windows+1, end, end
	}
	return rep, nil
}

// FirstWindow is the start of the first window a run writes: the cursor's, on the window's
// boundary at or after it (a cursor written under another window length is moved forward to
// one); without a cursor, maxWindows windows before the current one. Never a window whose
// counts are past their retention (refusals.Retention): those are purged, or about to be.
func FirstWindow(cur refusals.Cursor, now time.Time, window time.Duration, maxWindows int) time.Time {
	var start time.Time
	if cur.Found {
		start = refusals.WindowStart(cur.Next, window)
		if start.Before(cur.Next) {
			start = start.Add(window)
		}
	} else {
		start = refusals.WindowStart(now, window).Add(-time.Duration(maxWindows) * window)
	}
	if floor := refusals.WindowStart(now.Add(-refusals.Retention), window); start.Before(floor) {
		start = floor
	}
	return start
}

// writeWindow writes the lines of the window [start, end): none when nobody was refused in it.
func (w *Writer) writeWindow(ctx context.Context, start, end time.Time) (int, error) {
	counts, err := w.Store.Counts(ctx, start)
	if err != nil || len(counts) == 0 {
		return 0, err
	}
	events := make([]logtypes.InputLogEvent, 0, len(counts))
	for _, c := range counts {
		msg, err := auditline.Refusals(start, end, c.Reason, c.N).Message()
		if err != nil {
			return 0, err
		}
		// The line's time: the window's start, so a query over a time range finds the window's
		// counts in it. One window's lines share it, as PutLogEvents allows.
		events = append(events, logtypes.InputLogEvent{Message: aws.String(msg), Timestamp: aws.Int64(start.UnixMilli())})
	}
	if err := w.put(ctx, events); err != nil {
		return 0, fmt.Errorf("write the refusal counts of the window of %s: %w", refusals.WindowKey(start), err)
	}
	return len(events), nil
}

// put sends events to the environment's stream, creating it first when this environment has
// not yet.
func (w *Writer) put(ctx context.Context, events []logtypes.InputLogEvent) error {
	if !w.streamCreated {
		_, err := w.Logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
			LogGroupName: aws.String(w.LogGroup), LogStreamName: aws.String(w.Stream),
		})
		if _, exists := errors.AsType[*logtypes.ResourceAlreadyExistsException](err); err != nil && !exists {
			return fmt.Errorf("create log stream %s in %s: %w", w.Stream, w.LogGroup, err)
		}
		w.streamCreated = true
	}
	out, err := w.Logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String(w.LogGroup), LogStreamName: aws.String(w.Stream), LogEvents: events,
	})
	if err != nil {
		return fmt.Errorf("put %d events to %s: %w", len(events), w.LogGroup, err)
	}
	// Lines CloudWatch refuses as too old (past the group's retention or 14 days) can never be
	// written: the cursor moves on, and the log says so.
	if r := out.RejectedLogEventsInfo; r != nil {
		slog.WarnContext(ctx, "refusal counts rejected by CloudWatch Logs", "logGroup", w.LogGroup,
			"tooOldEndIndex", aws.ToInt32(r.TooOldLogEventEndIndex), "expiredEndIndex", aws.ToInt32(r.ExpiredLogEventEndIndex),
			"tooNewStartIndex", aws.ToInt32(r.TooNewLogEventStartIndex))
	}
	return nil
}
