//go:build faultinject

package faultinject_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/platform/faultinject"
)

var steps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec  string
		steps []string
		want  faultinject.Fault
		err   string // a part of the error; "" means none
		str   string // String of the fault; "" means step=<step>,after=<after>
	}{
		{spec: "step=finishSecret,after=2", steps: steps, want: faultinject.Fault{Step: "finishSecret", After: 2}},
		{spec: " after = 1 , step = createSecret ", steps: steps, want: faultinject.Fault{Step: "createSecret", After: 1}},
		{spec: "step=setSecret,after=0", steps: steps, want: faultinject.Fault{Step: "setSecret", After: 0}},
		{spec: "step=anything,after=3", want: faultinject.Fault{Step: "anything", After: 3}},
		{spec: "step=finishsecret,after=2", steps: steps, err: `step "finishsecret" is none of`},
		{spec: "step=finishSecret", steps: steps, err: "both step and after are needed"},
		{spec: "after=2", steps: steps, err: "both step and after are needed"},
		{spec: "step=finishSecret,after=-1", steps: steps, err: "is not a count"},
		{spec: "step=finishSecret,after=two", steps: steps, err: "is not a count"},
		{spec: "step=finishSecret,after=2,after=3", steps: steps, err: "after given twice"},
		{spec: "step=finishSecret,after=2,mode=exit", steps: steps, err: `unknown key "mode"`},
		{spec: "step=finishSecret,after=2,", steps: steps, err: "is not key=value"},
		{spec: "finishSecret:2", steps: steps, err: "is not key=value"},
		{spec: "step=,after=2", steps: steps, err: "is not key=value"},
		{spec: "step=authorize,after=1,pause=3s", steps: []string{"authorize"},
			want: faultinject.Fault{Step: "authorize", After: 1, Pause: 3 * time.Second}, str: "step=authorize,after=1,pause=3s"},
		{spec: "pause=1500ms, step=authorize ,after=0", want: faultinject.Fault{Step: "authorize", Pause: 1500 * time.Millisecond}, str: "step=authorize,after=0,pause=1.5s"},
		{spec: "step=authorize,after=1,pause=10s", want: faultinject.Fault{Step: "authorize", After: 1, Pause: 10 * time.Second}, str: "step=authorize,after=1,pause=10s"},
		{spec: "step=authorize,after=1,pause=10.001s", err: "is not a duration above 0s and at most 10s"},
		{spec: "step=authorize,after=1,pause=0s", err: "is not a duration above 0s"},
		{spec: "step=authorize,after=1,pause=-1s", err: "is not a duration above 0s"},
		{spec: "step=authorize,after=1,pause=3", err: "is not a duration"},
		{spec: "step=authorize,after=1,pause=", err: "is not key=value"},
		{spec: "step=authorize,after=1,pause=1s,pause=2s", err: "pause given twice"},
		{spec: "step=authorize,pause=1s", err: "both step and after are needed"},
		{spec: "step=authorise,after=1,pause=1s", steps: []string{"authorize"}, err: `step "authorise" is none of`},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			got, err := faultinject.Parse(tc.spec, tc.steps...)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Parse: error %v, want one containing %q", err, tc.err)
			case got != tc.want:
				t.Errorf("Parse: %+v, want %+v", got, tc.want)
			}
			str := tc.str
			if str == "" {
				str = fmt.Sprintf("step=%s,after=%d", tc.want.Step, tc.want.After)
			}
			if tc.err == "" && got.String() != str {
				t.Errorf("String: %s, want %s", got, str)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, value string
		armed       bool
		err         bool
	}{
		{name: "unset"},
		{name: "blank", value: "  "},
		{name: "armed", value: "step=testSecret,after=1", armed: true},
		{name: "malformed", value: "step=testSecret", err: true},
		{name: "unknown step", value: "step=rotate,after=1", err: true},
		{name: "armed with a pause", value: "step=testSecret,after=1,pause=2s", armed: true},
		{name: "a pause too long", value: "step=testSecret,after=1,pause=1m", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inj, err := faultinject.FromEnv(func(k string) string {
				if k == faultinject.EnvVar {
					return tc.value
				}
				return ""
			}, steps...)
			if (err != nil) != tc.err || (inj != nil) != tc.armed {
				t.Errorf("FromEnv(%q): injector %v, error %v", tc.value, inj, err)
			}
		})
	}
}

