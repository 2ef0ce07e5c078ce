//go:build integration

package flush_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/features/flush"
	"github.com/lanyardhq/lanyard/topology"
)

// gateway records each flush's start and end, by the real clock; failNext fails that many
// flushes first.
type gateway struct {
	mu       sync.Mutex
	flushes  [][2]time.Time
	failNext atomic.Int32
	delay    time.Duration
}

func (g *gateway) FlushStageAuthorizersCache(ctx context.Context, in *apigateway.FlushStageAuthorizersCacheInput, _ ...func(*apigateway.Options)) (*apigateway.FlushStageAuthorizersCacheOutput, error) {
	start := time.Now()
	if aws.ToString(in.RestApiId) != "api" || aws.ToString(in.StageName) != "live" {
		return nil, fmt.Errorf("flush of %s/%s", aws.ToString(in.RestApiId), aws.ToString(in.StageName))
	}
	if g.failNext.Add(-1) >= 0 {
		return nil, errors.New("flush refused")
	}
	time.Sleep(g.delay)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.flushes = append(g.flushes, [2]time.Time{start, time.Now()})
	return &apigateway.FlushStageAuthorizersCacheOutput{}, nil
}

// claims records the successful claims one instance made, by the real clock (the claim's
// time by the instance's clock, less the instance's skew).
type claims struct {
	*dynamodb.Client
	skew time.Duration
	mu   *sync.Mutex
	at   *[]time.Time
}

func (c claims) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := c.Client.UpdateItem(ctx, in, opts...)
	if n, ok := in.ExpressionAttributeValues[":at"].(*types.AttributeValueMemberN); ok && err == nil {
		ns, perr := strconv.ParseInt(n.Value, 10, 64)
		if perr != nil {
			return nil, perr
		}
		c.mu.Lock()
		*c.at = append(*c.at, time.Unix(0, ns).Add(-c.skew))
		c.mu.Unlock()
	}
	return out, err
}

func (g *gateway) recorded() [][2]time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.flushes)
}

// flushesTable creates the flushes table as the production declaration keys it.
func flushesTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	decl, ok := topology.Lanyard().Table("flushes")
	if !ok {
		t.Fatal("no flushes table declared")
	}
	name := harness.Name("lanyard-flushes")
	if _, err := env.DynamoDB.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(decl.PartitionKey.Name), AttributeType: types.ScalarAttributeType(decl.PartitionKey.Type)}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(decl.PartitionKey.Name), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = env.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	if err := dynamodb.NewTableExistsWaiter(env.DynamoDB).Wait(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return env.DynamoDB, name
}

