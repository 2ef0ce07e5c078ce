package rotation_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/rotation"
)

const prefix = "lanyard/partners/"

// t0 is the fake clock's start: a whole second, so LocalStack-style truncation is visible.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time {
	t := t0.Add(d)
	return &t
}

// lockedBuffer collects log output written from Run's goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// setup returns a fake clock at t0, a fake Secrets Manager on it and a Scheduler over both with
// the given day length and interval; the Scheduler's warnings go to logs.
func setup(t *testing.T, day, interval time.Duration) (*clock, *fakeSecrets, *rotation.Scheduler, *lockedBuffer) {
	t.Helper()
	clk := &clock{t: t0}
	f := &fakeSecrets{now: clk.now, rotateErrs: map[string][]error{}, describeErr: map[string]error{}}
	logs := &lockedBuffer{}
	s := &rotation.Scheduler{
		Secrets: f, Prefix: prefix, Interval: interval, DayLength: day, Now: clk.now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	return clk, f, s, logs
}

func tick(t *testing.T, s *rotation.Scheduler) rotation.Result {
	t.Helper()
	res, err := s.Tick(context.Background())
	if err != nil {
		t.Fatalf("tick: %v", err)
	}
	return res
}

func TestTickRotatesTheSecretsThatAreDue(t *testing.T) {
	const days = 24 * time.Hour
	tests := []struct {
		name        string
		day         time.Duration // Scheduler.DayLength
		secret      fakeSecret
		wantChecked int
		wantRotated bool
	}{
		{
			name: "compressed: never rotated, a day after creation", day: time.Second,
			secret:      fakeSecret{name: prefix + "p1", enabled: true, days: 1, created: t0.Add(-2 * time.Second)},
			wantChecked: 1, wantRotated: true,
		},
		{
			name: "compressed: never rotated, exactly a day after creation", day: time.Second,
			secret:      fakeSecret{name: prefix + "p1", enabled: true, days: 1, created: t0.Add(-time.Second)},
			wantChecked: 1, wantRotated: true,
		},
		{
			name: "compressed: never rotated, less than a day after creation", day: time.Second,
			secret:      fakeSecret{name: prefix + "p1", enabled: true, days: 1, created: t0.Add(-999 * time.Millisecond)},
			wantChecked: 1,
		},
		{
			name: "compressed: the days since the last rotation have passed", day: time.Second,
			secret: fakeSecret{name: prefix + "p1", enabled: true, days: 3, created: t0.Add(-time.Hour),
				lastRotated: at(-3 * time.Second), nextRotation: at(3*days - 3*time.Second)},
			wantChecked: 1, wantRotated: true,
		},
		{
			name: "compressed: the last rotation is too recent, whatever the creation date", day: time.Second,
			secret: fakeSecret{name: prefix + "p1", enabled: true, days: 3, created: t0.Add(-time.Hour),
				lastRotated: at(-2 * time.Second), nextRotation: at(3*days - 2*time.Second)},
			wantChecked: 1,
		},
		{
			name: "rotation disabled", day: time.Second,
			secret:      fakeSecret{name: prefix + "p1", days: 1, created: t0.Add(-time.Hour)},
			wantChecked: 1,
		},
		{
			name: "another prefix", day: time.Second,
			secret: fakeSecret{name: "other/partners/p1", enabled: true, days: 1, created: t0.Add(-time.Hour)},
		},
		{
			name: "a prefix that is only part of the name's start", day: time.Second,
			secret: fakeSecret{name: "lanyard/partners", enabled: true, days: 1, created: t0.Add(-time.Hour)},
		},
		{
			name: "compressed: no AutomaticallyAfterDays", day: time.Second,
			secret:      fakeSecret{name: prefix + "p1", enabled: true, created: t0.Add(-time.Hour), nextRotation: at(-time.Hour)},
			wantChecked: 1,
		},
		{
			name: "real days: NextRotationDate has passed",
			secret: fakeSecret{name: prefix + "p1", enabled: true, days: 30, created: t0.Add(-40 * days),
				lastRotated: at(-30*days + time.Hour), nextRotation: at(-time.Minute)},
			wantChecked: 1, wantRotated: true,
		},
		{
			name: "real days: NextRotationDate ahead decides, though 30 days have passed since the last rotation",
			secret: fakeSecret{name: prefix + "p1", enabled: true, days: 30, created: t0.Add(-40 * days),
				lastRotated: at(-31 * days), nextRotation: at(time.Hour)},
			wantChecked: 1,
		},
		{
			name: "real days: no NextRotationDate, the days since the last rotation have passed",
			secret: fakeSecret{name: prefix + "p1", enabled: true, days: 30, created: t0.Add(-40 * days),
				lastRotated: at(-30 * days)},
			wantChecked: 1, wantRotated: true,
		},
		{
			name:        "real days: no NextRotationDate, less than the days since creation",
			secret:      fakeSecret{name: prefix + "p1", enabled: true, days: 30, created: t0.Add(-29 * days)},
			wantChecked: 1,
		},
		{
			name: "real days: a one-second day would make it due, real days do not",
			secret: fakeSecret{name: prefix + "p1", enabled: true, days: 1, created: t0.Add(-time.Hour),
				nextRotation: at(23 * time.Hour)},
			wantChecked: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, f, s, logs := setup(t, tt.day, time.Second)
			sec := f.add(&tt.secret)
			res := tick(t, s)
			if res.Checked != tt.wantChecked {
				t.Errorf("checked %d secrets, want %d", res.Checked, tt.wantChecked)
			}
			calls := f.calls()
			if !tt.wantRotated {
				if len(calls) != 0 || len(res.Rotated) != 0 {
					t.Fatalf("rotated %v (result %+v); want no rotation", calls, res)
				}
				return
			}
			if len(calls) != 1 || !slices.Equal(res.Rotated, []string{sec.name}) {
				t.Fatalf("RotateSecret calls %v, result %+v; want one rotation of %s", calls, res, sec.name)
			}
			in := calls[0].in
			// The secret by ARN, nothing else: the schedule and the function stay as
			// configured, and RotateImmediately keeps its default (true).
			if aws.ToString(in.SecretId) != sec.arn() || in.RotationRules != nil || in.RotationLambdaARN != nil ||
				in.RotateImmediately != nil || in.ClientRequestToken != nil {
				t.Errorf("RotateSecret input %+v; want only SecretId %s", in, sec.arn())
			}
			if len(res.Failed) != 0 || len(res.Deferred) != 0 || logs.String() != "" {
				t.Errorf("result %+v, warnings %q; want neither failures nor warnings", res, logs.String())
			}
		})
	}
}