// fakeAWS answers every request with the next of its answers (then 200 {}), and counts what
// reached it.
type fakeAWS struct {
	mu       sync.Mutex
	answers  []int // status codes
	requests []string
	bodies   []string
}

func (f *fakeAWS) Do(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Header.Get("X-Amz-Target"))
	f.bodies = append(f.bodies, string(body))
	status := http.StatusOK
	if len(f.answers) > 0 {
		status, f.answers = f.answers[0], f.answers[1:]
	}
	answer := `{}`
	switch status {
	case http.StatusBadRequest:
		answer = `{"__type":"ResourceNotFoundException","message":"no such version"}`
	case http.StatusInternalServerError:
		answer = `{"__type":"InternalServiceError","message":"try again"}`
	}
	return &http.Response{
		StatusCode: status, Header: http.Header{"Content-Type": []string{"application/x-amz-json-1.1"}},
		Body: io.NopCloser(strings.NewReader(answer)), Request: r,
	}, nil
}

func (f *fakeAWS) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

// client builds a Secrets Manager client on fake with inj installed, as the function does, and
// a retryer that retries at once.
func client(fake *fakeAWS, inj *faultinject.Injector) *secretsmanager.Client {
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "not-a-secret", ""),
		HTTPClient:   fake,
		BaseEndpoint: aws.String("http://aws.invalid"),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	}
	inj.Install(&cfg)
	return secretsmanager.NewFromConfig(cfg)
}

type event struct{ Step string }

func stepOf(e event) string { return e.Step }

// threeCalls is a handler making three calls (DescribeSecret, GetSecretValue, PutSecretValue),
// going on past failed ones, as rotation's reads of a missing version do; it returns the
// errors of the calls it made.
func threeCalls(sm *secretsmanager.Client, errs *[]error) func(context.Context, event) error {
	return func(ctx context.Context, _ event) error {
		_, err1 := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
		_, err2 := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
		_, err3 := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("canary-secret-value")})
		*errs = []error{err1, err2, err3}
		return nil
	}
}

var (
	describe = "secretsmanager.DescribeSecret"
	get      = "secretsmanager.GetSecretValue"
	put      = "secretsmanager.PutSecretValue"
)

