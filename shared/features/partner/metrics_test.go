package partner_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lanyardhq/lanyard/shared/platform/metrics"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// TestMetricsRefusePartnerIDs holds the metrics writer's guard to this package's id format:
// an id NewID mints is refused as a metric dimension's value, alone or in a path, and nothing
// is written.
func TestMetricsRefusePartnerIDs(t *testing.T) {
	for range 200 {
		id := partners.NewID()
		if !partners.ValidID(id) {
			t.Fatalf("NewID gave an id ValidID refuses")
		}
		for _, v := range []string{id, "/v1/partners/" + id} {
			var out bytes.Buffer
			w, err := metrics.New(&out, "Lanyard")
			if err != nil {
				t.Fatal(err)
			}
			err = w.Emit(metrics.Document{
				Dimensions: []metrics.Dimension{{Name: "Partner", Value: v}},
				Metrics:    []metrics.Metric{{Name: "Requests", Unit: metrics.Count, Values: []float64{1}}},
			})
			if !errors.Is(err, metrics.ErrInvalid) || out.Len() != 0 {
				t.Errorf("partner id %s as a dimension: Emit = %v with %d bytes written, want a refusal", id, err, out.Len())
			}
		}
	}
}
