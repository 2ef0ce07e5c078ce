package credential

import (
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// Prefix starts every key.
const Prefix = "lnyd"

// KeyLength is the length of every key, in bytes (all ASCII): the sum of the parts below, which
// the tests hold it to.
const KeyLength = 70

// ScannerPattern is a regular expression (RE2, POSIX ERE and PCRE alike) that matches a key, for
// secret scanners and log data protection policies. It does not check the checksum. It spells
// each environment's key out as an alternative of its own rather than grouping the environments,
// because a CloudWatch Logs custom data identifier's regex may hold no parenthesis (and at most
// 200 characters); anchor it as ^(?:ScannerPattern)$.
const ScannerPattern = `lnyd_live_k[a-z2-7]{20}_[0-9A-Za-z]{38}|lnyd_test_k[a-z2-7]{20}_[0-9A-Za-z]{38}|lnyd_locl_k[a-z2-7]{20}_[0-9A-Za-z]{38}`

// The parts of a key, as offsets into it.
const (
	envLength      = 4
	keyIDLength    = 1 + keyIDRandom // "k" + base32
	keyIDRandom    = 20
	secretLength   = 32
	checksumLength = 6

	envStart    = len(Prefix) + 1
	envEnd      = envStart + envLength
	idStart     = envEnd + 1
	idEnd       = idStart + keyIDLength
	secretStart = idEnd + 1
	secretEnd   = secretStart + secretLength // the checksum covers key[:secretEnd]
)

const (
	base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	base32 = "abcdefghijklmnopqrstuvwxyz234567"
	// base62Accept is the largest multiple of 62 that fits in a byte: bytes below it map
	// uniformly onto base62, bytes at or above it are drawn again.
	base62Accept = 62 * (256 / 62)
)

// Environment says which deployment a key belongs to, so a scanner that finds a key knows how
// much it matters and a function refuses keys minted for another deployment.
type Environment string

// The environments. Each code has four letters so that every key has the same length.
const (
	EnvLive  Environment = "live" // production
	EnvTest  Environment = "test" // deployed non-production stages, partners' sandbox included
	EnvLocal Environment = "locl" // lanyard local and tests
)

// Environments lists every environment.
func Environments() []Environment { return []Environment{EnvLive, EnvTest, EnvLocal} }

// Valid reports whether e is one of the environments.
func (e Environment) Valid() bool {
	switch e {
	case EnvLive, EnvTest, EnvLocal:
		return true
	}
	return false
}

// ParseEnvironment returns the environment named s (exactly, lowercase).
func ParseEnvironment(s string) (Environment, error) {
	if e := Environment(s); e.Valid() {
		return e, nil
	}
	return "", errEnvironment
}

// UnmarshalText sets e to the environment text names (ParseEnvironment), so a function's
// configuration can hold one; its error never contains the text.
func (e *Environment) UnmarshalText(text []byte) error {
	v, err := ParseEnvironment(string(text))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// KeyID is the public part of a key that names it in the registry: "k" and 20 lowercase base32
// characters. It is safe to log.
type KeyID string

// ParseKeyID checks s is a key id. Its error never contains s.
func ParseKeyID(s string) (KeyID, error) {
	if !validKeyID(s) {
		return "", errKeyIDOnly
	}
	return KeyID(s), nil
}

func validKeyID(s string) bool {
	if len(s) != keyIDLength || s[0] != 'k' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isBase32(s[i]) {
			return false
		}
	}
	return true
}

// Key is a partner API key. Its fields are unexported so a Key is only ever one that Generate
// made or Parse accepted: its environment and id always agree with its plaintext. The zero Key
// is no key: it has no plaintext and no verifier matches it.
type Key struct {
	env       Environment
	id        KeyID
	plaintext secret.Value
}

// Env is the environment the key was minted for.
func (k Key) Env() Environment { return k.env }

// ID is the key's public id, the registry's lookup key.
func (k Key) ID() KeyID { return k.id }

// Plaintext is the whole key, wrapped so it never prints. Reveal it only for the response that
// shows the key once, the Secrets Manager write, and hashing.
func (k Key) Plaintext() secret.Value { return k.plaintext }

// IsZero reports whether k is the zero Key.
func (k Key) IsZero() bool { return k.plaintext.IsZero() }

// String shows the public parts: lnyd_<env>_<key id>_[redacted].
func (k Key) String() string {
	if k.IsZero() {
		return secret.Redacted
	}
	return Prefix + "_" + string(k.env) + "_" + string(k.id) + "_" + secret.Redacted
}

// GoString implements fmt.GoStringer (%#v) with the same text as String.
func (k Key) GoString() string { return k.String() }

// Format implements fmt.Formatter, so every verb (%v %+v %#v %s %q %x …) shows String and
// never the secret.
func (k Key) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = fmt.Fprintf(f, "%q", k.String())
		return
	}
	_, _ = fmt.Fprint(f, k.String())
}

// LogValue implements slog.LogValuer: the group {env, id}.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("env", string(k.env)), slog.String("id", string(k.id)))
}

// MarshalJSON implements json.Marshaler: {"env":…,"id":…}, never the secret.
func (k Key) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(struct {
		Env Environment `json:"env"`
		ID  KeyID       `json:"id"`
	}{k.env, k.id})
	if err != nil {
		return nil, fmt.Errorf("marshal key %s: %w", k.id, err)
	}
	return b, nil
}