func TestCrashAfterTheNthCall(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		fault   faultinject.Fault
		step    string
		answers []int
		sent    []string // the requests that reached AWS, retries included
		crashed bool
		lastOp  string // in the invocation's error
	}{
		{name: "after 0: nothing is sent", fault: faultinject.Fault{Step: "setSecret", After: 0}, step: "setSecret", crashed: true},
		{name: "after 1", fault: faultinject.Fault{Step: "setSecret", After: 1}, step: "setSecret",
			sent: []string{describe}, crashed: true, lastOp: "Secrets Manager DescribeSecret"},
		{name: "after 2, the 2nd call failing, still counts", fault: faultinject.Fault{Step: "setSecret", After: 2}, step: "setSecret",
			answers: []int{200, 400}, sent: []string{describe, get}, crashed: true, lastOp: "Secrets Manager GetSecretValue"},
		{name: "retries are one call", fault: faultinject.Fault{Step: "setSecret", After: 1}, step: "setSecret",
			answers: []int{500, 500, 200}, sent: []string{describe, describe, describe}, crashed: true, lastOp: "Secrets Manager DescribeSecret"},
		{name: "after the last call: the invocation still fails", fault: faultinject.Fault{Step: "setSecret", After: 3}, step: "setSecret",
			sent: []string{describe, get, put}, crashed: true, lastOp: "Secrets Manager PutSecretValue"},
		{name: "past the last call: no crash", fault: faultinject.Fault{Step: "setSecret", After: 4}, step: "setSecret",
			sent: []string{describe, get, put}},
		{name: "another step: no crash", fault: faultinject.Fault{Step: "setSecret", After: 1}, step: "testSecret",
			sent: []string{describe, get, put}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			inj := &faultinject.Injector{Fault: tc.fault, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
			fake := &fakeAWS{answers: tc.answers}
			var errs []error
			handle := faultinject.Wrap(inj, stepOf, threeCalls(client(fake, inj), &errs))

			err := handle(t.Context(), event{Step: tc.step})
			if got := fake.sent(); strings.Join(got, " ") != strings.Join(tc.sent, " ") {
				t.Errorf("sent %v, want %v", got, tc.sent)
			}
			if !tc.crashed {
				if err != nil {
					t.Fatalf("invocation: %v", err)
				}
				if strings.Contains(logs.String(), faultinject.CrashMessage) {
					t.Errorf("a crash was logged: %s", logs.String())
				}
				return
			}
			if !errors.Is(err, faultinject.ErrCrashed) || !strings.Contains(err.Error(), tc.lastOp) || !strings.Contains(err.Error(), "step "+tc.step) {
				t.Fatalf("invocation: %v, want an injected crash after %q", err, tc.lastOp)
			}
			// Every call after the crash point failed with ErrCrashed; the ones before did not.
			for i, callErr := range errs {
				if refused := errors.Is(callErr, faultinject.ErrCrashed); refused != (i >= tc.fault.After) {
					t.Errorf("call %d: %v (refused %t)", i+1, callErr, refused)
				}
			}
			if n := strings.Count(logs.String(), faultinject.CrashMessage); n != 1 {
				t.Errorf("%d crash lines, want 1: %s", n, logs.String())
			}
			// Only ids and names reach the log and the errors, never what the calls carried.
			for _, text := range append([]string{logs.String(), err.Error()}, errorTexts(errs)...) {
				if strings.Contains(text, "canary-secret-value") {
					t.Errorf("a value the handler sent leaked: %s", text)
				}
			}
		})
	}
}

func errorTexts(errs []error) []string {
	var out []string
	for _, err := range errs {
		if err != nil {
			out = append(out, err.Error())
		}
	}
	return out
}

// Each invocation counts from zero, and calls outside a wrapped invocation (cold-start work) or
// through a nil injector are never counted.
func TestInvocationsAreCountedApart(t *testing.T) {
	t.Parallel()
	inj := &faultinject.Injector{Fault: faultinject.Fault{Step: "finishSecret", After: 2}, Logger: slog.New(slog.DiscardHandler)}
	fake := &fakeAWS{}
	sm := client(fake, inj)
	if _, err := sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")}); err != nil {
		t.Fatalf("a call outside any invocation: %v", err)
	}
	var errs []error
	handle := faultinject.Wrap(inj, stepOf, threeCalls(sm, &errs))
	for i := range 3 {
		if err := handle(t.Context(), event{Step: "finishSecret"}); !errors.Is(err, faultinject.ErrCrashed) {
			t.Fatalf("invocation %d: %v", i+1, err)
		}
	}
	if got := len(fake.sent()); got != 1+3*2 {
		t.Errorf("%d requests sent, want 7 (one outside, two per invocation)", got)
	}

	// A nil injector: Wrap is the handler itself and Install adds nothing.
	var none *faultinject.Injector
	plain := &fakeAWS{}
	if err := faultinject.Wrap(none, stepOf, threeCalls(client(plain, none), &errs))(t.Context(), event{Step: "finishSecret"}); err != nil {
		t.Fatalf("without an injector: %v", err)
	}
	if got := len(plain.sent()); got != 3 {
		t.Errorf("without an injector: %d requests sent, want 3", got)
	}
}

// sleeps records the pauses an injector takes instead of taking them, with how many requests
// had reached AWS when each began.
type sleeps struct {
	fake   *fakeAWS
	mu     sync.Mutex
	pauses []time.Duration
	sentAt []int
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) {
	n := len(s.fake.sent())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pauses = append(s.pauses, d)
	s.sentAt = append(s.sentAt, n)
}

