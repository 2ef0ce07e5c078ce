package polltest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/platform/polltest"
)

// fatalTB records the failure Eventually reports instead of stopping the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

func run(tb *fatalTB, within time.Duration, cond func() (bool, string)) {
	defer func() {
		if r := recover(); r != nil && r != tb {
			panic(r)
		}
	}()
	polltest.Eventually(tb, within, cond)
}

func TestEventually(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		within    time.Duration
		trueAfter int // calls; -1 never
		fails     string
		maxCalls  int
	}{
		{"true at once", time.Second, 1, "", 1},
		{"true on the fifth call", time.Second, 5, "", 5},
		{"never", 50 * time.Millisecond, -1, "condition not met within 50ms: call", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tb := &fatalTB{TB: t}
			calls := 0
			began := time.Now()
			run(tb, c.within, func() (bool, string) {
				calls++
				return c.trueAfter > 0 && calls >= c.trueAfter, fmt.Sprintf("call %d", calls)
			})
			if c.fails == "" && tb.msg != "" || c.fails != "" && !strings.HasPrefix(tb.msg, c.fails) {
				t.Errorf("failure %q, want %q", tb.msg, c.fails)
			}
			if c.maxCalls > 0 && calls != c.maxCalls {
				t.Errorf("%d calls, want %d", calls, c.maxCalls)
			}
			if c.fails != "" && (time.Since(began) < c.within || calls < 3) {
				t.Errorf("gave up after %s and %d calls, want the whole %s, polling", time.Since(began), calls, c.within)
			}
		})
	}
}
