package refusalaudit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/auditline"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/features/refusalaudit"
	"github.com/lanyardhq/lanyard/shared/stores/refusals"
)

const group = "/lanyard/audit"

// logs is an in-memory CloudWatch Logs of one log group: streams must be created once before
// events are put to them; events must be in time order within a call.
type logs struct {
	mu      sync.Mutex
	streams map[string][]logtypes.InputLogEvent
	creates int
	putErr  error
}

func newLogs() *logs { return &logs{streams: map[string][]logtypes.InputLogEvent{}} }

func (l *logs) CreateLogStream(_ context.Context, in *cloudwatchlogs.CreateLogStreamInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.creates++
	if aws.ToString(in.LogGroupName) != group {
		return nil, &logtypes.ResourceNotFoundException{Message: aws.String("The specified log group does not exist.")}
	}
	if _, ok := l.streams[aws.ToString(in.LogStreamName)]; ok {
		return nil, &logtypes.ResourceAlreadyExistsException{Message: aws.String("The specified log stream already exists")}
	}
	l.streams[aws.ToString(in.LogStreamName)] = nil
	return &cloudwatchlogs.CreateLogStreamOutput{}, nil
}

func (l *logs) PutLogEvents(_ context.Context, in *cloudwatchlogs.PutLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.putErr != nil {
		return nil, l.putErr
	}
	evs, ok := l.streams[aws.ToString(in.LogStreamName)]
	if aws.ToString(in.LogGroupName) != group || !ok {
		return nil, &logtypes.ResourceNotFoundException{Message: aws.String("The specified log stream does not exist.")}
	}
	if len(in.LogEvents) == 0 || !slices.IsSortedFunc(in.LogEvents, func(a, b logtypes.InputLogEvent) int {
		return int(aws.ToInt64(a.Timestamp) - aws.ToInt64(b.Timestamp))
	}) {
		return nil, &logtypes.InvalidParameterException{Message: aws.String("Log events in a single PutLogEvents request must be in chronological order.")}
	}
	l.streams[aws.ToString(in.LogStreamName)] = append(evs, in.LogEvents...)
	return &cloudwatchlogs.PutLogEventsOutput{}, nil
}

// lines is every line written to the group, decoded, in order.
func (l *logs) lines(t *testing.T) []auditline.Line {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []auditline.Line
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range l.streams {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, ev := range l.streams[name] {
			var line auditline.Line
			if err := json.Unmarshal([]byte(aws.ToString(ev.Message)), &line); err != nil {
				t.Fatalf("line %s: %v", aws.ToString(ev.Message), err)
			}
			if at := time.UnixMilli(aws.ToInt64(ev.Timestamp)).UTC().Format(time.RFC3339); at != line.WindowStart {
				t.Errorf("event of %s timed %s", line.EventID, at)
			}
			out = append(out, line)
		}
	}
	return out
}

type fixture struct {
	db    *dynamodbtest.DynamoDB
	store *refusals.Store
	logs  *logs
	now   time.Time
}

func newFixture(t *testing.T, now time.Time) *fixture {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("refusals", dynamodbtest.KeyAttr{Name: refusals.PartitionKey, Type: types.ScalarAttributeTypeS},
		&dynamodbtest.KeyAttr{Name: refusals.SortKey, Type: types.ScalarAttributeTypeS})
	return &fixture{db: db, store: &refusals.Store{DB: db, Table: "refusals"}, logs: newLogs(), now: now}
}

func (f *fixture) writer(stream string) *refusalaudit.Writer {
	return &refusalaudit.Writer{Store: f.store, Logs: f.logs, LogGroup: group, Stream: stream, Window: time.Minute,
		Now: func() time.Time { return f.now }}
}