func TestPauseAfterTheNthCall(t *testing.T) {
	t.Parallel()
	const pause = 3 * time.Second
	for _, tc := range []struct {
		name    string
		fault   faultinject.Fault
		step    string
		answers []int
		sent    int // requests that reached AWS, retries included
		failing int // the call that fails (its error held like an answer), 0 for none
		paused  bool
		sentAt  int    // requests that had reached AWS when the pause began
		op      string // the operation the pause line names
		calls   int    // in the line of an armed invocation that ended before its pause point
	}{
		{name: "after 0: before the first call", fault: faultinject.Fault{Step: "setSecret", After: 0, Pause: pause}, step: "setSecret", sent: 3, paused: true},
		{name: "after 1", fault: faultinject.Fault{Step: "setSecret", After: 1, Pause: pause}, step: "setSecret", sent: 3, paused: true, sentAt: 1, op: "DescribeSecret"},
		{name: "after 2, the 2nd call failing: its error is held too", fault: faultinject.Fault{Step: "setSecret", After: 2, Pause: pause}, step: "setSecret",
			answers: []int{200, 400}, sent: 3, failing: 2, paused: true, sentAt: 2, op: "GetSecretValue"},
		{name: "retries are one call", fault: faultinject.Fault{Step: "setSecret", After: 1, Pause: pause}, step: "setSecret",
			answers: []int{500, 500, 200}, sent: 5, paused: true, sentAt: 3, op: "DescribeSecret"},
		{name: "after the last call", fault: faultinject.Fault{Step: "setSecret", After: 3, Pause: pause}, step: "setSecret", sent: 3, paused: true, sentAt: 3, op: "PutSecretValue"},
		{name: "past the last call: no pause", fault: faultinject.Fault{Step: "setSecret", After: 4, Pause: pause}, step: "setSecret", sent: 3, calls: 3},
		{name: "another step: no pause", fault: faultinject.Fault{Step: "setSecret", After: 1, Pause: pause}, step: "testSecret", sent: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			fake := &fakeAWS{answers: tc.answers}
			slept := &sleeps{fake: fake}
			inj := &faultinject.Injector{Fault: tc.fault, Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Sleep: slept.sleep}
			var errs []error
			handle := faultinject.Wrap(inj, stepOf, threeCalls(client(fake, inj), &errs))

			if err := handle(t.Context(), event{Step: tc.step}); err != nil {
				t.Fatalf("invocation: %v", err)
			}
			// A pause crashes nothing: every call is sent, none refused.
			if got := fake.sent(); len(got) != tc.sent {
				t.Errorf("sent %v, want %d requests", got, tc.sent)
			}
			for i, callErr := range errs {
				if errors.Is(callErr, faultinject.ErrCrashed) || (callErr != nil) != (i+1 == tc.failing) {
					t.Errorf("call %d: %v", i+1, callErr)
				}
			}
			if strings.Contains(logs.String(), faultinject.CrashMessage) {
				t.Errorf("a crash was logged: %s", logs.String())
			}
			if !tc.paused {
				if len(slept.pauses) != 0 {
					t.Errorf("paused %v", slept.pauses)
				}
				if n := strings.Count(logs.String(), faultinject.PauseMessage); n != 0 {
					t.Errorf("a pause was logged: %s", logs.String())
				}
				unreached := fmt.Sprintf(`"msg":%q,"step":%q,"after":%d,"pause":"3s","calls":%d}`, faultinject.PauseUnreachedMessage, tc.step, tc.fault.After, tc.calls)
				if armed := tc.step == tc.fault.Step; strings.Contains(logs.String(), unreached) != armed {
					t.Errorf("log %s: want the unreached pause line %t", logs.String(), armed)
				}
				return
			}
			if len(slept.pauses) != 1 || slept.pauses[0] != pause || slept.sentAt[0] != tc.sentAt {
				t.Errorf("paused %v with %v requests sent, want %s once, with %d sent", slept.pauses, slept.sentAt, pause, tc.sentAt)
			}
			var line struct {
				Msg, Step, Pause, Operation string
				After                       int
			}
			for l := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
				if strings.Contains(l, faultinject.PauseMessage) {
					if line.Msg != "" {
						t.Errorf("more than one pause line: %s", logs.String())
					}
					if err := json.Unmarshal([]byte(l), &line); err != nil {
						t.Fatal(err)
					}
				}
			}
			if line.Msg != faultinject.PauseMessage || line.Step != tc.step || line.After != tc.fault.After || line.Pause != "3s" || line.Operation != tc.op {
				t.Errorf("pause line %+v, log %s", line, logs.String())
			}
			if strings.Contains(logs.String(), "canary-secret-value") {
				t.Errorf("a value the handler sent leaked: %s", logs.String())
			}
		})
	}
}

