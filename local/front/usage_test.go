package front_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/local/front"
	"github.com/lanyardhq/lanyard/topology"
)

// plans is a UsagePlanSource over a fixed map, counting its lookups.
type plans struct {
	mu     sync.Mutex
	byKey  map[string]front.Throttle
	err    error
	lookup []string
}

func (p *plans) Lookup(_ context.Context, usageKey string) (front.Throttle, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lookup = append(p.lookup, usageKey)
	if p.err != nil {
		return front.Throttle{}, false, p.err
	}
	t, ok := p.byKey[usageKey]
	return t, ok, nil
}

func (p *plans) lookups() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lookup...)
}

// step is one request of a throttling scenario: after advancing the clock, identity (the
// authorizer's fake answers with usageIdentifierKey = identity for "usage-key-…") calls
// target and gets status.
type step struct {
	advance  time.Duration
	identity string
	method   string // default GET
	target   string // default /v1/probe
	status   int
}

func TestUsagePlanThrottling(t *testing.T) {
	t.Parallel()
	ok, throttled := http.StatusCreated, http.StatusTooManyRequests
	limits := map[string]front.Throttle{
		"usage-key-7":    {Rate: 2, Burst: 3},
		"usage-key-8":    {Rate: 1, Burst: 1},
		"usage-key-slow": {Rate: 0.5, Burst: 1},
		"usage-key-zero": {Rate: 0, Burst: 0},
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"the burst, then 429", []step{
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: throttled},
			{identity: "usage-key-7", status: throttled},
		}},
		{"the bucket refills at the rate", []step{
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: throttled},
			{advance: 499 * time.Millisecond, identity: "usage-key-7", status: throttled}, // 0.998 of a token
			{advance: time.Millisecond, identity: "usage-key-7", status: ok},              // one token at 2/s
			{identity: "usage-key-7", status: throttled},
			{advance: time.Second, identity: "usage-key-7", status: ok}, // two tokens
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: throttled},
		}},
		{"a long pause refills no more than the burst", []step{
			{advance: time.Hour, identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: throttled},
			{advance: time.Hour, identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: throttled},
		}},
		{"a rate under one per second", []step{
			{identity: "usage-key-slow", status: ok},
			{advance: 1999 * time.Millisecond, identity: "usage-key-slow", status: throttled},
			{advance: time.Millisecond, identity: "usage-key-slow", status: ok},
		}},
		{"two usage identifiers have buckets of their own", []step{
			{identity: "usage-key-8", status: ok},
			{identity: "usage-key-8", status: throttled},
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: ok},
			{identity: "usage-key-7", status: throttled},
			{identity: "usage-key-8", status: throttled},
			{advance: time.Second, identity: "usage-key-8", status: ok},
		}},
		{"one bucket across the routes a usage identifier calls", []step{
			{identity: "usage-key-8", method: "GET", target: "/v1/probe", status: ok},
			{identity: "usage-key-8", method: "POST", target: "/v1/probe/42", status: throttled},
			{identity: "usage-key-8", method: "POST", target: "/v1/probe/special", status: throttled},
		}},
		{"a plan that lets nothing through", []step{
			{identity: "usage-key-zero", status: throttled},
			{advance: time.Hour, identity: "usage-key-zero", status: throttled},
		}},
		{"a usage identifier in no plan is not throttled", []step{
			{identity: "usage-key-unplanned", status: ok},
			{identity: "usage-key-unplanned", status: ok},
			{identity: "usage-key-unplanned", status: ok},
			{identity: "usage-key-unplanned", status: ok},
			{identity: "usage-key-unplanned", status: ok},
		}},
		{"open routes are not throttled", []step{
			{identity: "usage-key-8", status: ok},
			{identity: "usage-key-8", target: "/v1/open", status: ok},
			{identity: "usage-key-8", target: "/v1/open", status: ok},
			{identity: "usage-key-8", status: throttled},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := &plans{byKey: limits}
			fx := newFixture(t, func(c *front.Config) { c.UsagePlans = src })
			wantThrottled, wantRoutes := 0, 0
			for i, s := range tt.steps {
				fx.clock.Advance(s.advance)
				method, target := s.method, s.target
				if method == "" {
					method = "GET"
				}
				if target == "" {
					target = "/v1/probe"
				}
				res := serve(fx.front, request(method, target, s.identity, nil))
				switch s.status {
				case throttled:
					wantThrottled++
					if detail := wantProblem(t, res, http.StatusTooManyRequests, "THROTTLED"); detail != "Too Many Requests" {
						t.Errorf("step %d: detail %q", i, detail)
					}
					if et := res.header.Get("x-amzn-ErrorType"); et != "TooManyRequestsException" {
						t.Errorf("step %d: x-amzn-ErrorType %q", i, et)
					}
				default:
					wantRoutes++
					if res.status != s.status {
						t.Fatalf("step %d (%s %s as %s at +%v): status %d, want %d (body %s)",
							i, method, target, s.identity, fx.clock.Now().Sub(epoch), res.status, s.status, res.body)
					}
				}
			}
			// A throttled request never reaches the route's function.
			if _, routes := fx.fn.counts(); routes != wantRoutes {
				t.Errorf("%d route calls, want %d", routes, wantRoutes)
			}
			if n := fx.front.Stats().Throttled; n != int64(wantThrottled) {
				t.Errorf("Stats().Throttled = %d, want %d", n, wantThrottled)
			}
		})
	}
}

