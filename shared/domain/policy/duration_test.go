package policy

import (
	"encoding/json"
	"testing"
	"time"
)

// Durations are checked in Go exactly as the schema's pattern checks them.
func TestDuration(t *testing.T) {
	t.Parallel()
	valid := map[string]time.Duration{
		"0s":      0,
		"1s":      time.Second,
		"15m":     15 * time.Minute,
		"90s":     90 * time.Second,
		"1h30m":   90 * time.Minute,
		"1h1s":    time.Hour + time.Second,
		"2160h":   90 * 24 * time.Hour,
		"999999h": 999999 * time.Hour,
	}
	for s, want := range valid {
		var d Duration
		if err := json.Unmarshal([]byte(`"`+s+`"`), &d); err != nil || d.Std() != want {
			t.Errorf("%q: %v, %v; want %v", s, d.Std(), err, want)
		}
	}
	for _, s := range []string{"", "0", "s", "15", "0m", "00s", "01h", "1h0m", "1.5h", "1d", "90d", "P1D", "-5m", "+5m",
		"1ms", "1us", "30m1h", "1h1h", "1m1h", "1000000h", " 1h", "1h ", "1H"} {
		if _, err := ParseDuration(s); err == nil {
			t.Errorf("%q accepted", s)
		}
		var d Duration
		if err := json.Unmarshal([]byte(`"`+s+`"`), &d); err == nil {
			t.Errorf("%q accepted by UnmarshalJSON", s)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`900`), &d); err == nil {
		t.Error("a number accepted as a duration")
	}
}

// String writes what the file would: a value that parses back to itself.
func TestDurationString(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                              "0s",
		time.Second:                    "1s",
		15 * time.Minute:               "15m",
		90 * time.Minute:               "1h30m",
		90 * 24 * time.Hour:            "2160h",
		time.Hour + time.Second:        "1h1s",
		5*time.Minute + 30*time.Second: "5m30s",
		-5 * time.Minute:               "-5m",
		1500 * time.Millisecond:        "1s",
	} {
		if got := Duration(d).String(); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
		if d >= 0 {
			back, err := ParseDuration(want)
			if err != nil || back.Std() != d.Truncate(time.Second) {
				t.Errorf("%q parses back to %v, %v", want, back, err)
			}
		}
	}
}
