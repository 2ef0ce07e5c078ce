package auditexport_test

import (
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/stores/audittrail"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// benchRecords is how many records BenchmarkExportMillionRecords exports.
const benchRecords = 1_000_000

// syntheticSource yields n records over chains of perChain records each, chained and hashed as
// the outbox holds them, with a detail of a typical size (a Credential Issued's).
func syntheticSource(n, perChain int, fn func(outbox.Record) error) error {
	start := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	detail := []byte(`{"eventId":"019ab0c4-1f2e-7d3c-8b4a-5e6f7a8b9c01","partnerId":"p-0000","actor":{"kind":"system","id":"onboarding"},"time":"2026-12-06T15:00:00Z","keyId":"k-0000","secretArn":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:lanyard/partners/p-0000","scopes":["orders:read"],"notBefore":"2026-12-06T15:00:00Z","expiresAt":"2027-03-06T15:00:00Z"}`)
	var r outbox.Record
	for i := range n {
		if i%perChain == 0 {
			r = outbox.Record{Chain: fmt.Sprintf("p-%06d", i/perChain), Hash: outbox.GenesisHash}
		}
		r = outbox.Record{
			Chain: r.Chain, Seq: r.Seq + 1, EventID: fmt.Sprintf("019ab0c4-1f2e-7d3c-8b4a-%012d", i),
			DetailType: "Credential Issued", Detail: detail, Time: start.Add(time.Duration(i) * time.Millisecond), PrevHash: r.Hash,
		}
		r.Hash = r.ComputeHash()
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// peakHeap samples the live heap until stop is called, and returns its peak in bytes.
func peakHeap() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// BenchmarkExportMillionRecords exports a million records (1,000 chains of 1,000) from a
// synthetic source through audittrail.Window into a sink that discards the objects, and signs
// the manifest with a key in memory. Next to it, in the same run, the baseline: the same
// records' lines through one gzip writer and one SHA-256, the least any export must do. It
// reports the export's time, its ratio to the baseline's, records per second and the live
// heap's peak during the export.
func BenchmarkExportMillionRecords(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var exportTime, baseTime time.Duration
	var peak uint64
	for b.Loop() {
		began := time.Now()
		gz := gzip.NewWriter(io.Discard)
		sum := sha256.New()
		var line []byte
		if err := syntheticSource(benchRecords, 1000, func(r outbox.Record) error {
			line = audittrail.AppendLine(line[:0], r)
			sum.Write(line)
			_, err := gz.Write(line)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		if err := gz.Close(); err != nil {
			b.Fatal(err)
		}
		baseTime += time.Since(began)

		stop := peakHeap()
		began = time.Now()
		w := audittrail.NewWindow(time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC), time.Date(2026, 12, 6, 16, 0, 0, 0, time.UTC), "bench", 0,
			func(context.Context, string, []byte) error { return nil })
		if err := syntheticSource(benchRecords, 1000, func(r outbox.Record) error { return w.Add(ctx, r) }); err != nil {
			b.Fatal(err)
		}
		sealed, err := w.Seal(ctx, nil, audittrail.Key{ID: "bench", PublicKey: der}, audittrail.ECDSASigner{Key: key}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		exportTime += time.Since(began)
		peak = max(peak, stop())
		if got := len(sealed.Manifest.Objects); got != benchRecords/audittrail.MaxObjectRecords {
			b.Fatalf("%d objects, want %d", got, benchRecords/audittrail.MaxObjectRecords)
		}
	}
	n := float64(b.N)
	b.ReportMetric(exportTime.Seconds()/n, "export-s")
	b.ReportMetric(baseTime.Seconds()/n, "baseline-s")
	b.ReportMetric(exportTime.Seconds()/baseTime.Seconds(), "export/baseline")
	b.ReportMetric(benchRecords*n/exportTime.Seconds(), "records/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}
