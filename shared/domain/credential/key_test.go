package credential_test

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
)

const (
	base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	base32 = "abcdefghijklmnopqrstuvwxyz234567"
	// keyChars is every character a key may hold.
	keyChars = base62 + "_"
)

var scanner = regexp.MustCompile(`^(?:` + credential.ScannerPattern + `)$`)

// sequence is a deterministic byte source: 0, 1, 2, … wrapping at 256.
type sequence struct{ next byte }

func (s *sequence) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = s.next
		s.next++
	}
	return len(p), nil
}

// constant returns the same byte forever.
type constant byte

func (c constant) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

func generate(t testing.TB, env credential.Environment) credential.Key {
	t.Helper()
	k, err := credential.Generate(env, nil)
	if err != nil {
		t.Fatalf("Generate(%s): %v", env, err)
	}
	return k
}

// withChecksum completes a key body (everything before the checksum) with its checksum, so tests
// can build keys that differ from a real one in a single part and are otherwise valid.
func withChecksum(body string) string {
	crc := crc32.ChecksumIEEE([]byte(body))
	var sum [6]byte
	for i := 5; i >= 0; i-- {
		sum[i] = base62[crc%62]
		crc /= 62
	}
	return body + string(sum[:])
}

// changed returns s with the character at i replaced by another base62 character.
func changed(s string, i int) string {
	c := "A"
	if s[i] == 'A' {
		c = "B"
	}
	return s[:i] + c + s[i+1:]
}

// checksumValue decodes a key's last six characters, independently of the package.
func checksumValue(t *testing.T, key string) int64 {
	t.Helper()
	var v int64
	for _, c := range []byte(key[len(key)-6:]) {
		d := strings.IndexByte(base62, c)
		if d < 0 {
			t.Fatalf("checksum character %q is not base62", c)
		}
		v = v*62 + int64(d)
	}
	return v
}

func TestGenerateParseRoundTrip(t *testing.T) {
	t.Parallel()
	for _, env := range credential.Environments() {
		for range 200 {
			k := generate(t, env)
			s := k.Plaintext().Reveal()
			if len(s) != credential.KeyLength || credential.SecretEnd+6 != credential.KeyLength {
				t.Fatalf("key has %d characters, want %d", len(s), credential.KeyLength)
			}
			if strings.Trim(s, keyChars) != "" {
				t.Fatalf("key holds a character outside [A-Za-z0-9_]")
			}
			if !scanner.MatchString(s) {
				t.Fatalf("ScannerPattern does not match a generated %s key", env)
			}
			if !strings.HasPrefix(s, "lnyd_"+string(env)+"_"+string(k.ID())+"_") {
				t.Fatalf("key does not start with lnyd_%s_%s_", env, k.ID())
			}
			if got := checksumValue(t, s); got != int64(crc32.ChecksumIEEE([]byte(s[:credential.SecretEnd]))) {
				t.Fatalf("checksum is not the CRC-32 of the key body")
			}
			p, err := credential.Parse(s)
			if err != nil {
				t.Fatalf("Parse(generated %s key): %s", env, safe(err))
			}
			if p.Env() != env || p.ID() != k.ID() || p.Plaintext().Reveal() != s || p.IsZero() {
				t.Fatalf("Parse gave %v, want %v", p, k)
			}
			if _, err := credential.ParseKeyID(string(k.ID())); err != nil {
				t.Fatalf("ParseKeyID(%s): %v", k.ID(), err)
			}
		}
	}
}

// TestGenerateGolden pins the format: the same random bytes always make the same key.
func TestGenerateGolden(t *testing.T) {
	t.Parallel()
	const want = "lnyd_locl_kabcdefghijklmnopqrst_KLMNOPQRSTUVWXYZabcdefghijklmnop2E3uF2"
	k, err := credential.Generate(credential.EnvLocal, &sequence{})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if got := k.Plaintext().Reveal(); got != want {
		t.Fatalf("Generate from the byte sequence 0, 1, 2, … = %s, want %s", got, want)
	}
	if k.ID() != "kabcdefghijklmnopqrst" || k.Env() != credential.EnvLocal {
		t.Fatalf("key id %s env %s", k.ID(), k.Env())
	}
}