// Many callers on several instances, each instance's clock skewed by up to ±20 ms, ask for
// flushes in a loop: the stage's flushes are claimed at most once an interval (by real time:
// the interval less the skews' spread), each claim makes one flush, and every After returns
// only once a flush that started after its time (by real time) had completed. A coalescer
// that flushed for every caller, or returned before a covering flush completed, fails.
func TestCoalescerFlushesOnceAnIntervalAndCoversEveryCaller(t *testing.T) {
	t.Parallel()
	db, table := flushesTable(t)
	const (
		interval  = 300 * time.Millisecond
		margin    = 50 * time.Millisecond
		instances = 4
		callers   = 6 // per instance
		run       = 2 * time.Second
	)
	skews := []time.Duration{-20 * time.Millisecond, 0, 7 * time.Millisecond, 20 * time.Millisecond}
	gw := &gateway{delay: 20 * time.Millisecond}

	type call struct{ after, returned time.Time } // real times
	var (
		mu      sync.Mutex
		calls   []call
		claimed []time.Time
		flushed atomic.Int32
	)
	ctx := t.Context()
	deadline := time.Now().Add(run)
	var wg sync.WaitGroup
	for i := range instances {
		skew := skews[i]
		c := &flush.Coalescer{DB: claims{Client: db, skew: skew, mu: &mu, at: &claimed}, Table: table, Gateway: gw, RestAPIID: "api", Stage: "live",
			Now: func() time.Time { return time.Now().Add(skew) }, Interval: interval, SkewMargin: margin, Poll: 10 * time.Millisecond}
		for range callers {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					realAfter := time.Now()
					did, err := c.After(ctx, realAfter.Add(skew)) // the time of a change, by this instance's clock
					if err != nil {
						t.Error(err)
						return
					}
					if did {
						flushed.Add(1)
					}
					mu.Lock()
					calls = append(calls, call{after: realAfter, returned: time.Now()})
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()

	fl := gw.recorded()
	if int(flushed.Load()) != len(fl) {
		t.Errorf("%d calls say they flushed, the gateway saw %d flushes", flushed.Load(), len(fl))
	}
	maxFlushes := int((run+time.Second)/interval) + 1 // the last callers may run up to a second past the deadline
	if len(fl) < 2 || len(fl) > maxFlushes {
		t.Errorf("%d flushes in about %s for %d calls, want 2 to %d", len(fl), run, len(calls), maxFlushes)
	}
	if len(claimed) != len(fl) {
		t.Errorf("%d claims, %d flushes", len(claimed), len(fl))
	}
	slices.SortFunc(claimed, time.Time.Compare)
	minGap := interval - 2*20*time.Millisecond
	for i := 1; i < len(claimed); i++ {
		if gap := claimed[i].Sub(claimed[i-1]); gap < minGap {
			t.Errorf("claims %d and %d %s apart, want at least %s", i-1, i, gap, minGap)
		}
	}
	if len(calls) < 10*instances {
		t.Errorf("only %d calls made", len(calls))
	}
	for _, c := range calls {
		if !slices.ContainsFunc(fl, func(f [2]time.Time) bool { return f[0].After(c.after) && !f[1].After(c.returned) }) {
			t.Errorf("a call for %s returned at %s with no flush started after it and done by then", c.after.Format(time.StampMicro), c.returned.Format(time.StampMicro))
		}
	}
}

// A claimer whose flush fails leaves its claim without a completion: the caller fails, and a
// caller waiting for that flush claims the next one an interval later and flushes itself.
func TestCoalescerFlushesAfterAFailedClaim(t *testing.T) {
	t.Parallel()
	db, table := flushesTable(t)
	gw := &gateway{}
	gw.failNext.Store(1)
	c := &flush.Coalescer{DB: db, Table: table, Gateway: gw, RestAPIID: "api", Stage: "live",
		Interval: 200 * time.Millisecond, SkewMargin: time.Millisecond, Poll: 5 * time.Millisecond}
	at := time.Now()
	if _, err := c.After(t.Context(), at); err == nil {
		t.Fatal("After: no error from a failed flush")
	}
	start := time.Now()
	did, err := c.After(t.Context(), at)
	if err != nil || !did {
		t.Fatalf("After the failed flush: flushed %t, %v; want a flush of its own", did, err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("waited %s for the failed claim to age", waited)
	}
	if fl := gw.recorded(); len(fl) != 1 || !fl[0][0].After(at) {
		t.Errorf("flushes %v, want one after %s", fl, at)
	}
	// A change before that flush's claim is covered: no second flush.
	if did, err := c.After(t.Context(), at); err != nil || did {
		t.Errorf("After a covering flush: flushed %t, %v; want nothing done", did, err)
	}
}

// A caller waits no longer than its context.
func TestCoalescerWaitEndsWithTheContext(t *testing.T) {
	t.Parallel()
	db, table := flushesTable(t)
	c := &flush.Coalescer{DB: db, Table: table, Gateway: &gateway{}, RestAPIID: "api", Stage: "live"}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	// A time an hour ahead: no flush can cover it before the context ends.
	if _, err := c.After(ctx, time.Now().Add(time.Hour)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("After: %v, want the context's deadline", err)
	}
}