func TestTickSkipsSecretsScheduledForDeletion(t *testing.T) {
	_, f, s, _ := setup(t, time.Second, time.Second)
	f.add(&fakeSecret{name: prefix + "gone", enabled: true, days: 1, created: t0.Add(-time.Hour), deleted: at(-time.Minute)})
	if res := tick(t, s); res.Checked != 0 || len(f.calls()) != 0 {
		t.Errorf("result %+v, calls %v; want the secret unseen", res, f.calls())
	}
}

func TestTickDescribesOnlyRotatingSecretsUnderThePrefix(t *testing.T) {
	_, f, s, _ := setup(t, time.Second, time.Second)
	f.pageSize = 2
	var due []string
	for _, name := range []string{"p1", "p2", "p3", "p4", "p5"} {
		f.add(&fakeSecret{name: prefix + name, enabled: true, days: 1, created: t0.Add(-time.Hour)})
		due = append(due, prefix+name)
	}
	f.add(&fakeSecret{name: prefix + "disabled", days: 1, created: t0.Add(-time.Hour)})
	f.add(&fakeSecret{name: "elsewhere", enabled: true, days: 1, created: t0.Add(-time.Hour)})

	res := tick(t, s)
	if res.Checked != 6 || !slices.Equal(res.Rotated, due) {
		t.Errorf("result %+v; want 6 checked and %v rotated, across the ListSecrets pages", res, due)
	}
	f.mu.Lock()
	described := append([]string(nil), f.describes...)
	f.mu.Unlock()
	if !slices.Equal(described, due) {
		t.Errorf("described %v, want only %v", described, due)
	}
}

