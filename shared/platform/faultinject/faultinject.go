//go:build faultinject

package faultinject

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"
)

// EnvVar names the variable that arms the injector.
const EnvVar = "LANYARD_FAULT"

// Messages of the lines the injector logs, for tests reading a function's log.
const (
	// CrashMessage: the invocation reached its crash point (fields step, after, service,
	// operation).
	CrashMessage = "fault injected: the invocation crashes after this AWS call"
	// UnreachedMessage: an invocation of the step ended before its crash point (fields step,
	// after, calls).
	UnreachedMessage = "fault armed: the invocation ended before its crash point"
	// PauseMessage: the invocation reached its pause point and holds the call's result for the
	// pause (fields step, after, pause, service, operation; no service nor operation with
	// after 0).
	PauseMessage = "fault injected: the invocation pauses after this AWS call"
	// PauseUnreachedMessage: an invocation of the step ended before its pause point (fields
	// step, after, pause, calls).
	PauseUnreachedMessage = "fault armed: the invocation ended before its pause point"
)

// MaxPause is the longest pause Parse accepts: longer than any function's work needs to be
// held, and short of the timeouts a test would otherwise run into.
const MaxPause = 10 * time.Second

// ErrCrashed is matched by the errors of an injected crash: the refused calls' and the
// invocation's.
var ErrCrashed = errors.New("faultinject: injected crash")

// MiddlewareID is the id of the injector's middleware in an SDK stack.
const MiddlewareID = "LanyardFaultInject"

// Fault is what LANYARD_FAULT asks for: every invocation of Step crashes right after its
// After-th AWS call completes (After 0: before its first call) — or, when Pause is set, holds
// that call's result for Pause and then goes on (After 0: waits Pause before running at all).
// A fault pauses or crashes, never both.
type Fault struct {
	Step  string
	After int
	Pause time.Duration // 0: a crash
}

// String renders f as LANYARD_FAULT spells it.
func (f Fault) String() string {
	if f.Pause > 0 {
		return fmt.Sprintf("step=%s,after=%d,pause=%s", f.Step, f.After, f.Pause)
	}
	return fmt.Sprintf("step=%s,after=%d", f.Step, f.After)
}

// Parse reads a LANYARD_FAULT value: comma-separated key=value pairs, "step" (a name) and
// "after" (an integer, 0 or more), each exactly once, and optionally "pause" (a Go duration,
// more than 0 and at most MaxPause) once, in any order. When steps are given, the step must be
// one of them, so a misspelt step is refused rather than never firing.
func Parse(spec string, steps ...string) (Fault, error) {
	var f Fault
	seen := map[string]bool{}
	for part := range strings.SplitSeq(spec, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case !ok || value == "":
			return Fault{}, fmt.Errorf("%s: %q is not key=value", EnvVar, part)
		case seen[key]:
			return Fault{}, fmt.Errorf("%s: %s given twice", EnvVar, key)
		}
		seen[key] = true
		switch key {
		case "step":
			f.Step = value
		case "after":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return Fault{}, fmt.Errorf("%s: after=%q is not a count of AWS calls (0 or more)", EnvVar, value)
			}
			f.After = n
		case "pause":
			d, err := time.ParseDuration(value)
			if err != nil || d <= 0 || d > MaxPause {
				return Fault{}, fmt.Errorf("%s: pause=%q is not a duration above 0s and at most %s, as in pause=3s", EnvVar, value, MaxPause)
			}
			f.Pause = d
		default:
			return Fault{}, fmt.Errorf("%s: unknown key %q (step, after, pause)", EnvVar, key)
		}
	}
	switch {
	case !seen["step"] || !seen["after"]:
		return Fault{}, fmt.Errorf("%s: both step and after are needed, as in step=finishSecret,after=2", EnvVar)
	case len(steps) > 0 && !slices.Contains(steps, f.Step):
		return Fault{}, fmt.Errorf("%s: step %q is none of %s", EnvVar, f.Step, strings.Join(steps, ", "))
	}
	return f, nil
}

// Injector crashes or pauses the invocations its Fault names. A nil *Injector injects nothing.
type Injector struct {
	Fault Fault
	// Logger gets the injector's lines; nil means slog.Default().
	Logger *slog.Logger
	// Sleep waits d or until ctx ends, whichever comes first; nil means a timer. Tests set it.
	Sleep func(ctx context.Context, d time.Duration)
}

// FromEnv reads EnvVar through getenv and parses it (Parse, with steps): nil and no error when
// it is unset or empty, nil and an error when it is malformed — the caller logs that once, at
// its cold start, and runs without faults.
func FromEnv(getenv func(string) string, steps ...string) (*Injector, error) {
	spec := strings.TrimSpace(getenv(EnvVar))
	if spec == "" {
		return nil, nil
	}
	f, err := Parse(spec, steps...)
	if err != nil {
		return nil, err
	}
	return &Injector{Fault: f}, nil
}

func (i *Injector) logger() *slog.Logger {
	if i.Logger != nil {
		return i.Logger
	}
	return slog.Default()
}

