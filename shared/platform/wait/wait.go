// Package wait is the one wait for a duration that the context may end first: a retry's
// backoff, an enforcer's wait for a cache to run out, a caller's wait for a flush.
package wait

import (
	"context"
	"fmt"
	"time"
)

// Sleep waits d, or until ctx ends; then it answers the context's cause, wrapped with what,
// which says what was awaited ("waiting to retry").
func Sleep(ctx context.Context, d time.Duration, what string) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, context.Cause(ctx))
	case <-t.C:
		return nil
	}
}
