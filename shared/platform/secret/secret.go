// Package secret holds secret material (partner keys, invite codes, pick-up tokens) in a type
// that never prints itself: every way Go formats, logs or marshals a value shows [redacted].
// The plaintext leaves only through Reveal, which is easy to find in review.
package secret

import (
	"fmt"
	"log/slog"
)

// Redacted is what every rendering of a Value shows.
const Redacted = "[redacted]"

// Value is a secret string. The zero value is the empty secret.
type Value struct {
	// s is unexported and the type has no exported fields, so reflection-based
	// printers (fmt's %+v on a containing struct, encoding/json) never reach it.
	s string
}

// New wraps plaintext.
func New(plaintext string) Value { return Value{s: plaintext} }

// Reveal returns the plaintext. Call it only where the plaintext is needed: hashing, the
// one response that shows a key, a Secrets Manager write.
func (v Value) Reveal() string { return v.s }

// IsZero reports whether the secret is empty.
func (v Value) IsZero() bool { return v.s == "" }

// String implements fmt.Stringer.
func (Value) String() string { return Redacted }

// GoString implements fmt.GoStringer (%#v).
func (Value) GoString() string { return Redacted }

// LogValue implements slog.LogValuer.
func (Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON implements json.Marshaler.
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (map keys, XML, YAML encoders).
func (Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// Format implements fmt.Formatter, so every verb (%v %+v %#v %s %q %x %X %d …) shows the
// redaction and never the bytes.
func (Value) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = fmt.Fprintf(f, "%q", Redacted)
		return
	}
	_, _ = fmt.Fprint(f, Redacted)
}