// answerOf is a handler answering a result and an error, as the authorizer does: the name of
// the secret DescribeSecret returned, and the error of its call.
func answerOf(sm *secretsmanager.Client, fail error) func(context.Context, event) (string, error) {
	return func(ctx context.Context, _ event) (string, error) {
		out, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Name) + "answered", fail
	}
}

// WrapResult hands back the handler's answer after a pause and the zero value with the crash
// error after a crash.
func TestWrapResult(t *testing.T) {
	t.Parallel()
	refused := errors.New("refused")
	for _, tc := range []struct {
		name      string
		fault     faultinject.Fault
		fail      error
		want      string
		wantErr   error
		wantPause bool
	}{
		{name: "pause", fault: faultinject.Fault{Step: "s", After: 1, Pause: time.Second}, want: "answered", wantPause: true},
		{name: "pause, the handler failing", fault: faultinject.Fault{Step: "s", After: 1, Pause: time.Second}, fail: refused, want: "answered", wantErr: refused, wantPause: true},
		{name: "crash", fault: faultinject.Fault{Step: "s", After: 1}, want: "", wantErr: faultinject.ErrCrashed},
		{name: "another step", fault: faultinject.Fault{Step: "other", After: 1, Pause: time.Second}, want: "answered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeAWS{}
			slept := &sleeps{fake: fake}
			inj := &faultinject.Injector{Fault: tc.fault, Logger: slog.New(slog.DiscardHandler), Sleep: slept.sleep}
			got, err := faultinject.WrapResult(inj, stepOf, answerOf(client(fake, inj), tc.fail))(t.Context(), event{Step: "s"})
			if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("answered %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
			if (len(slept.pauses) == 1) != tc.wantPause {
				t.Errorf("paused %v, want a pause %t", slept.pauses, tc.wantPause)
			}
		})
	}
	// A nil injector: the handler itself.
	var none *faultinject.Injector
	if got, err := faultinject.WrapResult(none, stepOf, answerOf(client(&fakeAWS{}, none), nil))(t.Context(), event{Step: "s"}); got != "answered" || err != nil {
		t.Errorf("without an injector: %q, %v", got, err)
	}
}

// Without a Sleep, the pause is a real wait, which the invocation's context cuts short. The
// bounds are logical, not timings: a timer never fires before its duration, and a wait cut
// short by its context ends long before a 10-second pause would.
func TestPauseWaits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		pause    time.Duration
		deadline time.Duration // 0: none
		least    time.Duration // measured from before the call
		under    time.Duration
	}{
		{name: "the whole pause", pause: 200 * time.Millisecond, least: 200 * time.Millisecond, under: time.Hour},
		{name: "cut short by the deadline", pause: 10 * time.Second, deadline: 100 * time.Millisecond, under: 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inj := &faultinject.Injector{Fault: faultinject.Fault{Step: "s", After: 1, Pause: tc.pause}, Logger: slog.New(slog.DiscardHandler)}
			began := time.Now()
			ctx := t.Context()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			if _, err := faultinject.WrapResult(inj, stepOf, answerOf(client(&fakeAWS{}, inj), nil))(ctx, event{Step: "s"}); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(began); took < tc.least || took >= tc.under {
				t.Errorf("took %s, want at least %s and under %s", took, tc.least, tc.under)
			}
		})
	}
}
