// Package audittrail is the exported audit trail: the format of the objects and manifests the
// audit exporter writes to the audit bucket, and what reads them back.
//
// # The trail
//
// The exporter (shared/features/auditexport) cuts time into windows of a fixed length. For each
// closed window it reads, chain by chain from each chain's cursor, the outbox records that are
// not exported yet and whose time is before the window's end, and writes:
//
//   - objects: gzip-compressed NDJSON, one record per line (AppendLine), ordered by chain then
//     seq, at most MaxObjectRecords records each, under ObjectKey: the key names the SHA-256 of
//     the object's uncompressed content, so two runs never write different content to one key;
//   - one manifest (Manifest) under ManifestKey: the window, each object's key, SHA-256 of its
//     uncompressed content and record count, the range of seqs of each chain, the previous
//     manifest's key, SHA-256 and signature, and the signing key. A window with no record still
//     has its manifest, so a trail cut short at its end shows.
//
// A manifest is signed with the deployment's KMS asymmetric key (ECC_NIST_P256, ECDSA_SHA_256):
// KMS signs SigningDigest of the manifest's bytes with MessageType DIGEST. The signature (ASN.1
// DER, base64) is the manifest object's metadata SignatureMetadata, as CloudTrail stores its
// digest files' signatures; every manifest but the first also carries the previous manifest's
// signature in its body. The first manifest holds the signing key's public key (Anchor): the
// trail's trust anchor, whose fingerprint (Fingerprint) an auditor records once and pins.
package audittrail

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// ManifestVersion names the manifest format.
const ManifestVersion = "lanyard.audit.manifest.v1"

// SigningAlgorithm is KMS's name of the manifests' signature algorithm.
const SigningAlgorithm = "ECDSA_SHA_256"

// Metadata keys of a manifest object (x-amz-meta-…).
const (
	SignatureMetadata        = "signature"           // base64 of the ASN.1 DER signature
	SigningAlgorithmMetadata = "signature-algorithm" // SigningAlgorithm
	SigningKeyMetadata       = "signing-key"         // the KMS key's ARN
	FingerprintMetadata      = "key-fingerprint"     // Fingerprint of the signing key
)

// Content types of what the exporter writes.
const (
	ManifestContentType   = "application/json"
	ObjectContentType     = "application/x-ndjson"
	ObjectContentEncoding = "gzip"
)

// Key prefixes: every manifest is under ManifestPrefix, every object under ObjectPrefix.
const (
	ManifestPrefix = "manifests/"
	ObjectPrefix   = "objects/"
)

// MaxObjectRecords is the most records one object holds.
const MaxObjectRecords = 100_000

const (
	manifestSuffix    = ".json"
	objectSuffix      = ".ndjson.gz"
	stampLayout       = "20060102T150405Z"
	fingerprintPrefix = "sha256:"
	lineStart         = `{"chain":`
	lineDetail        = `,"detail":`
	notALine          = "not a record line"
)

// Stamp is a window start as it appears in keys: UTC, to the second, sorting as time does.
func Stamp(t time.Time) string { return t.UTC().Format(stampLayout) }

// ParseStamp reads a Stamp back.
func ParseStamp(s string) (time.Time, error) {
	t, err := time.Parse(stampLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("window stamp %q: want %s", s, stampLayout)
	}
	return t.UTC(), nil
}

// ManifestKey is the key of the manifest of the window starting at windowStart:
// "manifests/20261206T150000Z.json". Manifests list in window order.
func ManifestKey(windowStart time.Time) string {
	return ManifestPrefix + Stamp(windowStart) + manifestSuffix
}

// WindowOfManifestKey is the window start a manifest key names.
func WindowOfManifestKey(key string) (time.Time, error) {
	s, ok := strings.CutPrefix(key, ManifestPrefix)
	if !ok {
		return time.Time{}, fmt.Errorf("%q is not a manifest key (%s…%s)", key, ManifestPrefix, manifestSuffix)
	}
	s, ok = strings.CutSuffix(s, manifestSuffix)
	if !ok {
		return time.Time{}, fmt.Errorf("%q is not a manifest key (%s…%s)", key, ManifestPrefix, manifestSuffix)
	}
	return ParseStamp(s)
}

// ObjectKey is the key of the part-th object (from 1) of the window starting at windowStart,
// whose uncompressed content has SHA-256 sum (hex): "objects/20261206T150000Z/0001-<sum>.ndjson.gz".
func ObjectKey(windowStart time.Time, part int, sum string) string {
	return fmt.Sprintf("%s%s/%04d-%s%s", ObjectPrefix, Stamp(windowStart), part, sum, objectSuffix)
}