// TestGenerateIsUniform catches modulo bias: with 256 = 4·62 + 8, reducing bytes mod 62 without
// rejection would make eight characters 25% more likely than the rest.
func TestGenerateIsUniform(t *testing.T) {
	t.Parallel()
	const keys = 10000
	secretCounts, idCounts := map[byte]int{}, map[byte]int{}
	for range keys {
		s := generate(t, credential.EnvTest).Plaintext().Reveal()
		for _, c := range []byte(s[credential.SecretStart:credential.SecretEnd]) {
			secretCounts[c]++
		}
		for _, c := range []byte(s[11:31]) {
			idCounts[c]++
		}
	}
	check := func(part, alphabet string, counts map[byte]int, perKey int) {
		want := float64(keys*perKey) / float64(len(alphabet))
		for _, c := range []byte(alphabet) {
			if got := float64(counts[c]); got < 0.9*want || got > 1.1*want {
				t.Errorf("%s character %q drawn %v times, want %.0f ± 10%%", part, c, got, want)
			}
		}
		if len(counts) != len(alphabet) {
			t.Errorf("%s uses %d characters, want %d", part, len(counts), len(alphabet))
		}
	}
	check("secret", base62, secretCounts, credential.SecretEnd-credential.SecretStart)
	check("key id", base32, idCounts, 20)
}

func TestGenerateRefuses(t *testing.T) {
	t.Parallel()
	errSource := errors.New("entropy source unavailable")
	tests := []struct {
		name string
		env  credential.Environment
		rand io.Reader
		want error
	}{
		{"unknown environment", "prod", nil, credential.ErrUnknownEnvironment},
		{"empty environment", "", nil, credential.ErrUnknownEnvironment},
		{"environment in capitals", "LIVE", nil, credential.ErrUnknownEnvironment},
		{"failing source", credential.EnvLive, failing{errSource}, errSource},
		{"source ends before the key id", credential.EnvLive, bytes.NewReader(make([]byte, 5)), io.ErrUnexpectedEOF},
		{"source ends before the secret", credential.EnvLive, bytes.NewReader(make([]byte, 30)), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := credential.Generate(tt.env, tt.rand)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Generate error %v, want %v", err, tt.want)
			}
			if !k.IsZero() {
				t.Fatalf("Generate returned a key with its error")
			}
		})
	}
	t.Run("source that never yields a usable byte", func(t *testing.T) {
		t.Parallel()
		if _, err := credential.Generate(credential.EnvLive, constant(0xff)); err == nil {
			t.Fatalf("Generate from all-0xff bytes succeeded")
		}
	})
}