func TestFailedRotationIsRetriedOnceAnInterval(t *testing.T) {
	const interval = 5 * time.Second
	clk, f, s, logs := setup(t, time.Second, interval)
	sec := f.add(&fakeSecret{name: prefix + "p1", enabled: true, days: 1, created: t0.Add(-time.Hour)})
	other := f.add(&fakeSecret{name: prefix + "p2", enabled: true, days: 60, created: t0.Add(-time.Hour)})
	f.rotateErrs[sec.name] = []error{inProgress(), inProgress()}

	// The failure is reported and logged; the other secret rotates all the same.
	res := tick(t, s)
	if !slices.Equal(res.Failed, []string{sec.name}) || !slices.Equal(res.Rotated, []string{other.name}) {
		t.Fatalf("first pass %+v; want %s failed and %s rotated", res, sec.name, other.name)
	}
	if l := logs.String(); !strings.Contains(l, "rotate secret failed") || !strings.Contains(l, sec.name) ||
		!strings.Contains(l, "previous rotation") {
		t.Errorf("warnings %q; want the failure with the secret's name and the error", l)
	}

	// Within the interval: deferred, no call.
	for _, d := range []time.Duration{0, interval - time.Millisecond} {
		clk.set(t0.Add(d))
		if res := tick(t, s); !slices.Equal(res.Deferred, []string{sec.name}) || len(res.Failed) != 0 {
			t.Errorf("pass %s after the failure: %+v; want %s deferred", d, res, sec.name)
		}
	}
	if n := len(f.calls()); n != 2 {
		t.Fatalf("%d RotateSecret calls, want 2 (one each) before the interval is up", n)
	}

	// An interval later: retried; the same failure again is not warned twice.
	clk.set(t0.Add(interval))
	if res := tick(t, s); !slices.Equal(res.Failed, []string{sec.name}) {
		t.Fatalf("retry: %+v; want %s failed again", res, sec.name)
	}
	if n := strings.Count(logs.String(), "rotate secret failed"); n != 1 {
		t.Errorf("the same failure was warned %d times, want once", n)
	}
	clk.set(t0.Add(2 * interval))
	if res := tick(t, s); !slices.Equal(res.Rotated, []string{sec.name}) {
		t.Fatalf("second retry: %+v; want %s rotated", res, sec.name)
	}
	var times []time.Time
	for _, c := range f.calls() {
		if c.name == sec.name {
			times = append(times, c.at)
		}
	}
	if want := []time.Time{t0, t0.Add(interval), t0.Add(2 * interval)}; !slices.Equal(times, want) {
		t.Errorf("RotateSecret of %s at %v, want %v", sec.name, times, want)
	}
}

func TestRotatedSecretIsNotRotatedAgainWithinItsPeriod(t *testing.T) {
	const (
		day      = 10 * time.Second
		interval = time.Second
	)
	tests := []struct {
		name string
		fake func(*fakeSecrets)
	}{
		{"exact dates", func(*fakeSecrets) {}},
		// LocalStack: LastRotatedDate in whole seconds, earlier than the rotation.
		{"LastRotatedDate in whole seconds", func(f *fakeSecrets) { f.secondsOnly = true }},
		// AWS: RotateSecret answers before the rotation runs; the dates move later.
		{"dates not moved yet", func(f *fakeSecrets) { f.datesLag = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk, f, s, logs := setup(t, day, interval)
			tt.fake(f)
			sec := f.add(&fakeSecret{name: prefix + "p1", enabled: true, days: 2, created: t0.Add(-time.Hour)})
			start := t0.Add(900 * time.Millisecond)
			clk.set(start)
			if res := tick(t, s); !slices.Equal(res.Rotated, []string{sec.name}) {
				t.Fatalf("first pass %+v; want %s rotated", res, sec.name)
			}
			// A pass every interval until just before two (compressed) days have passed.
			for d := interval; d < 2*day; d += interval {
				clk.set(start.Add(d))
				tick(t, s)
			}
			clk.set(start.Add(2*day - time.Millisecond))
			tick(t, s)
			if n := len(f.calls()); n != 1 {
				t.Fatalf("%d RotateSecret calls within the period, want 1: %v", n, f.calls())
			}
			clk.set(start.Add(2 * day))
			if res := tick(t, s); !slices.Equal(res.Rotated, []string{sec.name}) {
				t.Fatalf("after the period: %+v; want %s rotated again", res, sec.name)
			}
			if logs.String() != "" {
				t.Errorf("warnings %q, want none", logs.String())
			}
		})
	}
}