// count puts n refusals of reason into the window starting at window, spread over shards.
func (f *fixture) count(t *testing.T, window, reason string, shards ...int64) {
	t.Helper()
	for i, n := range shards {
		_, err := f.db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("refusals"), Item: map[string]types.AttributeValue{
			"window": &types.AttributeValueMemberS{Value: window}, "reason": &types.AttributeValueMemberS{Value: refusals.ShardKey(reason, i)},
			"n": &types.AttributeValueMemberN{Value: fmt.Sprint(n)},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) setCursor(t *testing.T, next time.Time) {
	t.Helper()
	cur, err := f.store.Cursor(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.store.Advance(t.Context(), cur, next); !ok || err != nil {
		t.Fatalf("set the cursor: %t %v", ok, err)
	}
}

func (f *fixture) cursor(t *testing.T) string {
	t.Helper()
	cur, err := f.store.Cursor(t.Context())
	if err != nil || !cur.Found {
		t.Fatalf("cursor: %+v %v", cur, err)
	}
	return refusals.WindowKey(cur.Next)
}

func at(hhmmss string) time.Time {
	t, err := time.Parse(time.RFC3339, "2026-03-14T"+hhmmss+"Z")
	if err != nil {
		panic(err)
	}
	return t
}

type short struct {
	id    string
	count int64
}

func shorten(ls []auditline.Line) []short {
	out := make([]short, len(ls))
	for i, l := range ls {
		out[i] = short{l.EventID, l.Count}
	}
	return out
}

// Each closed window's counts become one line per reason, its shards summed; an empty window
// writes nothing; the cursor passes every window written; a second run writes nothing again.
func TestRunWritesEachClosedWindowOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("10:04:40"))
	f.count(t, "2026-03-14T10:00:00Z", "invite-invalid", 3, 0, 4, 1)
	f.count(t, "2026-03-14T10:00:00Z", "account-not-allowed", 1)
	f.count(t, "2026-03-14T10:01:00Z", "pickup-invalid", 2, 2)
	f.count(t, "2026-03-14T10:03:00Z", "invite-invalid", 5)
	f.count(t, "2026-03-14T10:04:00Z", "invite-invalid", 9) // open still
	f.setCursor(t, at("10:00:00"))
	w := f.writer("audit-refusals/a")

	rep, err := w.Run(t.Context())
	if err != nil || rep.Windows != 4 || rep.Lines != 4 || rep.Lost || !rep.Next.Equal(at("10:04:00")) {
		t.Fatalf("Run = %+v, %v; want 4 windows, 4 lines, next 10:04", rep, err)
	}
	want := []short{
		{"onboarding-refusals/2026-03-14T10:00:00Z/account-not-allowed", 1},
		{"onboarding-refusals/2026-03-14T10:00:00Z/invite-invalid", 8},
		{"onboarding-refusals/2026-03-14T10:01:00Z/pickup-invalid", 4},
		{"onboarding-refusals/2026-03-14T10:03:00Z/invite-invalid", 5},
	}
	lines := f.logs.lines(t)
	if got := shorten(lines); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	if l := lines[1]; l.Schema != auditline.Schema || l.DetailType != auditline.TypeOnboardingRefusals || l.Decision != "refused" ||
		l.Justification != "invite-invalid" || l.PartnerID != "*" || l.Actor.Kind != "anonymous" ||
		l.WindowStart != "2026-03-14T10:00:00Z" || l.WindowEnd != "2026-03-14T10:01:00Z" || l.Time != l.WindowStart {
		t.Errorf("line %+v", l)
	}
	if c := f.cursor(t); c != "2026-03-14T10:04:00Z" {
		t.Errorf("cursor %s", c)
	}

	rep, err = w.Run(t.Context())
	if err != nil || rep.Windows != 0 || rep.Lines != 0 || len(f.logs.lines(t)) != 4 {
		t.Errorf("second Run = %+v, %v with %d lines; want nothing new", rep, err, len(f.logs.lines(t)))
	}
	if f.logs.creates != 1 {
		t.Errorf("%d CreateLogStream calls, want 1", f.logs.creates)
	}
}

// A window is read once it has been closed for the margin, not before.
func TestRunWaitsOutTheMargin(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		now     string
		windows int
	}{
		{"10:01:00", 0}, {"10:01:29", 0}, {"10:01:30", 1}, {"10:02:29", 1}, {"10:02:30", 2},
	} {
		f := newFixture(t, at(tt.now))
		f.count(t, "2026-03-14T10:00:00Z", "invite-invalid", 1)
		f.setCursor(t, at("10:00:00"))
		rep, err := f.writer("s").Run(t.Context())
		if err != nil || rep.Windows != tt.windows {
			t.Errorf("at %s: %+v, %v; want %d windows", tt.now, rep, err, tt.windows)
		}
	}
}

