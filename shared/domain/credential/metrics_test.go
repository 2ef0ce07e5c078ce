package credential_test

import (
	"bytes"
	"errors"
	"regexp"
	"testing"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/platform/metrics"
)

// TestMetricsRefuseKeys holds the metrics writer's guard to this package's format: a minted key
// of every environment (whole, in a header, and every match of ScannerPattern in it) and its
// key id are refused as a metric dimension's value, nothing is written, and the key never shows
// in the refusal or the output.
func TestMetricsRefuseKeys(t *testing.T) {
	c := secrettest.Plant(t)
	scanner := regexp.MustCompile(credential.ScannerPattern)
	for _, env := range credential.Environments() {
		for range 50 {
			k := generate(t, env)
			plain := k.Plaintext().Reveal()
			c.Add("key "+string(env), plain)
			if !scanner.MatchString(plain) {
				t.Fatalf("ScannerPattern does not match a minted %s key", env)
			}
			for what, v := range map[string]string{
				"key":             plain,
				"scanner match":   scanner.FindString(plain),
				"bearer header":   "Bearer " + plain,
				"key id":          string(k.ID()),
				"key as rendered": k.String(),
			} {
				var out bytes.Buffer
				w, err := metrics.New(&out, "Lanyard")
				if err != nil {
					t.Fatal(err)
				}
				err = w.Emit(metrics.Document{
					Dimensions: []metrics.Dimension{{Name: "Key", Value: v}},
					Metrics:    []metrics.Metric{{Name: "Requests", Unit: metrics.Count, Values: []float64{1}}},
				})
				if !errors.Is(err, metrics.ErrInvalid) || out.Len() != 0 {
					t.Errorf("%s key, %s as a dimension: Emit = %v with %d bytes written, want a refusal", env, what, err, out.Len())
				}
				c.CheckError(err)
				c.CheckText("metric output", out.String())
			}
		}
	}
}