// Manifest is one window's digest: what was exported for it and how it links to the window
// before. Its JSON is what is stored, hashed and signed.
type Manifest struct {
	Version string `json:"version"`
	// Deployment is the deployment's id (topology.ValueDeployment).
	Deployment  string    `json:"deployment"`
	WindowStart time.Time `json:"windowStart"`
	WindowEnd   time.Time `json:"windowEnd"`
	ExportedAt  time.Time `json:"exportedAt"`
	// Objects in the order their records run; empty (never null) for a window with no record.
	Objects []Object `json:"objects"`
	// Chains are the ranges of records of each chain in this window, ordered by chain then
	// seq: one per chain and object (a chain splits across objects only when it does not fit
	// in one). Empty (never null) for a window with no record.
	Chains []ChainRange `json:"chains"`
	// Previous links the manifest before; nil only in the first manifest of a trail.
	Previous *Link `json:"previous"`
	// SigningKey is the key this manifest is signed with.
	SigningKey SigningKey `json:"signingKey"`
	// Anchor is the trail's trust anchor, in the first manifest only.
	Anchor *Anchor `json:"anchor,omitempty"`
}

// Object is one NDJSON.gz object of a window.
type Object struct {
	Key string `json:"key"`
	// SHA256 is the hex SHA-256 of the object's uncompressed content.
	SHA256  string `json:"sha256"`
	Records int64  `json:"records"`
	// Bytes is the uncompressed content's length.
	Bytes int64 `json:"bytes"`
}

// ChainRange is a run of one chain's records in one object: seqs FirstSeq…LastSeq, without a
// gap. FirstPrevHash is the first record's prevHash (it links to the chain's record before,
// exported in an earlier window, or is outbox.GenesisHash); LastHash is the last record's hash.
type ChainRange struct {
	Chain         string `json:"chain"`
	Object        int    `json:"object"` // index in Objects
	FirstSeq      int64  `json:"firstSeq"`
	LastSeq       int64  `json:"lastSeq"`
	FirstPrevHash string `json:"firstPrevHash"`
	LastHash      string `json:"lastHash"`
}

// Link names the manifest before: its key, the hex SHA-256 of its bytes and its signature.
type Link struct {
	Key       string `json:"key"`
	SHA256    string `json:"sha256"`
	Signature string `json:"signature"`
}

// SigningKey names the key a manifest is signed with.
type SigningKey struct {
	KeyID       string `json:"keyId"` // the KMS key's ARN
	Algorithm   string `json:"algorithm"`
	Fingerprint string `json:"fingerprint"` // Fingerprint of its public key
}

// Anchor is the trust anchor of a trail: the signing key's public key, base64 of its DER
// SubjectPublicKeyInfo (what KMS GetPublicKey returns), and its Fingerprint.
type Anchor struct {
	PublicKey   string `json:"publicKey"`
	Fingerprint string `json:"fingerprint"`
}

// Fingerprint is a public key's fingerprint: "sha256:" and the hex SHA-256 of its DER
// SubjectPublicKeyInfo, the same as
//
//	aws kms get-public-key --key-id KEY --query PublicKey --output text | base64 -d | sha256sum
func Fingerprint(spkiDER []byte) string {
	sum := sha256.Sum256(spkiDER)
	return fingerprintPrefix + hex.EncodeToString(sum[:])
}

// ParsePublicKey reads a public key as an auditor holds it: PEM ("PUBLIC KEY"), DER, or the
// base64 of DER that `aws kms get-public-key` prints. It returns the DER SubjectPublicKeyInfo.
func ParsePublicKey(b []byte) ([]byte, error) {
	der, err := decodePublicKey(b)
	if err != nil {
		return nil, err
	}
	if _, err := x509.ParsePKIXPublicKey(der); err != nil {
		return nil, fmt.Errorf("public key: not a DER SubjectPublicKeyInfo: %w", err)
	}
	return der, nil
}

// SigningDigest is what KMS signs for a manifest (MessageType DIGEST): the SHA-256 of its bytes.
func SigningDigest(manifest []byte) [32]byte { return sha256.Sum256(manifest) }

// MarshalManifest encodes a manifest as it is stored (indented JSON and a newline).
func MarshalManifest(m Manifest) ([]byte, error) {
	if m.Objects == nil {
		m.Objects = []Object{}
	}
	if m.Chains == nil {
		m.Chains = []ChainRange{}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the manifest of window %s: %w", Stamp(m.WindowStart), err)
	}
	return append(b, '\n'), nil
}

// ParseManifest decodes a stored manifest. Unknown fields are refused: a manifest is read as
// exactly what was signed.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if dec.More() {
		return Manifest{}, errors.New("manifest: content after the manifest")
	}
	if m.Version != ManifestVersion {
		return Manifest{}, fmt.Errorf("manifest: version %q, want %q", m.Version, ManifestVersion)
	}
	return m, nil
}