func TestDescribeFailureDoesNotStopThePass(t *testing.T) {
	_, f, s, logs := setup(t, time.Second, time.Second)
	a := f.add(&fakeSecret{name: prefix + "a", enabled: true, days: 1, created: t0.Add(-time.Hour)})
	b := f.add(&fakeSecret{name: prefix + "b", enabled: true, days: 1, created: t0.Add(-time.Hour)})
	f.describeErr[a.name] = errUnreachable
	res := tick(t, s)
	if !slices.Equal(res.Failed, []string{a.name}) || !slices.Equal(res.Rotated, []string{b.name}) {
		t.Errorf("result %+v; want %s failed and %s rotated", res, a.name, b.name)
	}
	if !strings.Contains(logs.String(), "describe secret") {
		t.Errorf("warnings %q; want the describe failure", logs.String())
	}
}

func TestListFailureFailsThePass(t *testing.T) {
	_, f, s, _ := setup(t, time.Second, time.Second)
	f.add(&fakeSecret{name: prefix + "a", enabled: true, days: 1, created: t0.Add(-time.Hour)})
	f.listErr = errUnreachable
	res, err := s.Tick(context.Background())
	if err == nil || !strings.Contains(err.Error(), "list secrets") {
		t.Fatalf("tick: %v; want the list failure", err)
	}
	if res.Checked != 0 || len(f.calls()) != 0 {
		t.Errorf("result %+v, calls %v; want nothing done", res, f.calls())
	}
}

func TestRunPassesEveryIntervalUntilCancelled(t *testing.T) {
	const day = 100 * time.Millisecond
	f := &fakeSecrets{now: time.Now}
	f.listErr = errUnreachable // LocalStack not up yet
	sec := f.add(&fakeSecret{name: prefix + "p1", enabled: true, days: 1, created: time.Now().Add(-time.Hour)})
	logs := &lockedBuffer{}
	s := &rotation.Scheduler{Secrets: f, Prefix: prefix, Interval: 5 * time.Millisecond, DayLength: day,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(cancel)

	harness.Eventually(t, 10*time.Second, func() (bool, string) {
		return strings.Count(logs.String(), "list secrets") >= 1, "no pass yet"
	})
	f.mu.Lock()
	f.listErr = nil
	f.mu.Unlock()
	harness.Eventually(t, 10*time.Second, func() (bool, string) {
		n := len(f.calls())
		return n >= 3, "rotations so far: " + strconv.Itoa(n)
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	calls := f.calls()
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].at.Sub(calls[i-1].at); gap < day {
			t.Errorf("rotations %d and %d of %s only %s apart, want at least a day (%s)", i, i+1, sec.name, gap, day)
		}
	}
	l := logs.String()
	if n := strings.Count(l, "rotation pass failed"); n != 1 {
		t.Errorf("the list failure was warned %d times, want once (logs %q)", n, l)
	}
	if !strings.Contains(l, "rotation pass succeeded again") || !strings.Contains(l, "rotation triggered") {
		t.Errorf("logs %q; want the recovery and the rotations", l)
	}
}

func TestRunNeedsSecretsManager(t *testing.T) {
	if err := (&rotation.Scheduler{}).Run(context.Background()); err == nil {
		t.Error("Run without Secrets: no error")
	}
	if _, err := (&rotation.Scheduler{}).Tick(context.Background()); err == nil {
		t.Error("Tick without Secrets: no error")
	}
}
