package authorizer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/features/authorizer"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/topology"
)

// BenchmarkKeyCacheTTL measures what the authorizer's in-memory key cache (KeyCacheTTL) buys
// and what it costs a revocation, by running the real Authorizer behind a model of API
// Gateway's policy cache on a simulated clock:
//
//   - 100 partners call once a second each for 10 minutes; API Gateway keeps each Allow for
//     topology.AuthorizerResultTTL (5 minutes) and calls the authorizer only on a miss;
//   - the stage's cache is flushed every `flushes` (other partners' revocations and
//     retirements; "none" for a quiet stage);
//   - one more partner's key succeeds half a second before it is revoked (its Allow cached by
//     API Gateway, its entry by the authorizer instance), then calls every 100 ms. The revoke
//     handler flushes right after its commit; the gateway enforcer flushes again at the
//     revocation + KeyCacheTTL + the authorizer's timeout.
//
// Reported: registry-reads/1k-req, the registry reads per thousand requests (the ratio of the
// cached variants to ttl=0, in the same run, is the cache's saving), and stale-allow-ms, how
// long after the revoke call returned the revoked key was still let through.
func BenchmarkKeyCacheTTL(b *testing.B) {
	for _, ttl := range []time.Duration{30 * time.Second, time.Second, 0} {
		for _, every := range []time.Duration{0, time.Minute, 10 * time.Second, time.Second} {
			name := "flushes=none"
			if every > 0 {
				name = "flushes=every-" + every.String()
			}
			b.Run(fmt.Sprintf("ttl=%s/%s", ttl, name), func(b *testing.B) {
				var reads, requests int
				var stale time.Duration
				for b.Loop() {
					reads, requests, stale = simulateKeyCache(b, ttl, every)
				}
				b.ReportMetric(float64(reads)*1000/float64(requests), "registry-reads/1k-req")
				b.ReportMetric(float64(stale.Milliseconds()), "stale-allow-ms")
			})
		}
	}
}

// authorizerTimeout is the authorizer function's timeout, as topology declares it.
func authorizerTimeout(tb testing.TB) time.Duration {
	f, ok := topology.Lanyard().Function(topology.Lanyard().Authorizer.Function)
	if !ok {
		tb.Fatal("no authorizer function declared")
	}
	return f.Timeout
}

// simulateKeyCache runs the scenario of BenchmarkKeyCacheTTL once and answers the registry
// reads, the requests, and how long the revoked key was let through after its revocation.
func simulateKeyCache(b *testing.B, ttl, flushEvery time.Duration) (reads, requests int, stale time.Duration) {
	const (
		partners = 100
		length   = 10 * time.Minute
		tick     = 100 * time.Millisecond
	)
	revokeAt := 5*time.Minute + 30*time.Second // the revoked key's call succeeds 500 ms before
	secondFlush := revokeAt + ttl + authorizerTimeout(b)

	lookup := &fakeLookup{}
	keys := make([]credential.Key, partners+1)
	for i := range keys {
		keys[i] = generate(b, credential.EnvLive)
		lookup.put(entryFor(keys[i], "orders:read"))
	}
	victim := keys[partners]
	now := epoch
	a := &authorizer.Authorizer{
		Lookup:      lookup,
		Routes:      topology.PartnerKeyRoutes(topology.Lanyard().Routes),
		KeyCacheTTL: ttl,
		Environment: credential.EnvLive,
		Now:         func() time.Time { return now },
		Logger:      logging.NewJSON(io.Discard, slog.LevelError),
	}
	gateway := map[credential.KeyID]struct {
		allow   bool
		expires time.Time
	}{}
	call := func(k credential.Key) bool {
		requests++
		if c, ok := gateway[k.ID()]; ok && now.Before(c.expires) {
			return c.allow
		}
		resp, err := a.Authorize(context.Background(), request(bearer(k)))
		if err != nil {
			b.Fatalf("authorize: %v", err)
		}
		allow := resp.PolicyDocument.Statement[0].Effect == "Allow"
		gateway[k.ID()] = struct {
			allow   bool
			expires time.Time
		}{allow, now.Add(topology.AuthorizerResultTTL)}
		return allow
	}
	var lastStaleAllow time.Duration
	for at := time.Duration(0); at < length; at += tick {
		now = epoch.Add(at)
		if flushEvery > 0 && at > 0 && at%flushEvery == 0 {
			clear(gateway)
		}
		if at == secondFlush {
			clear(gateway)
		}
		if at == revokeAt {
			e := entryFor(victim, "orders:read")
			e.Status, e.RevokedAt = registry.StatusRevoked, now
			lookup.put(e)
			clear(gateway) // the revoke handler's flush, right after its commit
		}
		if at%time.Second == 0 {
			for _, k := range keys[:partners] {
				if !call(k) {
					b.Fatal("an active key was refused")
				}
			}
		}
		if at >= revokeAt-500*time.Millisecond && call(victim) && at >= revokeAt {
			lastStaleAllow = at - revokeAt + tick
		}
	}
	return lookup.count(), requests, lastStaleAllow
}
