package credential

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"

	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// verifierPrefix names the digest in the stored form, so another scheme can follow one day
// without guessing what a stored value is.
const verifierPrefix = "sha256:"

// Verifier is what the registry stores for a key: the SHA-256 of the whole key string. The zero
// Verifier matches no key. Every rendering shows [redacted]; Encode gives the stored form.
type Verifier struct {
	sum [sha256.Size]byte
}

// NewVerifier returns k's verifier, or the zero Verifier for the zero Key.
func NewVerifier(k Key) Verifier {
	if k.IsZero() {
		return Verifier{}
	}
	return Verifier{sum: digest(k.plaintext.Reveal())}
}

// Matches reports whether k is the key v was made from, comparing digests in constant time.
func (v Verifier) Matches(k Key) bool {
	if v.IsZero() || k.IsZero() {
		return false
	}
	d := digest(k.plaintext.Reveal())
	ok := subtle.ConstantTimeCompare(v.sum[:], d[:]) == 1
	clear(d[:])
	return ok
}

// digest is the SHA-256 of a key, hashed from a stack copy so it does not allocate.
func digest(key string) [sha256.Size]byte {
	var b [KeyLength]byte
	defer clear(b[:])
	if len(key) != KeyLength { // never for a Key made by Generate or Parse
		return sha256.Sum256([]byte(key))
	}
	copy(b[:], key)
	return sha256.Sum256(b[:])
}

// IsZero reports whether v is the zero Verifier.
func (v Verifier) IsZero() bool { return v.sum == [sha256.Size]byte{} }

// Encode is the stored form: "sha256:" and 64 lowercase hex digits, what sha256sum prints for
// the key. It is the only way a verifier's value leaves this type; write it to the registry,
// never to a log.
func (v Verifier) Encode() string { return verifierPrefix + hex.EncodeToString(v.sum[:]) }

// ParseVerifier reads the stored form Encode writes. Its error never contains s.
func ParseVerifier(s string) (Verifier, error) {
	var v Verifier
	hexPart, ok := strings.CutPrefix(s, verifierPrefix)
	if !ok || len(hexPart) != hex.EncodedLen(sha256.Size) {
		return Verifier{}, errVerifier
	}
	for i := 0; i < len(hexPart); i++ {
		if !isLowerHex(hexPart[i]) {
			return Verifier{}, errVerifier
		}
	}
	if _, err := hex.Decode(v.sum[:], []byte(hexPart)); err != nil || v.IsZero() {
		return Verifier{}, errVerifier
	}
	return v, nil
}

// String implements fmt.Stringer: [redacted].
func (Verifier) String() string { return secret.Redacted }

// GoString implements fmt.GoStringer (%#v): [redacted].
func (Verifier) GoString() string { return secret.Redacted }

// Format implements fmt.Formatter: every verb shows [redacted].
func (Verifier) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = fmt.Fprintf(f, "%q", secret.Redacted)
		return
	}
	_, _ = fmt.Fprint(f, secret.Redacted)
}

// LogValue implements slog.LogValuer: [redacted].
func (Verifier) LogValue() slog.Value { return slog.StringValue(secret.Redacted) }

// MarshalJSON implements json.Marshaler: "[redacted]". Store Encode, not JSON.
func (Verifier) MarshalJSON() ([]byte, error) { return []byte(`"` + secret.Redacted + `"`), nil }

func isLowerHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }
