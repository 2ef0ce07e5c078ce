//go:build integration

package suite_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
	"github.com/lanyardhq/lanyard/topology"
)

// BenchmarkRevocation measures revocation end to end through `lanyard local` with the
// production functions, one revocation per iteration (`-benchtime 100x`: over 100 revocations):
// a partner's key makes an authorized request with its Allow cached by the front (the
// baseline, timed), then revokes itself (POST /v1/revoke); from the revoke call's start, the
// time until the front refuses the key (the gateway's own 403: polled; also from the call's
// return), and the time until the tracker records Revocation Completed (every declared
// enforcer reported: read from the revocations table once all are done). Reported: p50 and p99
// of each, the authorized request's p50 and p99, and the ratios of the p50s to it.
func BenchmarkRevocation(b *testing.B) {
	s, _ := benchSuite(b)
	keys := benchKeys(b, s, b.N)
	ctx := context.Background()
	client := &http.Client{}
	call := func(method, path, key, contentType, body string) (int, http.Header) {
		req, _ := http.NewRequestWithContext(ctx, method, s.APIURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	for _, k := range keys { // each key's Allow in the front's cache
		if status, _ := call(http.MethodGet, "/v1/partners/me", k, "", ""); status != http.StatusOK {
			b.Fatalf("a fresh key: %d", status)
		}
	}
	reg := &registry.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["credentials"]}

	type revoked struct {
		partnerID string
		start     time.Time
	}
	var authorized, refused, afterReturn []time.Duration
	var done []revoked
	b.ResetTimer()
	for i := range b.N {
		// The previous revocation flushed the stage: the first request puts the key's Allow back
		// in the front's cache, the second, timed, is an authorized request as most are.
		for range 2 {
			t0 := time.Now()
			if status, _ := call(http.MethodGet, "/v1/partners/me", keys[i], "", ""); status != http.StatusOK {
				b.Fatalf("the authorized request: %d", status)
			}
			if len(authorized) == i {
				authorized = append(authorized, 0)
			}
			authorized[i] = time.Since(t0)
		}

		start := time.Now()
		if status, _ := call(http.MethodPost, "/v1/revoke", keys[i], "application/x-www-form-urlencoded", url.Values{"token": {keys[i]}}.Encode()); status != http.StatusOK {
			b.Fatalf("revoke: %d", status)
		}
		returned := time.Now()
		harness.Eventually(b, 30*time.Second, func() (bool, string) {
			status, h := call(http.MethodGet, "/v1/partners/me", keys[i], "", "")
			return status == http.StatusForbidden && h.Get("x-amzn-ErrorType") != "", "the front still lets the key through"
		})
		refused = append(refused, time.Since(start))
		afterReturn = append(afterReturn, time.Since(returned))
		k, err := credential.Parse(keys[i])
		if err != nil {
			b.Fatal("a key does not parse")
		}
		e, err := reg.Get(ctx, k.ID())
		if err != nil {
			b.Fatal(err)
		}
		done = append(done, revoked{partnerID: e.PartnerID, start: start})
	}
	b.StopTimer()

	// Revocation Completed of each: the tracker's completion time, from the revoke call's start.
	revTable := &revocations.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["revocations"]}
	completed := make([]time.Duration, len(done))
	harness.Eventually(b, 3*time.Minute, func() (bool, string) {
		waiting := 0
		for i, d := range done {
			if completed[i] > 0 {
				continue
			}
			mine, err := revTable.ByPartner(ctx, d.partnerID)
			if err != nil {
				return false, err.Error()
			}
			if len(mine) != 1 {
				waiting++
				continue
			}
			r := mine[0]
			if r.Status != revocations.StatusCompleted {
				waiting++
				continue
			}
			completed[i] = r.CompletedAt.Sub(d.start)
		}
		return waiting == 0, "revocations not completed yet"
	})
	if slices.ContainsFunc(completed, func(d time.Duration) bool { return d <= 0 }) {
		b.Fatal("a revocation completed before its revoke call started")
	}
	ap50, ap99 := percentileMS(authorized, 50), percentileMS(authorized, 99)
	b.ReportMetric(ap50, "authorized-p50-ms")
	b.ReportMetric(ap99, "authorized-p99-ms")
	b.ReportMetric(percentileMS(refused, 50), "refused-p50-ms")
	b.ReportMetric(percentileMS(refused, 99), "refused-p99-ms")
	b.ReportMetric(percentileMS(afterReturn, 50), "refused-after-return-p50-ms")
	b.ReportMetric(percentileMS(afterReturn, 99), "refused-after-return-p99-ms")
	b.ReportMetric(percentileMS(completed, 50), "completed-p50-ms")
	b.ReportMetric(percentileMS(completed, 99), "completed-p99-ms")
	b.ReportMetric(percentileMS(refused, 50)/ap50, "refused-p50/authorized-p50")
	b.ReportMetric(percentileMS(completed, 50)/ap50, "completed-p50/authorized-p50")
	b.Logf("%d revocations, each completed once every enforcer reported: %v", len(done), topology.Lanyard().Enforcers())
}

// percentileMS is the p-th percentile of d (nearest rank), in milliseconds.
func percentileMS(d []time.Duration, p int) float64 {
	sorted := slices.Clone(d)
	slices.Sort(sorted)
	i := (p*len(sorted)+99)/100 - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}