// Of two runs that read the same cursor, one advances it: the other stops there, having
// written the window's lines again with the same eventIds, which collapse.
func TestConcurrentRunsAdvanceTheCursorOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("10:03:40"))
	f.count(t, "2026-03-14T10:00:00Z", "invite-invalid", 2, 3)
	f.count(t, "2026-03-14T10:01:00Z", "scopes-not-allowed", 1)
	f.count(t, "2026-03-14T10:02:00Z", "invite-invalid", 7)
	f.setCursor(t, at("10:00:00"))
	a, b := f.writer("audit-refusals/a"), f.writer("audit-refusals/b")

	// Run a reads the cursor and the first window, then b runs whole before a advances.
	var interleaved atomic.Bool
	var repB refusalaudit.Report
	var errB error
	f.db.Intercept = func(op string, _ any) error {
		if op == "UpdateItem" && interleaved.CompareAndSwap(false, true) {
			repB, errB = b.Run(context.Background())
		}
		return nil
	}
	repA, errA := a.Run(t.Context())
	f.db.Intercept = nil
	if errA != nil || errB != nil {
		t.Fatalf("runs: %v, %v", errA, errB)
	}
	if !repA.Lost || repA.Windows != 0 || repB.Lost || repB.Windows != 3 {
		t.Errorf("run a %+v, run b %+v; want a to lose before its first advance, b to pass 3 windows", repA, repB)
	}
	if c := f.cursor(t); c != "2026-03-14T10:03:00Z" {
		t.Errorf("cursor %s, want 10:03 (each window passed once)", c)
	}
	// a wrote the first window too: the repeat has the same eventId and count.
	byID := map[string][]int64{}
	for _, l := range f.logs.lines(t) {
		byID[l.EventID] = append(byID[l.EventID], l.Count)
	}
	want := map[string][]int64{
		"onboarding-refusals/2026-03-14T10:00:00Z/invite-invalid":     {5, 5},
		"onboarding-refusals/2026-03-14T10:01:00Z/scopes-not-allowed": {1},
		"onboarding-refusals/2026-03-14T10:02:00Z/invite-invalid":     {7},
	}
	if fmt.Sprint(byID) != fmt.Sprint(want) {
		t.Errorf("lines by eventId %v, want %v", byID, want)
	}
}

// A failed write leaves the cursor where it was: the next run writes the window.
func TestFailedWriteKeepsTheCursor(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("10:02:40"))
	f.count(t, "2026-03-14T10:00:00Z", "invite-invalid", 1)
	f.setCursor(t, at("10:00:00"))
	f.logs.putErr = errors.New("ThrottlingException: Rate exceeded")
	w := f.writer("s")
	if _, err := w.Run(t.Context()); err == nil || !errors.Is(err, f.logs.putErr) {
		t.Fatalf("Run with a failing PutLogEvents: %v", err)
	}
	if c := f.cursor(t); c != "2026-03-14T10:00:00Z" {
		t.Errorf("cursor %s after a failed write", c)
	}
	f.logs.putErr = nil
	if rep, err := w.Run(t.Context()); err != nil || rep.Lines != 1 || rep.Windows != 2 {
		t.Errorf("Run after the failure: %+v, %v", rep, err)
	}
}