func TestParseRefusesMalformedKeys(t *testing.T) {
	t.Parallel()
	k := generate(t, credential.EnvLive).Plaintext().Reveal()
	body := k[:credential.SecretEnd]
	replace := func(at int, with string) string { return k[:at] + with + k[at+len(with):] }

	tests := []struct {
		name  string
		input string
		want  []error // every one must match
	}{
		{"empty", "", []error{credential.ErrMalformed}},
		{"one character short", k[:len(k)-1], []error{credential.ErrMalformed}},
		{"one character long", k + "A", []error{credential.ErrMalformed}},
		{"trailing newline", k + "\n", []error{credential.ErrMalformed}},
		{"leading space", " " + k[:len(k)-1], []error{credential.ErrMalformed}},
		{"twice", k + k, []error{credential.ErrMalformed}},
		{"prefix in capitals", withChecksum("LNYD" + body[4:]), []error{credential.ErrMalformed}},
		{"other product prefix", withChecksum("ghpx" + body[4:]), []error{credential.ErrMalformed}},
		{"prefix separator", withChecksum("lnyd-" + body[5:]), []error{credential.ErrMalformed}},
		{"unknown environment", withChecksum(body[:5] + "prod" + body[9:]), []error{credential.ErrMalformed, credential.ErrUnknownEnvironment}},
		{"environment in capitals", withChecksum(body[:5] + "LIVE" + body[9:]), []error{credential.ErrMalformed, credential.ErrUnknownEnvironment}},
		{"environment spelled out", withChecksum(body[:5] + "local" + body[10:]), []error{credential.ErrMalformed, credential.ErrUnknownEnvironment}},
		{"environment separator", withChecksum(body[:9] + "-" + body[10:]), []error{credential.ErrMalformed}},
		{"key id separator", withChecksum(body[:31] + "-" + body[32:]), []error{credential.ErrMalformed}},
		{"key id without k", withChecksum(body[:10] + "a" + body[11:]), []error{credential.ErrMalformed, credential.ErrMalformedKeyID}},
		{"key id in capitals", withChecksum(body[:10] + strings.ToUpper(body[10:31]) + body[31:]), []error{credential.ErrMalformed, credential.ErrMalformedKeyID}},
		{"key id with a 0", withChecksum(body[:20] + "0" + body[21:]), []error{credential.ErrMalformed, credential.ErrMalformedKeyID}},
		{"key id with a 1", withChecksum(body[:20] + "1" + body[21:]), []error{credential.ErrMalformed, credential.ErrMalformedKeyID}},
		{"key id with an 8", withChecksum(body[:20] + "8" + body[21:]), []error{credential.ErrMalformed, credential.ErrMalformedKeyID}},
		{"secret with a dash", withChecksum(body[:40] + "-" + body[41:]), []error{credential.ErrMalformed}},
		{"secret with an underscore", withChecksum(body[:40] + "_" + body[41:]), []error{credential.ErrMalformed}},
		{"secret with a plus", withChecksum(body[:40] + "+" + body[41:]), []error{credential.ErrMalformed}},
		{"secret with a NUL", withChecksum(body[:40] + "\x00" + body[41:]), []error{credential.ErrMalformed}},
		{"secret with a multi-byte character", withChecksum(body[:40] + "é" + body[42:]), []error{credential.ErrMalformed}},
		{"checksum with a slash", replace(credential.SecretEnd+2, "/"), []error{credential.ErrMalformed}},
		{"checksum padded with spaces", replace(credential.SecretEnd, "  "), []error{credential.ErrMalformed}},
		{"wrong checksum", changed(k, credential.SecretEnd+5), []error{credential.ErrMalformed, credential.ErrChecksum}},
		{"secret changed, checksum kept", changed(k, 50), []error{credential.ErrMalformed, credential.ErrChecksum}},
		{"checksum over another key", body + generate(t, credential.EnvLive).Plaintext().Reveal()[credential.SecretEnd:], []error{credential.ErrMalformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := credential.Parse(tt.input)
			if err == nil {
				t.Fatalf("Parse accepted the key")
			}
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("Parse error %s does not match %q", safe(err), want)
				}
			}
			if !isRefusal(err) {
				t.Errorf("Parse error: %s", safe(err))
			}
			if !got.IsZero() {
				t.Errorf("Parse returned a key with its error")
			}
		})
	}
}

// TestParseRefusesEveryOneCharacterChange: a key with any one character replaced, or any two
// adjacent characters swapped, fails the grammar or the checksum. CRC-32 catches every error
// confined to 32 consecutive bits, which covers both.
func TestParseRefusesEveryOneCharacterChange(t *testing.T) {
	t.Parallel()
	for range 5 {
		k := generate(t, credential.EnvTest).Plaintext().Reveal()
		b := []byte(k)
		for i := range b {
			orig := b[i]
			for c := 0; c < 256; c++ {
				if byte(c) == orig {
					continue
				}
				b[i] = byte(c)
				if _, err := credential.Parse(string(b)); err == nil {
					t.Fatalf("Parse accepted the key with character %d replaced by %q", i, byte(c))
				}
			}
			b[i] = orig
		}
		for i := 0; i+1 < len(b); i++ {
			if b[i] == b[i+1] {
				continue
			}
			b[i], b[i+1] = b[i+1], b[i]
			if _, err := credential.Parse(string(b)); err == nil {
				t.Fatalf("Parse accepted the key with characters %d and %d swapped", i, i+1)
			}
			b[i], b[i+1] = b[i+1], b[i]
		}
		for n := 0; n < len(k); n++ {
			if _, err := credential.Parse(k[:n]); !errors.Is(err, credential.ErrMalformed) {
				t.Fatalf("Parse of the first %d characters: %s", n, safe(err))
			}
		}
	}
}

