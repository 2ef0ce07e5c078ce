package credential_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
)

func TestVerifierMatches(t *testing.T) {
	t.Parallel()
	k := generate(t, credential.EnvLive)
	other := generate(t, credential.EnvLive)
	parsed, err := credential.Parse(k.Plaintext().Reveal())
	if err != nil {
		t.Fatalf("Parse: %s", safe(err))
	}
	s := k.Plaintext().Reveal()
	sameIDOtherSecret, err := credential.Parse(withChecksum(s[:credential.SecretStart] + other.Plaintext().Reveal()[credential.SecretStart:credential.SecretEnd]))
	if err != nil {
		t.Fatalf("Parse(same id, other secret): %s", safe(err))
	}
	sameSecretOtherEnv, err := credential.Parse(withChecksum("lnyd_test" + s[9:credential.SecretEnd]))
	if err != nil {
		t.Fatalf("Parse(same id and secret, other environment): %s", safe(err))
	}
	v := credential.NewVerifier(k)

	tests := []struct {
		name string
		v    credential.Verifier
		key  credential.Key
		want bool
	}{
		{"its own key", v, k, true},
		{"its key, parsed", v, parsed, true},
		{"made from the parsed key", credential.NewVerifier(parsed), k, true},
		{"another key", v, other, false},
		{"same key id, other secret", v, sameIDOtherSecret, false},
		{"same key id and secret, other environment", v, sameSecretOtherEnv, false},
		{"the zero key", v, credential.Key{}, false},
		{"zero verifier, a key", credential.Verifier{}, k, false},
		{"zero verifier, zero key", credential.Verifier{}, credential.Key{}, false},
		{"verifier of the zero key, zero key", credential.NewVerifier(credential.Key{}), credential.Key{}, false},
	}
	for _, tt := range tests {
		if got := tt.v.Matches(tt.key); got != tt.want {
			t.Errorf("%s: Matches = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !credential.NewVerifier(credential.Key{}).IsZero() || v.IsZero() {
		t.Errorf("IsZero is wrong")
	}
}

// TestVerifierEncode: the stored form is what `printf %s "$KEY" | sha256sum` prints, after
// "sha256:", and reads back to the same verifier.
func TestVerifierEncode(t *testing.T) {
	t.Parallel()
	k := generate(t, credential.EnvTest)
	v := credential.NewVerifier(k)
	sum := sha256.Sum256([]byte(k.Plaintext().Reveal()))
	enc := v.Encode()
	if want := "sha256:" + hex.EncodeToString(sum[:]); enc != want {
		t.Fatalf("Encode is not sha256: and the hex SHA-256 of the key")
	}
	back, err := credential.ParseVerifier(enc)
	if err != nil {
		t.Fatalf("ParseVerifier(Encode()): %s", safe(err))
	}
	if back != v || !back.Matches(k) {
		t.Fatalf("ParseVerifier(Encode()) is not the same verifier")
	}
}

func TestParseVerifierRefuses(t *testing.T) {
	t.Parallel()
	good := credential.NewVerifier(generate(t, credential.EnvTest)).Encode()
	digits := strings.TrimPrefix(good, "sha256:")
	for name, in := range map[string]string{
		"empty":               "",
		"redacted":            "[redacted]",
		"redacted JSON":       `"[redacted]"`,
		"no prefix":           digits,
		"other algorithm":     "sha512:" + digits,
		"prefix in capitals":  "SHA256:" + digits,
		"hex in capitals":     "sha256:" + strings.ToUpper(digits),
		"one digit short":     good[:len(good)-1],
		"one digit long":      good + "0",
		"not hex":             good[:len(good)-1] + "g",
		"base64":              "sha256:" + strings.Repeat("A", 43) + "=",
		"all zero":            "sha256:" + strings.Repeat("0", 64),
		"trailing whitespace": good + " ",
	} {
		v, err := credential.ParseVerifier(in)
		if !errors.Is(err, credential.ErrMalformedVerifier) || !isRefusal(err) {
			t.Errorf("%s: ParseVerifier error %s, want a fixed ErrMalformedVerifier", name, safe(err))
		}
		if !v.IsZero() {
			t.Errorf("%s: ParseVerifier returned a verifier with its error", name)
		}
	}
}

func TestMatchesDoesNotAllocate(t *testing.T) {
	k := generate(t, credential.EnvLive)
	v := credential.NewVerifier(k)
	if n := testing.AllocsPerRun(100, func() { _ = v.Matches(k) }); n != 0 {
		t.Errorf("Matches allocates %v times, want 0", n)
	}
}
