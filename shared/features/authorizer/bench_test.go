package authorizer_test

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/features/authorizer"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
	"github.com/lanyardhq/lanyard/topology"
)

// benchAuthorizer is an authorizer over an in-memory registry holding one active key with two
// scopes, for the production routes, logging JSON to io.Discard (the line is formatted, as in
// Lambda, and thrown away), with the key's entry already cached.
func benchAuthorizer(b *testing.B) (*authorizer.Authorizer, credential.Key) {
	b.Helper()
	k := generate(b, credential.EnvLive)
	lookup := &fakeLookup{}
	lookup.put(entryFor(k, "orders:read", "inventory:read"))
	a := &authorizer.Authorizer{
		Lookup:      lookup,
		Routes:      topology.PartnerKeyRoutes(topology.Lanyard().Routes),
		KeyCacheTTL: 30 * time.Second,
		Environment: credential.EnvLive,
		Now:         func() time.Time { return epoch },
		Logger:      logging.NewJSON(io.Discard, slog.LevelInfo),
	}
	resp, err := a.Authorize(context.Background(), request(bearer(k)))
	if err != nil || resp.PolicyDocument.Statement[0].Effect != "Allow" {
		b.Fatalf("priming decision: %v", err)
	}
	if lookup.count() != 1 {
		b.Fatal("the priming decision did not read the registry")
	}
	return a, k
}

// BenchmarkWarmDecision is one whole Authorize call with the key's entry cached: read the key
// from the headers (grammar, checksum), cache hit, SHA-256, constant-time compare, status and
// window, the Allow policy and context, the trace span and the log line. Its x-sha256 metric
// is its time per decision over a bare SHA-256 of the same key measured in the same run
// (BenchmarkBareSHA256 reports that baseline on its own).
func BenchmarkWarmDecision(b *testing.B) {
	a, k := benchAuthorizer(b)
	req := request(bearer(k))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := a.Authorize(ctx, req)
		if err != nil || resp.PrincipalID != partnerID {
			b.Fatal("the warm decision did not allow")
		}
	}
	perDecision := b.Elapsed() / time.Duration(b.N)
	bare := timeSHA256(k.Plaintext().Reveal(), max(b.N, 100000))
	b.ReportMetric(float64(perDecision)/float64(bare), "x-sha256")
	b.ReportMetric(float64(perDecision-bare), "overhead-ns/op")
}

// BenchmarkWarmDecisionUntraced is BenchmarkWarmDecision without the span and the log line:
// the decision alone (parse, cache hit, hash, compare, status, policy), which is what the
// authorizer's own code costs over the hash.
func BenchmarkWarmDecisionUntraced(b *testing.B) {
	a, k := benchAuthorizer(b)
	req := request(bearer(k))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := authorizer.Decide(ctx, a, req)
		if err != nil || resp.PrincipalID != partnerID {
			b.Fatal("the warm decision did not allow")
		}
	}
	perDecision := b.Elapsed() / time.Duration(b.N)
	bare := timeSHA256(k.Plaintext().Reveal(), max(b.N, 100000))
	b.ReportMetric(float64(perDecision)/float64(bare), "x-sha256")
	b.ReportMetric(float64(perDecision-bare), "overhead-ns/op")
}

// BenchmarkBareSHA256 is the baseline: one SHA-256 of the same 70-byte key string.
func BenchmarkBareSHA256(b *testing.B) {
	_, k := benchAuthorizer(b)
	key := []byte(k.Plaintext().Reveal())
	b.ReportAllocs()
	for b.Loop() {
		sink = sha256.Sum256(key)
	}
}

var sink [sha256.Size]byte

func timeSHA256(s string, n int) time.Duration {
	key := []byte(s)
	start := time.Now()
	for range n {
		sink = sha256.Sum256(key)
	}
	if d := time.Since(start) / time.Duration(n); d > 0 {
		return d
	}
	return 1
}