// pause holds the invocation for the Fault's pause, cut short when ctx ends (the invocation's
// deadline).
func (i *Injector) pause(ctx context.Context) {
	if i.Sleep != nil {
		i.Sleep(ctx, i.Fault.Pause)
		return
	}
	t := time.NewTimer(i.Fault.Pause)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Install adds the injector's middleware to cfg, so that every client built from cfg afterwards
// counts the calls of armed invocations, refuses those of crashed ones and holds the result of
// the call a pause comes after. On a nil Injector it does nothing.
func (i *Injector) Install(cfg *aws.Config) {
	if i == nil {
		return
	}
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		// At the front of Initialize: outside the retry loop (one call however many attempts),
		// a refused call is never serialized, signed, traced or sent, and a paused call's
		// result is held after its last attempt.
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc(MiddlewareID, i.handleCall), middleware.Before)
	})
}

// Wrap returns handle with each invocation counted: step names an event's step, and an
// invocation of the Fault's step crashes (or pauses) after its Fault.After-th AWS call (through
// the middleware Install added). The wrapped handler returns an error matching ErrCrashed when
// the invocation crashed, whatever handle returned. On a nil Injector it returns handle itself.
func Wrap[E any](i *Injector, step func(E) string, handle func(context.Context, E) error) func(context.Context, E) error {
	if i == nil {
		return handle
	}
	wrapped := WrapResult(i, step, func(ctx context.Context, ev E) (struct{}, error) { return struct{}{}, handle(ctx, ev) })
	return func(ctx context.Context, ev E) error {
		_, err := wrapped(ctx, ev)
		return err
	}
}

// WrapResult is Wrap for a handler answering a result with its error: a crashed invocation
// answers R's zero value and an error matching ErrCrashed; a paused one answers what handle
// answered.
func WrapResult[E, R any](i *Injector, step func(E) string, handle func(context.Context, E) (R, error)) func(context.Context, E) (R, error) {
	if i == nil {
		return handle
	}
	return func(ctx context.Context, ev E) (R, error) {
		s := step(ev)
		if s != i.Fault.Step {
			return handle(ctx, ev)
		}
		inv := &invocation{fault: i.Fault}
		switch {
		case i.Fault.After == 0 && i.Fault.Pause > 0:
			inv.reach()
			i.logger().WarnContext(ctx, PauseMessage, "step", s, "after", 0, "pause", i.Fault.Pause.String())
			i.pause(ctx)
		case i.Fault.After == 0:
			inv.reach()
			i.logger().WarnContext(ctx, CrashMessage, "step", s, "after", 0)
		}
		res, err := handle(context.WithValue(ctx, invocationKey{}, inv), ev)
		if crashed := inv.err(); crashed != nil {
			var zero R
			return zero, crashed
		}
		if !inv.hasReached() {
			if i.Fault.Pause > 0 {
				i.logger().InfoContext(ctx, PauseUnreachedMessage, "step", s, "after", i.Fault.After, "pause", i.Fault.Pause.String(), "calls", inv.count())
			} else {
				i.logger().InfoContext(ctx, UnreachedMessage, "step", s, "after", i.Fault.After, "calls", inv.count())
			}
		}
		return res, err
	}
}

type invocationKey struct{}

// invocation is one counted invocation of the Fault's step.
type invocation struct {
	fault Fault

	mu      sync.Mutex
	calls   int    // AWS calls completed
	reached bool   // the crash or pause point is behind
	lastOp  string // "service operation" of the call the fault came after
}

// reach marks the fault's point as behind before the first call (After 0).
func (v *invocation) reach() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reached = true
}

func (v *invocation) hasReached() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.reached
}

func (v *invocation) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls
}

// err is the invocation's crash error, or nil before the crash point and for a pause.
func (v *invocation) err() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.reached || v.fault.Pause > 0 {
		return nil
	}
	if v.fault.After == 0 {
		return fmt.Errorf("%w before the first AWS call of step %s (%s)", ErrCrashed, v.fault.Step, EnvVar)
	}
	return fmt.Errorf("%w after AWS call %d (%s) of step %s (%s)", ErrCrashed, v.fault.After, v.lastOp, v.fault.Step, EnvVar)
}

// handleCall is the middleware: it passes calls outside counted invocations through, refuses
// the calls of a crashed invocation, and when an invocation's After-th call completes, crashes
// the invocation or holds that call's result for the pause.
func (i *Injector) handleCall(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	inv, _ := ctx.Value(invocationKey{}).(*invocation)
	if inv == nil {
		return next.HandleInitialize(ctx, in)
	}
	service, op := middleware.GetServiceID(ctx), middleware.GetOperationName(ctx)
	if err := inv.err(); err != nil {
		return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("%s %s not sent: %w", service, op, err)
	}
	out, md, err := next.HandleInitialize(ctx, in)
	inv.mu.Lock()
	inv.calls++
	reached := !inv.reached && inv.calls == inv.fault.After
	if reached {
		// Under the lock, so no call of a crashing invocation slips through after this one.
		inv.reached, inv.lastOp = true, strings.TrimSpace(service+" "+op)
	}
	inv.mu.Unlock()
	if !reached {
		return out, md, err
	}
	if inv.fault.Pause > 0 {
		i.logger().WarnContext(ctx, PauseMessage, "step", inv.fault.Step, "after", inv.fault.After, "pause", inv.fault.Pause.String(), "service", service, "operation", op)
		i.pause(ctx)
		return out, md, err
	}
	i.logger().WarnContext(ctx, CrashMessage, "step", inv.fault.Step, "after", inv.fault.After, "service", service, "operation", op)
	return out, md, err
}