// The usage plan is asked for the authorizer's usage identifier on partner-key routes only,
// and never when the authorizer names none or refuses the request.
func TestUsagePlanLookups(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		method   string
		target   string
		identity string
		status   int
		lookups  []string
	}{
		{"partner-key route", "GET", "/v1/probe", "usage-key-7", http.StatusCreated, []string{"usage-key-7"}},
		{"an Allow without a usage identifier", "GET", "/v1/probe", "no-usage", http.StatusCreated, nil},
		{"an explicit Deny", "GET", "/v1/probe", "deny", http.StatusForbidden, nil},
		{"Unauthorized", "GET", "/v1/probe", "unauthorized", http.StatusUnauthorized, nil},
		{"open route", "GET", "/v1/open", "usage-key-7", http.StatusCreated, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := &plans{byKey: map[string]front.Throttle{"usage-key-7": {Rate: 10, Burst: 10}}}
			fx := newFixture(t, func(c *front.Config) { c.UsagePlans = src })
			res := serve(fx.front, request(tt.method, tt.target, tt.identity, nil))
			if res.status != tt.status {
				t.Fatalf("status %d, want %d (body %s)", res.status, tt.status, res.body)
			}
			if got := src.lookups(); fmt.Sprint(got) != fmt.Sprint(tt.lookups) {
				t.Errorf("lookups %v, want %v", got, tt.lookups)
			}
		})
	}
}

// A usage plan that cannot be read fails the request (500) before the function runs: the
// front does not let a partner through unthrottled because LocalStack did not answer.
func TestUsagePlanLookupFailure(t *testing.T) {
	t.Parallel()
	src := &plans{err: errors.New("GetApiKeys: connection refused")}
	fx := newFixture(t, func(c *front.Config) { c.UsagePlans = src })
	res := serve(fx.front, request("GET", "/v1/probe", "usage-key-7", nil))
	if detail := wantProblem(t, res, http.StatusInternalServerError, "DEFAULT_5XX"); detail != "Internal server error" {
		t.Errorf("detail %q", detail)
	}
	if contains(res.body, "connection refused") {
		t.Errorf("the cause reached the client: %s", res.body)
	}
	if _, routes := fx.fn.counts(); routes != 0 {
		t.Errorf("%d route calls, want none", routes)
	}
}

// Concurrent requests of one usage identifier (run with -race): exactly the burst gets through.
func TestThrottleUnderConcurrency(t *testing.T) {
	t.Parallel()
	src := &plans{byKey: map[string]front.Throttle{"usage-key-7": {Rate: 1, Burst: 5}}}
	fx := newFixture(t, func(c *front.Config) { c.UsagePlans = src })
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			res := serve(fx.front, request("GET", "/v1/probe", "usage-key-7", nil))
			mu.Lock()
			statuses[res.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[http.StatusCreated] != 5 || statuses[http.StatusTooManyRequests] != 15 {
		t.Errorf("statuses %v, want 5 × 201 and 15 × 429", statuses)
	}
}

// Where the topology declares usage plans, the partner-key routes require an API key, as infra
// declares them (ApiKeyRequired): a usage identifier that names no enabled API key in a plan —
// a partner whose API key the gateway enforcer disabled — is refused with API Gateway's
// INVALID_API_KEY response, whatever the authorizer's cached policy says, and never reaches the
// function; a usage identifier in a plan goes through.
func TestDisabledAPIKeyIsRefusedWhereTheRoutesRequireOne(t *testing.T) {
	t.Parallel()
	src := &plans{byKey: map[string]front.Throttle{"usage-key-7": {Rate: 100, Burst: 100}}}
	fx := newFixture(t, func(c *front.Config) {
		c.UsagePlans = src
		tp := testTopology()
		tp.UsagePlans = []topology.UsagePlan{{Name: "standard", RateLimit: 100, BurstLimit: 100}}
		c.Topology = tp
	})
	if res := serve(fx.front, request("GET", "/v1/probe", "usage-key-7", nil)); res.status != http.StatusCreated {
		t.Fatalf("an enabled key in a plan: %d %s", res.status, res.body)
	}
	for range 2 { // the second from the authorizer's cached policy
		res := serve(fx.front, request("GET", "/v1/probe", "usage-key-disabled", nil))
		if detail := wantProblem(t, res, http.StatusForbidden, "INVALID_API_KEY"); detail != "Forbidden" {
			t.Errorf("detail %q", detail)
		}
		if et := res.header.Get("x-amzn-ErrorType"); et != "ForbiddenException" {
			t.Errorf("x-amzn-ErrorType %q", et)
		}
	}
	if _, routes := fx.fn.counts(); routes != 1 {
		t.Errorf("%d route calls, want 1: a refused request never reaches the function", routes)
	}
}