// A stream another environment of the same name created already is written to.
func TestExistingStreamIsUsed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("10:01:40"))
	f.count(t, "2026-03-14T10:00:00Z", "invite-invalid", 1)
	f.setCursor(t, at("10:00:00"))
	if _, err := f.logs.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	if rep, err := f.writer("s").Run(t.Context()); err != nil || rep.Lines != 1 {
		t.Errorf("Run = %+v, %v", rep, err)
	}
}

// A run passes at most MaxWindows windows; the next run goes on from there.
func TestCatchUpIsBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("10:30:40"))
	f.count(t, "2026-03-14T09:10:00Z", "invite-invalid", 1)
	f.count(t, "2026-03-14T10:10:00Z", "invite-invalid", 2)
	f.setCursor(t, at("09:00:00"))
	w := f.writer("s")
	rep, err := w.Run(t.Context())
	if err != nil || rep.Windows != refusalaudit.DefaultMaxWindows || rep.Lines != 1 || f.cursor(t) != "2026-03-14T10:00:00Z" {
		t.Fatalf("first Run = %+v, %v, cursor %s; want 60 windows to 10:00", rep, err, f.cursor(t))
	}
	rep, err = w.Run(t.Context())
	if err != nil || rep.Windows != 30 || rep.Lines != 1 || f.cursor(t) != "2026-03-14T10:30:00Z" {
		t.Fatalf("second Run = %+v, %v, cursor %s; want 30 windows to 10:30", rep, err, f.cursor(t))
	}
}

// Where a run starts: the cursor, on a window boundary at or after it; without one, MaxWindows
// windows back; never before the counts' retention.
func TestFirstWindow(t *testing.T) {
	t.Parallel()
	now := at("10:30:40")
	for _, tt := range []struct {
		name   string
		cur    refusals.Cursor
		window time.Duration
		want   time.Time
	}{
		{"cursor", refusals.Cursor{Next: at("10:03:00"), Found: true}, time.Minute, at("10:03:00")},
		{"cursor of a shorter window", refusals.Cursor{Next: at("10:03:00"), Found: true}, 5 * time.Minute, at("10:05:00")},
		{"cursor on a longer window's boundary", refusals.Cursor{Next: at("10:05:00"), Found: true}, 5 * time.Minute, at("10:05:00")},
		{"no cursor", refusals.Cursor{}, time.Minute, at("09:30:00")},
		{"no cursor, 5 s windows", refusals.Cursor{}, 5 * time.Second, at("10:25:40")},
		{"cursor past the retention", refusals.Cursor{Next: now.Add(-30 * 24 * time.Hour), Found: true}, time.Minute, at("10:30:00").Add(-refusals.Retention)},
	} {
		if got := refusalaudit.FirstWindow(tt.cur, now, tt.window, 60); !got.Equal(tt.want) {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// The first run of a deployment writes the windows counted since shortly before it.
func TestFirstRunWithoutCursor(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("10:30:40"))
	f.count(t, "2026-03-14T09:00:00Z", "invite-invalid", 1) // before the look-back
	f.count(t, "2026-03-14T10:27:00Z", "invite-invalid", 2)
	w := f.writer("s")
	w.MaxWindows = 5
	rep, err := w.Run(t.Context())
	if err != nil || rep.Windows != 5 || rep.Lines != 1 || f.cursor(t) != "2026-03-14T10:30:00Z" {
		t.Fatalf("Run = %+v, %v, cursor %s", rep, err, f.cursor(t))
	}
	if got := shorten(f.logs.lines(t)); !slices.Equal(got, []short{{"onboarding-refusals/2026-03-14T10:27:00Z/invite-invalid", 2}}) {
		t.Errorf("lines %v", got)
	}
}
