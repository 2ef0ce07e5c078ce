// Package flush flushes the REST API stage's authorizer cache (FlushStageAuthorizersCache) for
// committed changes, coalesced: at most one flush an interval (a second) per stage across all
// callers and all instances, and every caller still gets a flush that started after the
// change it committed.
//
// The stage's state is one item of the flushes table (shared/stores/flushes): the latest
// claim and the latest flush that completed. A caller that needs a flush after time t (After)
// reads it:
//
//   - a completed flush claimed after t (with a margin for clock skew) covers it: nothing to
//     do;
//   - otherwise, once the latest claim is an interval old, it claims the next flush with a
//     conditional write (the claim unchanged since read: one caller wins), flushes, and
//     records the completion;
//   - otherwise it waits: for the claim in flight to complete when that claim covers t
//     (looking again every Poll), or until the latest claim is an interval old.
//
// A claimer that fails to flush leaves its claim without a completion: the callers waiting on
// it claim the next flush an interval later. So a caller waits about an interval at most while
// others flush, and a partner calling revoke in a loop costs the stage one flush an interval.
//
// Times come from each instance's clock. A claim covers t only when it is later than t by
// SkewMargin, so clocks apart by less than SkewMargin never make a flush that started before a
// change count as one after it; and two claims are an interval apart by their claimers' clocks,
// so by real time at least the interval less the skew.
package flush

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"

	"github.com/lanyardhq/lanyard/shared/platform/wait"
	"github.com/lanyardhq/lanyard/shared/stores/flushes"
)

// Defaults of the Coalescer's tunables.
const (
	DefaultInterval   = time.Second
	DefaultSkewMargin = 100 * time.Millisecond
	DefaultPoll       = 50 * time.Millisecond
)

// FlushAPI is the part of the API Gateway client the Coalescer calls.
type FlushAPI interface {
	FlushStageAuthorizersCache(ctx context.Context, in *apigateway.FlushStageAuthorizersCacheInput, opts ...func(*apigateway.Options)) (*apigateway.FlushStageAuthorizersCacheOutput, error)
}

var _ FlushAPI = (*apigateway.Client)(nil)

// Coalescer flushes stage Stage of REST API RestAPIID at most once an Interval across all
// callers and instances that share its table. Build it once per cold start; it is safe for
// concurrent use.
type Coalescer struct {
	DB    flushes.DynamoDBAPI
	Table string
	// Gateway flushes the authorizer cache.
	Gateway   FlushAPI
	RestAPIID string
	Stage     string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep pauses for d or until ctx ends; nil sleeps on a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Interval between two flushes of the stage (0: DefaultInterval), SkewMargin by which a
	// claim must follow a time to cover it (0: DefaultSkewMargin), and Poll, how often a caller
	// waiting on another's flush looks again (0: DefaultPoll).
	Interval   time.Duration
	SkewMargin time.Duration
	Poll       time.Duration
}

func (c *Coalescer) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (c *Coalescer) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	return wait.Sleep(ctx, d, "wait for a flush")
}

// After returns once a flush that started after `after` has been made: by this call (flushed
// is true), or by another caller's flush claimed after `after` (then this call flushes
// nothing). It waits about an Interval at most while another flush was claimed within the
// last Interval, and until `after` (plus SkewMargin) has passed by its own clock.
func (c *Coalescer) After(ctx context.Context, after time.Time) (flushed bool, err error) {
	interval, margin, poll := orDefault(c.Interval, DefaultInterval), orDefault(c.SkewMargin, DefaultSkewMargin), orDefault(c.Poll, DefaultPoll)
	store := &flushes.Store{DB: c.DB, Table: c.Table}
	stage := flushes.StageKey(c.RestAPIID, c.Stage)
	covers := after.Add(margin)
	for {
		st, err := store.Get(ctx, stage)
		if err != nil {
			return false, fmt.Errorf("flush after %s: %w", after.Format(time.RFC3339Nano), err)
		}
		if st.FlushedAt.After(covers) {
			return false, nil
		}
		now := c.now()
		next := st.ClaimedAt.Add(interval)
		var wait time.Duration
		switch {
		case !now.After(covers):
			// A flush claimed now would not cover `after`.
			wait = covers.Sub(now) + time.Millisecond
		case st.ClaimedAt.IsZero() || !now.Before(next):
			ok, err := store.Claim(ctx, st, now)
			if err != nil {
				return false, fmt.Errorf("flush after %s: %w", after.Format(time.RFC3339Nano), err)
			}
			if !ok {
				continue // another caller claimed first: read what it claimed
			}
			if err := c.flush(ctx, stage, now); err != nil {
				return false, err
			}
			return true, nil
		default:
			wait = next.Sub(now)
			if st.ClaimedAt.After(covers) && wait > poll {
				wait = poll // the flush in flight covers `after`: look for its completion
			}
		}
		if err := c.sleep(ctx, wait); err != nil {
			return false, err
		}
	}
}

// AfterCommit has a flush made that started after committedAt (After), for a change committed
// then: the revoke handlers' hook.
func (c *Coalescer) AfterCommit(ctx context.Context, committedAt time.Time) error {
	_, err := c.After(ctx, committedAt)
	return err
}

// flush flushes the stage's authorizer cache for the claim taken at claimedAt and records its
// completion.
func (c *Coalescer) flush(ctx context.Context, stage string, claimedAt time.Time) error {
	if _, err := c.Gateway.FlushStageAuthorizersCache(ctx, &apigateway.FlushStageAuthorizersCacheInput{
		RestApiId: aws.String(c.RestAPIID), StageName: aws.String(c.Stage),
	}); err != nil {
		return fmt.Errorf("flush the authorizer cache of stage %s of REST API %s: %w", c.Stage, c.RestAPIID, err)
	}
	slog.InfoContext(ctx, "authorizer cache flushed", "restApiId", c.RestAPIID, "stage", c.Stage, "claimedAt", claimedAt)
	if err := (&flushes.Store{DB: c.DB, Table: c.Table}).Flushed(ctx, stage, claimedAt); err != nil {
		return fmt.Errorf("flush the authorizer cache of stage %s: flushed, but: %w", c.Stage, err)
	}
	return nil
}
