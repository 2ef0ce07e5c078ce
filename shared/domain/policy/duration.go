package policy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// durationPattern is the schema's $defs/duration pattern (a test keeps the two equal): whole
// hours, minutes and seconds in that order, no zero parts, no fractions, no days; or "0s".
// Six digits per part keep every value far below time.Duration's limit of about 2,562,047 h.
const durationPattern = `^(0s|([1-9][0-9]{0,5}h)?([1-9][0-9]{0,5}m)?([1-9][0-9]{0,5}s)?)$`

var durationRE = regexp.MustCompile(durationPattern)

// Duration is a policy duration, written in the file as a Go duration string restricted to
// durationPattern ("15m", "1h30m", "2160h"). One form only, so a reviewer reads every value
// the same way and the schema can check it with a pattern.
type Duration time.Duration

// ParseDuration parses a policy duration.
func ParseDuration(s string) (Duration, error) {
	if len(s) < 2 || !durationRE.MatchString(s) {
		return 0, fmt.Errorf("%q is not a duration like \"15m\", \"1h30m\" or \"2160h\" (whole hours, minutes, seconds; no days)", s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	return Duration(d), nil
}

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String renders the duration the way the policy file writes it: "2160h", "1h30m", "0s".
// Sub-second parts, which a policy cannot hold, are dropped.
func (d Duration) String() string {
	t := time.Duration(d)
	if t < time.Second && t > -time.Second {
		return "0s"
	}
	var b strings.Builder
	if t < 0 {
		b.WriteByte('-')
		t = -t
	}
	h, m, s := t/time.Hour, t%time.Hour/time.Minute, t%time.Minute/time.Second
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON implements json.Unmarshaler; it accepts exactly what the schema accepts.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"15m\": %w", err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
