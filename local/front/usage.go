package front

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// respThrottled is API Gateway's gateway response type for a request over a usage plan's
// throttle.
const (
	respThrottled              = "THROTTLED"
	respUsageIdentifierRefused = "INVALID_API_KEY"
)

// Throttle is a usage plan's throttle as API Gateway applies it: a token bucket per usage
// identifier that holds at most Burst requests and refills at Rate requests per second.
type Throttle struct {
	Rate  float64
	Burst int
}

// UsagePlanSource finds the throttle of the usage plan a usage identifier key (the
// authorizer's usageIdentifierKey, an API key value) belongs to. found is false for a key
// that is in no plan, or in one without a throttle.
type UsagePlanSource interface {
	Lookup(ctx context.Context, usageKey string) (t Throttle, found bool, err error)
}

// limiter holds one token bucket per usage identifier key.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

// maxBuckets is how many buckets the limiter holds before it drops the full ones, which a
// fresh bucket would equal.
const maxBuckets = 1024

type bucket struct {
	tokens   float64
	last     time.Time
	throttle Throttle
}

func newLimiter() *limiter { return &limiter{buckets: map[string]*bucket{}} }

// refill adds the tokens earned since the bucket was last used, up to the burst.
func (b *bucket) refill(now time.Time) {
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 && b.throttle.Rate > 0 {
		b.tokens += elapsed * b.throttle.Rate
	}
	if now.After(b.last) {
		b.last = now
	}
	b.tokens = min(b.tokens, float64(max(b.throttle.Burst, 0)))
}

// take spends one token of key's bucket under throttle t at now. A bucket starts full; a
// throttle that changed (the plan was updated) applies from then on, the tokens held capped
// at the new burst.
func (l *limiter) take(key string, t Throttle, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: float64(max(t.Burst, 0)), last: now, throttle: t}
		l.buckets[key] = b
	}
	b.refill(now)
	b.throttle = t
	b.refill(now) // caps the tokens at the burst of t
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// prune drops the buckets that have refilled completely: the next request would find them
// as a new bucket does.
func (l *limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		b.refill(now)
		if b.tokens >= float64(b.throttle.Burst) {
			delete(l.buckets, k)
		}
	}
}

// apiKeyRequired says partner-key routes require an API key, as infra declares them
// (ApiKeyRequired) whenever the topology declares usage plans: API Gateway then refuses a
// request whose usage identifier names no enabled API key in a plan of the stage.
func (f *Front) apiKeyRequired() bool { return len(f.cfg.Topology.UsagePlans) > 0 }

// throttle applies the usage plan of the admitted request's usage identifier, as API Gateway
// does between the authorizer and the integration. Where the routes require an API key
// (apiKeyRequired), a usage identifier that names no enabled key in a plan — a partner whose
// API key the gateway enforcer disabled — is refused with API Gateway's INVALID_API_KEY
// response (403), whatever the authorizer's cached policy says; otherwise it is let through
// unthrottled.
func (f *Front) throttle(ctx context.Context, usageKey string) *gatewayError {
	var t Throttle
	found := false
	if usageKey != "" {
		var err error
		t, found, err = f.cfg.UsagePlans.Lookup(ctx, usageKey)
		if err != nil {
			return &gatewayError{
				responseType: respDefault5xx, status: http.StatusInternalServerError, errorType: "InternalServerErrorException",
				detail: "Internal server error", cause: fmt.Errorf("usage plan of usage identifier %s: %w", usageKey, err),
			}
		}
	}
	if !found {
		if f.apiKeyRequired() {
			return &gatewayError{
				responseType: respUsageIdentifierRefused, status: http.StatusForbidden, errorType: "ForbiddenException",
				detail: "Forbidden", cause: fmt.Errorf("usage identifier %q names no enabled API key in a usage plan of the stage", usageKey),
			}
		}
		return nil
	}
	if f.limiter.take(usageKey, t, f.cfg.Now()) {
		return nil
	}
	f.stats.throttled.Add(1)
	return &gatewayError{
		responseType: respThrottled, status: http.StatusTooManyRequests, errorType: "TooManyRequestsException",
		detail: "Too Many Requests",
		cause:  fmt.Errorf("usage identifier %s over its plan's throttle (rate %g/s, burst %d)", usageKey, t.Rate, t.Burst),
	}
}
