package pickuptoken_test

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/domain/pickuptoken"
)

func TestTokens(t *testing.T) {
	t.Parallel()
	a, err := pickuptoken.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pickuptoken.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for _, tok := range []string{a.Reveal(), b.Reveal()} {
		rest, ok := strings.CutPrefix(tok, pickuptoken.Prefix)
		if !ok || len(rest) != pickuptoken.Chars || strings.Trim(rest, alphabet) != "" {
			t.Fatal("a pick-up token is not lnyd_pku_ and 43 base62 characters")
		}
	}
	if a.Reveal() == b.Reveal() {
		t.Fatal("two tokens are equal")
	}
	h := pickuptoken.Hash(a)
	if !strings.HasPrefix(h, "sha256:") || len(h) != len("sha256:")+64 || strings.Contains(h, a.Reveal()) {
		t.Fatalf("hash %q", h)
	}
	if !pickuptoken.Matches(h, a) || pickuptoken.Matches(h, b) || pickuptoken.Matches("", a) {
		t.Fatal("Matches does not tell the token from another")
	}
	if _, err := pickuptoken.New(bytes.NewReader(nil)); err == nil {
		t.Fatal("a token from no randomness")
	}
}
