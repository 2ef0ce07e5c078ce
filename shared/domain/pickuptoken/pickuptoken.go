// Package pickuptoken is the one rule for the one-time pick-up tokens with which a partner
// collects a key it was not shown at once: the key of an onboarding ops approved, and a
// replacement key ops had issued after a compromise. A token is Prefix and 43 base62
// characters (≈ 256 bits from crypto/rand), kept only as its SHA-256 (Hash).
package pickuptoken

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// Prefix starts every pick-up token; secret scanners can match it.
const Prefix = "lnyd_pku_"

// Chars is how many base62 characters follow the prefix: 43 hold ≈ 256 bits.
const Chars = 43

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// New returns a new pick-up token: Prefix and Chars base62 characters from r.
func New(r io.Reader) (secret.Value, error) {
	var b strings.Builder
	b.Grow(len(Prefix) + Chars)
	b.WriteString(Prefix)
	buf := make([]byte, 64)
	for b.Len() < len(Prefix)+Chars {
		if _, err := io.ReadFull(r, buf); err != nil {
			return secret.Value{}, fmt.Errorf("read random bytes for a pick-up token: %w", err)
		}
		for _, c := range buf {
			// 248 = 4·62: rejecting larger bytes keeps every character equally likely.
			if c < 248 && b.Len() < len(Prefix)+Chars {
				b.WriteByte(base62[c%62])
			}
		}
		clear(buf)
	}
	return secret.New(b.String()), nil
}

// Hash is what a table keeps of a pick-up token: "sha256:" and the lowercase hex SHA-256 of
// the whole token. A 256-bit random token needs a fast hash, not a password hash.
func Hash(token secret.Value) string {
	sum := sha256.Sum256([]byte(token.Reveal()))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Matches says, in constant time, whether token is the one whose Hash is hash.
func Matches(hash string, token secret.Value) bool {
	return subtle.ConstantTimeCompare([]byte(Hash(token)), []byte(hash)) == 1
}