// Generate mints a new key for env from rand, which should be crypto/rand.Reader (nil means
// that). An error from rand is returned wrapped; a reader that keeps returning bytes it cannot
// use (all 0xff, say) is an error rather than a loop.
func Generate(env Environment, rand io.Reader) (Key, error) {
	if !env.Valid() {
		return Key{}, fmt.Errorf("generate key for environment %q: %w", env, ErrUnknownEnvironment)
	}
	if rand == nil {
		rand = crand.Reader
	}
	var b [KeyLength]byte
	defer clear(b[:])
	copy(b[:], Prefix+"_")
	copy(b[envStart:], env)
	b[envEnd] = '_'
	b[idStart] = 'k'
	if err := fillBase32(b[idStart+1:idEnd], rand); err != nil {
		return Key{}, fmt.Errorf("generate key id: %w", err)
	}
	b[idEnd] = '_'
	if err := fillBase62(b[secretStart:secretEnd], rand); err != nil {
		return Key{}, fmt.Errorf("generate key secret: %w", err)
	}
	putChecksum(b[secretEnd:], crc32.ChecksumIEEE(b[:secretEnd]))
	s := string(b[:])
	return Key{env: env, id: KeyID(strings.Clone(s[idStart:idEnd])), plaintext: secret.New(s)}, nil
}

// fillBase32 fills dst with uniform base32 characters: 32 divides 256, so the low five bits of
// each random byte are uniform.
func fillBase32(dst []byte, rand io.Reader) error {
	if _, err := io.ReadFull(rand, dst); err != nil {
		return fmt.Errorf("read %d random bytes: %w", len(dst), err)
	}
	for i, c := range dst {
		dst[i] = base32[c&31]
	}
	return nil
}

// fillBase62 fills dst with uniform base62 characters by rejection sampling.
func fillBase62(dst []byte, rand io.Reader) error {
	var buf [64]byte
	defer clear(buf[:])
	n := 0
	for round := 0; n < len(dst); round++ {
		if round == 4 {
			// 256 bytes yielding fewer than 32 below 248 has probability below 2^-600.
			return errors.New("random source returned too few usable bytes")
		}
		if _, err := io.ReadFull(rand, buf[:]); err != nil {
			return fmt.Errorf("read %d random bytes: %w", len(buf), err)
		}
		for _, c := range buf {
			if c < base62Accept && n < len(dst) {
				dst[n] = base62[c%62]
				n++
			}
		}
	}
	return nil
}

// putChecksum writes crc as six base62 digits, most significant first.
func putChecksum(dst []byte, crc uint32) {
	for i := checksumLength - 1; i >= 0; i-- {
		dst[i] = base62[crc%62]
		crc /= 62
	}
}

// checksumBuffers lend Parse a buffer to checksum a key from: hash/crc32 takes a []byte that
// escapes, so converting the string would allocate on every request, and a table-driven loop
// over the string runs six times slower than crc32's hardware path.
var checksumBuffers = sync.Pool{New: func() any { return new([secretEnd]byte) }}

// checksum is the CRC-32 (IEEE) of a key's body, without allocating.
func checksum(body string) uint32 {
	b, _ := checksumBuffers.Get().(*[secretEnd]byte)
	if b == nil {
		b = new([secretEnd]byte)
	}
	n := copy(b[:], body)
	crc := crc32.ChecksumIEEE(b[:n])
	clear(b[:]) // it held part of a secret
	checksumBuffers.Put(b)
	return crc
}

// Parse checks s is a well-formed key with a correct checksum and returns it. It does no I/O;
// whether the key is registered and valid is the registry's question. Its errors are fixed
// messages that never contain s; see the package documentation.
func Parse(s string) (Key, error) {
	if len(s) != KeyLength {
		return Key{}, errLength
	}
	if s[:envStart] != Prefix+"_" {
		return Key{}, errPrefix
	}
	var env Environment // the package's constant, never a substring of the plaintext
	switch s[envStart:envEnd] {
	case string(EnvLive):
		env = EnvLive
	case string(EnvTest):
		env = EnvTest
	case string(EnvLocal):
		env = EnvLocal
	default:
		return Key{}, errKeyEnvironment
	}
	if s[envEnd] != '_' || s[idEnd] != '_' {
		return Key{}, errSeparator
	}
	if !validKeyID(s[idStart:idEnd]) {
		return Key{}, errKeyID
	}
	if !allBase62(s[secretStart:secretEnd]) {
		return Key{}, errSecret
	}
	if !allBase62(s[secretEnd:]) {
		return Key{}, errChecksumAlphabet
	}
	var sum [checksumLength]byte
	putChecksum(sum[:], checksum(s[:secretEnd]))
	if string(sum[:]) != s[secretEnd:] {
		return Key{}, errChecksum
	}
	return Key{env: env, id: KeyID(strings.Clone(s[idStart:idEnd])), plaintext: secret.New(s)}, nil
}

func allBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isBase62(s[i]) {
			return false
		}
	}
	return true
}

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

func isBase32(c byte) bool {
	return 'a' <= c && c <= 'z' || '2' <= c && c <= '7'
}