// TestParseEnvironmentChangeNeedsNewChecksum: the checksum covers the environment, so a live key
// relabelled as a test key (or the reverse) is refused.
func TestParseEnvironmentChangeNeedsNewChecksum(t *testing.T) {
	t.Parallel()
	k := generate(t, credential.EnvLive).Plaintext().Reveal()
	relabelled := "lnyd_test" + k[9:]
	if _, err := credential.Parse(relabelled); !errors.Is(err, credential.ErrChecksum) {
		t.Fatalf("Parse(live key relabelled test): %s, want ErrChecksum", safe(err))
	}
	p, err := credential.Parse(withChecksum(relabelled[:credential.SecretEnd]))
	if err != nil || p.Env() != credential.EnvTest {
		t.Fatalf("Parse(relabelled key with its own checksum) = %v, %s", p, safe(err))
	}
}

func TestParseAllocatesAtMostTheKeyID(t *testing.T) {
	k := generate(t, credential.EnvLive).Plaintext().Reveal()
	bad := k[:len(k)-1] + "!"
	if n := testing.AllocsPerRun(100, func() { _, _ = credential.Parse(k) }); n > 1 {
		t.Errorf("Parse of a valid key allocates %v times, want at most 1 (the key id)", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = credential.Parse(bad) }); n != 0 {
		t.Errorf("Parse of a malformed key allocates %v times, want 0", n)
	}
}

func TestParseKeyID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{"kabcdefghijklmnopqrst", true},
		{"k234567abcdefghijklmn", true},
		{"kabcdefghijklmnopqrs", false},   // short
		{"kabcdefghijklmnopqrstu", false}, // long
		{"Kabcdefghijklmnopqrst", false},
		{"aabcdefghijklmnopqrst", false},
		{"kabcdefghijklmnopqrs1", false},
		{"kabcdefghijklmnopqrsA", false},
		{"kabcdefghijklmnopqrs_", false},
		{"", false},
	}
	for _, tt := range tests {
		id, err := credential.ParseKeyID(tt.in)
		switch {
		case tt.ok && (err != nil || string(id) != tt.in):
			t.Errorf("ParseKeyID(%q) = %q, %s", tt.in, id, safe(err))
		case !tt.ok && (!errors.Is(err, credential.ErrMalformedKeyID) || !isRefusal(err) || id != ""):
			t.Errorf("ParseKeyID(%q) = %q, %s, want ErrMalformedKeyID", tt.in, id, safe(err))
		}
	}
}

func TestParseEnvironment(t *testing.T) {
	t.Parallel()
	for _, e := range credential.Environments() {
		if got, err := credential.ParseEnvironment(string(e)); err != nil || got != e {
			t.Errorf("ParseEnvironment(%q) = %q, %s", e, got, safe(err))
		}
		if len(e) != 4 {
			t.Errorf("environment %q does not have four letters: keys would differ in length", e)
		}
	}
	for _, s := range []string{"", "local", "prod", "Live", " live"} {
		if _, err := credential.ParseEnvironment(s); !errors.Is(err, credential.ErrUnknownEnvironment) {
			t.Errorf("ParseEnvironment(%q): %s, want ErrUnknownEnvironment", s, safe(err))
		}
	}
}

func TestScannerPattern(t *testing.T) {
	t.Parallel()
	k := generate(t, credential.EnvLive).Plaintext().Reveal()
	// Unanchored, the pattern finds a key inside other text, as a scanner uses it.
	found := regexp.MustCompile(credential.ScannerPattern).FindString(`{"apiKey":"` + k + `"}`)
	if found != k {
		t.Errorf("ScannerPattern did not find the key inside JSON")
	}
	for _, s := range []string{
		"lnyd_prod" + k[9:],
		k[:len(k)-1],
		strings.ToUpper(k[:10]) + k[10:],
	} {
		if scanner.MatchString(s) {
			t.Errorf("ScannerPattern matches a string that is not a key")
		}
	}
}
