package invite_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// inviteCodeRE is the InviteCode schema of shared/domain/openapi/openapi.json, with its length bounds.
var inviteCodeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)

func TestNewCodeShape(t *testing.T) {
	t.Parallel()
	if invite.CodeLength != 52 {
		t.Errorf("CodeLength %d, want 52", invite.CodeLength)
	}
	seen := map[string]bool{}
	counts := map[byte]int{}
	for range 2000 {
		code := invite.NewCode()
		s := code.Reveal()
		if !strings.HasPrefix(s, invite.CodePrefix) || len(s) != 52 {
			t.Fatalf("a code of length %d does not have the invite code shape", len(s))
		}
		if !inviteCodeRE.MatchString(s) || !invite.WellFormed(code) {
			t.Fatal("a new code does not match the InviteCode schema or WellFormed")
		}
		if seen[s] {
			t.Fatal("two codes alike")
		}
		seen[s] = true
		for i := len(invite.CodePrefix); i < len(s); i++ {
			counts[s[i]]++
		}
	}
	// 2000·43 characters over 62 symbols: about 1387 each. Every symbol shows up, none twice
	// as often as it should (a modulo bias or a short alphabet would).
	if len(counts) != 62 {
		t.Errorf("%d distinct characters, want 62", len(counts))
	}
	for c, n := range counts {
		if n < 1000 || n > 1800 {
			t.Errorf("character %q appears %d times, want about 1387", c, n)
		}
	}
}

func TestWellFormed(t *testing.T) {
	t.Parallel()
	good := invite.NewCode().Reveal()
	cases := []struct {
		name string
		code string
		want bool
	}{
		{"new", good, true},
		{"empty", "", false},
		{"prefix only", invite.CodePrefix, false},
		{"one short", good[:len(good)-1], false},
		{"one long", good + "a", false},
		{"wrong prefix", "lnyd_inx_" + good[len(invite.CodePrefix):], false},
		{"dash in the body", good[:20] + "-" + good[21:], false},
		{"underscore in the body", good[:20] + "_" + good[21:], false},
		{"multibyte", good[:20] + "é" + good[22:], false},
	}
	for _, c := range cases {
		if got := invite.WellFormed(secret.New(c.code)); got != c.want {
			t.Errorf("%s: WellFormed = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	// SHA-256("abc"), FIPS 180-2 appendix B.1.
	if got := invite.Hash(secret.New("abc")); got != "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Hash(abc) = %s", got)
	}
	code := invite.NewCode()
	if invite.Hash(code) != invite.Hash(secret.New(code.Reveal())) || invite.Hash(code) == invite.Hash(invite.NewCode()) {
		t.Error("Hash is not a function of the code alone")
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^inv-[a-z2-7]{26}$`)
	a, b := invite.NewID(), invite.NewID()
	if !re.MatchString(a) || !re.MatchString(b) || a == b {
		t.Errorf("ids %q %q", a, b)
	}
}
