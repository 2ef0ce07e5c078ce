package secrettest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
)

// stubTB collects the failures Plant would report, so the helper itself can be tested.
type stubTB struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (s *stubTB) Helper() {}
func (s *stubTB) Errorf(format string, args ...any) {
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}
func (s *stubTB) Cleanup(f func()) { s.cleanups = append(s.cleanups, f) }
func (s *stubTB) finish() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
}

func outsideLambda(t *testing.T) {
	t.Helper()
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
}

func TestCleanUseReportsNothing(t *testing.T) {
	outsideLambda(t)
	stub := &stubTB{TB: t}
	c := secrettest.Plant(stub)
	key := c.New("key")
	slog.Info("issued", "key", key)
	ctx, span := tracing.Start(context.Background(), "issue")
	_ = ctx
	span.End(fmt.Errorf("store %v: %w", key, errors.New("conflict")))
	c.CheckError(fmt.Errorf("wrap: %s", key))
	stub.finish()
	if len(stub.errs) != 0 {
		t.Fatalf("no leak expected, got %v", stub.errs)
	}
}

func TestEveryChannelIsWatched(t *testing.T) {
	outsideLambda(t)
	stub := &stubTB{TB: t}
	c := secrettest.Plant(stub)
	logged, traced, errored, encoded, added := c.New("logged"), c.New("traced"), c.New("errored"), c.New("encoded"), "returned-key-123456"
	c.Add("added", added)

	slog.Info("oops", "raw", logged.Reveal())
	_, span := tracing.Start(context.Background(), "leaky")
	span.Annotate("k", traced.Reveal())
	span.End(nil)
	c.CheckError(errors.New("bad key " + errored.Reveal()))
	c.CheckText("process output", base64.StdEncoding.EncodeToString([]byte(encoded.Reveal())))
	c.Logger().Warn("added", "v", added)
	stub.finish()

	all := strings.Join(stub.errs, "\n")
	for _, want := range []string{`"logged" (plain) found in logs`, `"traced" (plain) found in trace segment 0`,
		`"errored" (plain) found in error`, `"encoded" (base64) found in process output`, `"added" (plain) found in logs`} {
		if !strings.Contains(all, want) {
			t.Errorf("missing report %q in:\n%s", want, all)
		}
	}
	for _, v := range []string{logged.Reveal(), traced.Reveal(), errored.Reveal(), encoded.Reveal(), added} {
		if strings.Contains(all, v) {
			t.Errorf("a failure message printed a canary value")
		}
	}
}

// Two tests planting at once both watch every channel, and the default logger comes back only
// when the last one ends.
func TestOverlappingPlantsEachWatchEverything(t *testing.T) {
	outsideLambda(t)
	before := slog.Default()
	first, second := &stubTB{TB: t}, &stubTB{TB: t}
	a := secrettest.Plant(first)
	b := secrettest.Plant(second)
	logged, traced := a.New("logged"), b.New("traced")
	slog.Info("oops", "raw", logged.Reveal())
	_, span := tracing.Start(context.Background(), "leaky")
	span.Annotate("k", traced.Reveal())
	span.End(nil)

	first.finish()
	if slog.Default() == before {
		t.Fatal("the first plant to end put the default logger back while another still watches")
	}
	later := b.New("later")
	slog.Info("after the first ended", "raw", later.Reveal())
	second.finish()
	if slog.Default() != before {
		t.Error("the last plant to end did not put the default logger back")
	}

	for name, st := range map[string]*stubTB{"first": first, "second": second} {
		all := strings.Join(st.errs, "\n")
		if name == "first" && !strings.Contains(all, `"logged" (plain) found in logs`) {
			t.Errorf("%s: missing its own leak in:\n%s", name, all)
		}
		if name == "second" {
			for _, want := range []string{`"traced" (plain) found in trace segment`, `"later" (plain) found in logs`} {
				if !strings.Contains(all, want) {
					t.Errorf("%s: missing report %q in:\n%s", name, want, all)
				}
			}
		}
	}
}
