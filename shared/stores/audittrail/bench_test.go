package audittrail

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// BenchmarkVerifyNextToSHA256Sum verifies a trail of 200,000 records (two windows of four
// objects, about 90 MB of NDJSON) and, in the same run, times `sha256sum` over the same
// uncompressed NDJSON in one file. Reported: verify's throughput of uncompressed content
// (verify-MB/s), sha256sum's (sha256sum-MB/s) and their ratio (x-sha256sum; 1 is as fast as
// sha256sum), with one worker and with the default (a worker a CPU, at most 4). Verify reads the gzip objects, so it also inflates them, parses every line and
// recomputes every record's hash.
func BenchmarkVerifyNextToSHA256Sum(b *testing.B) {
	key := newSigningKey(b, "k")
	const records = 200_000
	spec := trailSpec{windows: 2, chains: 40, maxObject: records / 8, records: func(w, c int) int { return records / 2 / 40 }}
	bt := buildTrailWithDetails(b, spec, key)
	file := filepath.Join(b.TempDir(), "trail.ndjson")
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, s := range bt.sealed {
		for _, o := range s.Manifest.Objects {
			content := gunzip(b, mustEntry(b, bt.trail, o.Key).Body)
			if _, err := f.Write(content); err != nil {
				b.Fatal(err)
			}
			size += int64(len(content))
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	shaSum := timeSHA256Sum(b, file)
	shaMBs := float64(size) / shaSum.Seconds() / 1e6
	for _, workers := range []int{1, 0} {
		name := fmt.Sprintf("workers=%d", workers)
		if workers == 0 {
			name = "workers=default"
		}
		b.Run(name, func(b *testing.B) {
			opts := Options{Now: func() time.Time { return bt.now }, Delay: time.Minute, Slack: time.Minute, Workers: workers}
			b.SetBytes(size)
			for b.Loop() {
				sum, err := Verify(context.Background(), bt.trail, opts, nil)
				if err != nil || !sum.OK() || sum.Records != records {
					b.Fatalf("Verify = %+v, %v", sum, err)
				}
			}
			verifyMBs := float64(size) / (b.Elapsed() / time.Duration(b.N)).Seconds() / 1e6
			b.ReportMetric(verifyMBs, "verify-MB/s")
			b.ReportMetric(shaMBs, "sha256sum-MB/s")
			b.ReportMetric(verifyMBs/shaMBs, "x-sha256sum")
		})
	}
}

// timeSHA256Sum is the best of three runs of sha256sum over file.
func timeSHA256Sum(b *testing.B, file string) time.Duration {
	b.Helper()
	path, err := exec.LookPath("sha256sum")
	if err != nil {
		b.Fatalf("sha256sum, the baseline, is not on PATH: %v", err)
	}
	best := time.Duration(0)
	for range 3 {
		start := time.Now()
		if out, err := exec.Command(path, file).CombinedOutput(); err != nil {
			b.Fatalf("sha256sum: %v: %s", err, out)
		}
		if d := time.Since(start); best == 0 || d < best {
			best = d
		}
	}
	return best
}

// buildTrailWithDetails is buildTrail with details the size of the suite's events.
func buildTrailWithDetails(b *testing.B, spec trailSpec, key signingKey) builtTrail {
	spec.tweak = func(r *outbox.Record) {
		r.EventID = fmt.Sprintf("0193a1b2-%04x-7000-8000-%012x", r.Seq%0xffff, r.Seq)
		r.Detail = fmt.Appendf(nil, `{"meta":{"version":"1","eventId":%q,"time":%q,"partnerId":%q,"actor":{"type":"system","id":"rotation"}},`+
			`"credentialId":"cred-%012d","keyId":"lk_%024d","tier":"standard","rotatesAt":"2027-03-06T15:00:00Z","reason":"scheduled"}`,
			r.EventID, outbox.FormatTime(r.Time), r.Chain, r.Seq, r.Seq)
	}
	return buildTrail(b, spec, key)
}
