package wait_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/platform/wait"
)

func TestSleep(t *testing.T) {
	t.Parallel()
	if err := wait.Sleep(t.Context(), time.Millisecond, "waiting"); err != nil {
		t.Errorf("a wait that ran its course: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := wait.Sleep(ctx, time.Hour, "waiting to retry")
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "waiting to retry: ") {
		t.Errorf("a wait its context ended: %v, want context.Canceled wrapped with what was awaited", err)
	}
}
