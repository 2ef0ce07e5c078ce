package credential_test

import (
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
)

// FuzzParse: Parse never panics, and it accepts exactly the strings that match ScannerPattern
// and carry the right checksum (both checked here independently of the package). What it
// accepts is its input, unchanged; what it refuses, it refuses with a fixed message that matches
// ErrMalformed, so no error holds any of the input. A fuzzer cannot guess a CRC-32, so each
// 70-byte input is also tried with its checksum repaired, which puts arbitrary bodies through
// the accepting path. The seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, env := range credential.Environments() {
		f.Add(generate(f, env).Plaintext().Reveal())
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkParse(t, s)
		if len(s) == credential.KeyLength {
			checkParse(t, withChecksum(s[:credential.SecretEnd]))
		}
	})
}

func checkParse(t *testing.T, s string) {
	t.Helper()
	wellFormed := scanner.MatchString(s) &&
		checksumValue(t, s) == int64(crc32.ChecksumIEEE([]byte(s[:credential.SecretEnd])))
	k, err := credential.Parse(s)
	if err != nil {
		if wellFormed {
			t.Fatalf("Parse refused a well-formed key: %s", safe(err))
		}
		if !isRefusal(err) || !errors.Is(err, credential.ErrMalformed) {
			t.Fatalf("Parse refused with %s, want a fixed refusal matching ErrMalformed", safe(err))
		}
		if len(s) >= 8 && strings.Contains(err.Error(), s) {
			t.Fatalf("Parse error holds its input")
		}
		if !k.IsZero() {
			t.Fatalf("Parse returned a key with its error")
		}
		return
	}
	if !wellFormed {
		t.Fatalf("Parse accepted a string that is not a well-formed key")
	}
	if k.Plaintext().Reveal() != s {
		t.Fatalf("Parse accepted a key whose plaintext is not its input")
	}
	if string(k.Env()) != s[5:9] || string(k.ID()) != s[10:31] {
		t.Fatalf("Parse gave env %s id %s, not the key's own", k.Env(), k.ID())
	}
	if !credential.NewVerifier(k).Matches(k) {
		t.Fatalf("a parsed key does not match its own verifier")
	}
}

// FuzzAuthorizationHeader: FromAuthorizationHeader never panics; what it accepts is a Bearer
// header around exactly the key it returns; what it refuses, it refuses with a fixed message.
// The seed corpus is in testdata/fuzz/FuzzAuthorizationHeader.
func FuzzAuthorizationHeader(f *testing.F) {
	k := generate(f, credential.EnvLive).Plaintext().Reveal()
	f.Add("Bearer " + k)
	f.Add("bearer \t" + k)
	f.Fuzz(func(t *testing.T, h string) {
		got, err := credential.FromAuthorizationHeader(h)
		if err != nil {
			if !isRefusal(err) {
				t.Fatalf("refused with %s, want a fixed refusal", safe(err))
			}
			if !errors.Is(err, credential.ErrMalformed) && !errors.Is(err, credential.ErrNoCredentials) && !errors.Is(err, credential.ErrUnsupportedScheme) {
				t.Fatalf("refusal %s is of no documented kind", safe(err))
			}
			if len(h) >= 8 && strings.Contains(err.Error(), h) {
				t.Fatalf("error holds its input")
			}
			if !got.IsZero() {
				t.Fatalf("returned a key with its error")
			}
			return
		}
		key := got.Plaintext().Reveal()
		trimmed := strings.Trim(h, " \t")
		scheme, rest, ok := strings.Cut(trimmed, " ")
		if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimLeft(rest, " ") != key {
			t.Fatalf("accepted a header that is not Bearer, spaces, the key")
		}
		if _, err := credential.Parse(key); err != nil {
			t.Fatalf("accepted a key Parse refuses: %s", safe(err))
		}
	})
}
