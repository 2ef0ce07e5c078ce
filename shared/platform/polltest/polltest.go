// Package polltest is the one poll-with-deadline of the tests: wait for a condition, never a
// fixed time in its place. integration/harness re-exports it for the tests against the local
// servers; tests of packages that must not import the harness use it directly.
package polltest

import (
	"testing"
	"time"
)

// Eventually polls cond until it reports true, or fails the test with cond's last explanation
// once within has passed. It polls at once, then after 1 ms, doubling the wait up to a
// hundredth of within (at most 200 ms, at least 1 ms): a fake answers in the first
// milliseconds, a local server is not asked more than five times a second.
func Eventually(t testing.TB, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	ceiling := min(max(within/100, time.Millisecond), 200*time.Millisecond)
	wait := time.Millisecond
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %s", within, why)
		}
		time.Sleep(wait)
		wait = min(2*wait, ceiling)
	}
}