// AppendLine appends r's line to dst: one JSON object on one line, its fields in this order
// and no space,
//
//	{"chain":…,"seq":…,"eventId":…,"detailType":…,"time":…,"prevHash":…,"hash":…,"detail":…}
//
// then "\n". time is outbox.FormatTime's, and detail the record's stored JSON byte for byte,
// so ParseLine gives back exactly the fields its hash covers. The detail must be one JSON
// value with no newline (events.Marshal's output is).
func AppendLine(dst []byte, r outbox.Record) []byte {
	dst = append(dst, lineStart...)
	dst = appendString(dst, r.Chain)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, r.Seq, 10)
	dst = append(dst, `,"eventId":`...)
	dst = appendString(dst, r.EventID)
	dst = append(dst, `,"detailType":`...)
	dst = appendString(dst, r.DetailType)
	dst = append(dst, `,"time":`...)
	dst = appendString(dst, outbox.FormatTime(r.Time))
	dst = append(dst, `,"prevHash":`...)
	dst = appendString(dst, r.PrevHash)
	dst = append(dst, `,"hash":`...)
	dst = appendString(dst, r.Hash)
	dst = append(dst, lineDetail...)
	dst = append(dst, r.Detail...)
	return append(dst, '}', '\n')
}

// ParseLine reads one line AppendLine wrote (without its "\n"). It is strict: a line in any
// other shape is an error, so nothing but what was exported verifies. The detail is taken as
// the bytes between "detail": and the line's last }, unparsed: the record's hash covers them.
// The record's Detail aliases line.
func ParseLine(line []byte) (outbox.Record, error) {
	var r outbox.Record
	p := lineParser{b: line}
	p.lit(lineStart)
	r.Chain = p.str()
	p.lit(`,"seq":`)
	r.Seq = p.int()
	p.lit(`,"eventId":`)
	r.EventID = p.str()
	p.lit(`,"detailType":`)
	r.DetailType = p.str()
	p.lit(`,"time":`)
	ts := p.str()
	p.lit(`,"prevHash":`)
	r.PrevHash = p.str()
	p.lit(`,"hash":`)
	r.Hash = p.str()
	p.lit(lineDetail)
	if p.err != nil {
		return outbox.Record{}, p.err
	}
	rest := line[p.i:]
	if len(rest) < 2 || rest[len(rest)-1] != '}' {
		return outbox.Record{}, errors.New(notALine + ": it does not end with the detail and }")
	}
	r.Detail = rest[:len(rest)-1]
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || outbox.FormatTime(t) != ts {
		return outbox.Record{}, fmt.Errorf("%s: time %q is not in the canonical form", notALine, ts)
	}
	r.Time = t.UTC()
	return r, nil
}

// lineParser reads the fixed shape of a line; the first failure sticks in err.
type lineParser struct {
	b   []byte
	i   int
	err error
}

func (p *lineParser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(notALine+": "+format+" at byte %d", append(args, p.i)...)
	}
}

func (p *lineParser) lit(s string) {
	if p.err != nil {
		return
	}
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		p.fail("want %s", s)
		return
	}
	p.i += len(s)
}

func (p *lineParser) int() int64 {
	if p.err != nil {
		return 0
	}
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	digits := p.b[start:p.i]
	if len(digits) == 0 || len(digits) > 18 || (len(digits) > 1 && digits[0] == '0') {
		p.i = start
		p.fail("want a seq")
		return 0
	}
	n, _ := strconv.ParseInt(string(digits), 10, 64)
	return n
}

// str reads a JSON string. The fast path takes a string with no escape as it is; one with
// escapes goes through encoding/json, and must be the form appendString writes.
func (p *lineParser) str() string {
	if p.err != nil {
		return ""
	}
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		p.fail("want a string")
		return ""
	}
	escaped := false
	j := p.i + 1
	for ; j < len(p.b); j++ {
		c := p.b[j]
		if c == '\\' {
			escaped = true
			j++
			continue
		}
		if c == '"' {
			break
		}
		if c < 0x20 {
			p.fail("control character in a string")
			return ""
		}
	}
	if j >= len(p.b) {
		p.fail("unterminated string")
		return ""
	}
	raw := p.b[p.i : j+1]
	p.i = j + 1
	if !escaped {
		if !utf8.Valid(raw) {
			p.fail("invalid UTF-8")
			return ""
		}
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || string(appendString(nil, s)) != string(raw) {
		p.fail("string not in the canonical form")
		return ""
	}
	return s
}

// appendString appends s as a JSON string: ", \ and control characters escaped, <, > and &
// as they are (a line is not HTML), invalid UTF-8 as \ufffd, as encoding/json does.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				const hexDigits = "0123456789abcdef"
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, "89"[r-'\u2028'])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func decodePublicKey(b []byte) ([]byte, error) {
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, "-----BEGIN") {
		return pemPublicKey(s)
	}
	if len(b) > 0 && b[0] == 0x30 { // DER SEQUENCE
		return b, nil
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return nil, errors.New("public key: want PEM, DER or base64 of DER")
	}
	return der, nil
}

func pemPublicKey(s string) ([]byte, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("public key: want a PEM block of type PUBLIC KEY")
	}
	return block.Bytes, nil
}
