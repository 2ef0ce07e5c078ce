package credential_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
)

// BenchmarkParseAndVerify is the authorizer's warm work on one request once the registry entry is
// cached: parse the key (grammar and checksum), SHA-256 it and compare with the stored verifier in
// constant time. Its x-sha256 metric is its time per key over a bare SHA-256 of the same key,
// measured in the same run (BenchmarkSHA256 reports that baseline on its own).
func BenchmarkParseAndVerify(b *testing.B) {
	k := generate(b, credential.EnvLive)
	s := k.Plaintext().Reveal()
	v := credential.NewVerifier(k)
	b.ReportAllocs()
	for b.Loop() {
		p, err := credential.Parse(s)
		if err != nil || !v.Matches(p) {
			b.Fatal("the key did not verify")
		}
	}
	perKey := b.Elapsed() / time.Duration(b.N)
	bare := timeSHA256(s, max(b.N, 100000))
	b.ReportMetric(float64(perKey)/float64(bare), "x-sha256")
	b.ReportMetric(float64(perKey-bare), "overhead-ns/op")
}

// BenchmarkFromAuthorizationHeaderAndVerify is BenchmarkParseAndVerify from the header value.
func BenchmarkFromAuthorizationHeaderAndVerify(b *testing.B) {
	k := generate(b, credential.EnvLive)
	h := "Bearer " + k.Plaintext().Reveal()
	v := credential.NewVerifier(k)
	b.ReportAllocs()
	for b.Loop() {
		p, err := credential.FromAuthorizationHeader(h)
		if err != nil || !v.Matches(p) {
			b.Fatal("the key did not verify")
		}
	}
}

// BenchmarkSHA256 is the baseline: one SHA-256 of the same 70-byte key.
func BenchmarkSHA256(b *testing.B) {
	key := []byte(generate(b, credential.EnvLive).Plaintext().Reveal())
	b.ReportAllocs()
	var sum [sha256.Size]byte
	for b.Loop() {
		sum = sha256.Sum256(key)
	}
	_ = sum
}

// BenchmarkParseMalformed is the cost of refusing a key whose checksum is wrong: what a flood of
// guessed keys costs the authorizer before it would read the registry.
func BenchmarkParseMalformed(b *testing.B) {
	s := changed(generate(b, credential.EnvLive).Plaintext().Reveal(), 40)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := credential.Parse(s); err == nil {
			b.Fatal("Parse accepted a key with a wrong checksum")
		}
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
