package metrics_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/platform/metrics"
)

const (
	base32 = "abcdefghijklmnopqrstuvwxyz234567"
	base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

func random(alphabet string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// keyShaped is a string of a partner key's shape (shared/domain/credential's grammar:
// lnyd_<env>_k<20 base32>_<32 base62><6 base62>); the domain's own test feeds this guard keys
// that credential.Generate minted.
func keyShaped(env string) string {
	return "lnyd_" + env + "_k" + random(base32, 20) + "_" + random(base62, 38)
}

// identifying lists values a metric document must never carry, by what they are.
func identifying(c *secrettest.Canaries) map[string]string {
	live := keyShaped("live")
	keyID := "k" + random(base32, 20)
	v := map[string]string{
		"live key":                live,
		"test key":                keyShaped("test"),
		"local key":               keyShaped("locl"),
		"key in capitals":         strings.ToUpper(live),
		"key in a header":         "Bearer " + live,
		"key cut short":           live[:20],
		"key prefix alone":        "lnyd_",
		"key id":                  keyID,
		"key id in capitals":      strings.ToUpper(keyID),
		"key id in text":          "key=" + keyID + ";",
		"partner id":              "p-" + random(base32, 26),
		"partner id in capitals":  strings.ToUpper("p-" + random(base32, 26)),
		"partner id in a path":    "/v1/partners/p-" + random(base32, 26) + "/keys",
		"invite id":               "inv-" + random(base32, 26),
		"onboarding id":           "onb-" + random(base32, 26),
		"verifier":                "sha256:" + random("0123456789abcdef", 64),
		"key secret alone":        random(base62, 31) + "7",
		"canary secret":           c.New("partner-key").Reveal(),
		"canary key":              "",
		"partner id with newline": "p-" + random(base32, 26) + "\n",
	}
	canaryKey := keyShaped("live")
	c.Add("canary key", canaryKey)
	v["canary key"] = canaryKey
	for what, s := range v {
		c.Add(what, s)
	}
	return v
}

// TestGuardRefusesPartnerIDsAndKeys: a partner key (whole, cut short, in a header, in any
// case), a key id, a partner id, another entity's id, a verifier, a key's secret or a planted
// canary secret is refused wherever it would be written (a dimension's value or name, a
// metric's name): Emit returns ErrInvalid, writes nothing, and neither its error nor anything
// captured holds the value.
func TestGuardRefusesPartnerIDsAndKeys(t *testing.T) {
	c := secrettest.Plant(t)
	placements := map[string]func(v string) metrics.Document{
		"dimension value": func(v string) metrics.Document {
			return metrics.Document{
				Dimensions: []metrics.Dimension{{Name: "Function", Value: "token"}, {Name: "Partner", Value: v}},
				Metrics:    []metrics.Metric{{Name: "Requests", Unit: metrics.Count, Values: []float64{1}}},
			}
		},
		"dimension name": func(v string) metrics.Document {
			return metrics.Document{
				Dimensions: []metrics.Dimension{{Name: v, Value: "token"}},
				Metrics:    []metrics.Metric{{Name: "Requests", Unit: metrics.Count, Values: []float64{1}}},
			}
		},
		"metric name": func(v string) metrics.Document {
			return metrics.Document{Metrics: []metrics.Metric{{Name: v, Unit: metrics.Count, Values: []float64{1}}}}
		},
	}
	for what, v := range identifying(c) {
		for where, doc := range placements {
			var out bytes.Buffer
			w, err := metrics.New(&out, "Lanyard")
			if err != nil {
				t.Fatal(err)
			}
			err = w.Emit(doc(v))
			if !errors.Is(err, metrics.ErrInvalid) || !strings.Contains(err.Error(), "refused") {
				t.Errorf("%s as a %s: Emit = %v, want a refusal", what, where, err)
			}
			if out.Len() != 0 {
				t.Errorf("%s as a %s: %d bytes written", what, where, out.Len())
			}
			c.CheckError(err)
			c.CheckText("metric output", out.String())
		}
	}
}

// TestGuardOnFlush: a Set whose dimensions name a partner writes nothing, and is empty after
// the refused flush.
func TestGuardOnFlush(t *testing.T) {
	c := secrettest.Plant(t)
	id := "p-" + random(base32, 26)
	c.Add("partner id", id)
	var out bytes.Buffer
	w, err := metrics.New(&out, "Lanyard")
	if err != nil {
		t.Fatal(err)
	}
	set := w.Set(metrics.Dimension{Name: "Partner", Value: id})
	set.Add("Requests", metrics.Count, 1)
	err = set.Flush()
	if !errors.Is(err, metrics.ErrInvalid) || out.Len() != 0 {
		t.Fatalf("Flush = %v with %d bytes written, want a refusal and nothing written", err, out.Len())
	}
	c.CheckError(err)
	if err := set.Flush(); err != nil {
		t.Errorf("Flush after a refusal = %v, want nothing to write", err)
	}
}

// TestGuardAllowsOrdinaryDimensions: the values metrics are meant to carry pass the guard.
func TestGuardAllowsOrdinaryDimensions(t *testing.T) {
	for _, v := range []string{
		"POST /v1/token", "GET /v1/partners/me", "200", "429", "live", "locl", "gold",
		"revocation-enforcer-sts", "lanyard-token", "issued", "refused_expired",
		"arn:aws:lambda:us-east-1:123456789012:function:lanyard-token", "2026-01-01", "v1.4.2",
		"us-east-1", "PartnerKeyRotationScheduled",
	} {
		var out bytes.Buffer
		w, err := metrics.New(&out, "Lanyard")
		if err != nil {
			t.Fatal(err)
		}
		err = w.Emit(metrics.Document{
			Dimensions: []metrics.Dimension{{Name: "Value", Value: v}},
			Metrics:    []metrics.Metric{{Name: "Requests", Unit: metrics.Count, Values: []float64{1}}},
		})
		if err != nil || out.Len() == 0 {
			t.Errorf("%q: Emit = %v, wrote %d bytes; want it written", v, err, out.Len())
		}
	}
}
