package audittrail

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// Signer signs manifests: KMS Sign with SigningAlgorithm and MessageType DIGEST in AWS, a
// local key in tests.
type Signer interface {
	// Sign returns the ASN.1 DER ECDSA signature of digest (a SHA-256).
	Sign(ctx context.Context, digest [32]byte) ([]byte, error)
}

// ECDSASigner signs with a key held in memory: the trails of tests and benchmarks.
type ECDSASigner struct{ Key *ecdsa.PrivateKey }

// Sign implements Signer.
func (s ECDSASigner) Sign(_ context.Context, digest [32]byte) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, s.Key, digest[:])
}

// NewMemoryKey makes a P-256 key held in memory, with id as its name: the signing key of the
// trails tests and benchmarks build. It returns the key as manifests name it and its signer.
func NewMemoryKey(id string) (Key, ECDSASigner, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Key{}, ECDSASigner{}, fmt.Errorf("make a signing key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return Key{}, ECDSASigner{}, fmt.Errorf("make a signing key: %w", err)
	}
	return Key{ID: id, PublicKey: der}, ECDSASigner{Key: priv}, nil
}

// Key is the signing key as a manifest names it: its id (the KMS key's ARN) and its public key,
// DER SubjectPublicKeyInfo.
type Key struct {
	ID        string
	PublicKey []byte
}

// PutFunc stores one finished object: its key, and body, the gzip of its content.
type PutFunc func(ctx context.Context, key string, body []byte) error

// Window builds one window of the trail: Add its records, chain by chain and in seq order;
// each full object is stored through put as it closes; Seal closes the last and signs the
// manifest. Memory holds one object at a time.
type Window struct {
	start, end time.Time
	deployment string
	put        PutFunc
	max        int64

	objects []Object
	chains  []ChainRange

	// the object being written
	gz      *gzip.Writer
	buf     bytes.Buffer
	sum     hash.Hash
	line    []byte
	records int64
	bytes   int64
	last    *outbox.Record // the record added last, for the order check
}

// NewWindow starts the window [start, end) of deployment's trail; put stores its objects.
// maxRecords bounds the records of one object (MaxObjectRecords when 0).
func NewWindow(start, end time.Time, deployment string, maxRecords int64, put PutFunc) *Window {
	if maxRecords <= 0 {
		maxRecords = MaxObjectRecords
	}
	return &Window{start: start.UTC(), end: end.UTC(), deployment: deployment, put: put, max: maxRecords, sum: sha256.New()}
}

// Add appends r to the window. Records come chain by chain, each chain's in seq order without
// a gap (a chain seen before must not come back).
func (w *Window) Add(ctx context.Context, r outbox.Record) error {
	if w.last != nil && w.last.Chain == r.Chain && r.Seq != w.last.Seq+1 {
		return fmt.Errorf("audit window %s: chain %s: seq %d after %d", Stamp(w.start), r.Chain, r.Seq, w.last.Seq)
	}
	if w.records == w.max {
		if err := w.closeObject(ctx); err != nil {
			return err
		}
	}
	if w.gz == nil {
		w.gz = gzip.NewWriter(&w.buf)
	}
	n := len(w.chains)
	obj := len(w.objects)
	switch {
	case n > 0 && w.chains[n-1].Chain == r.Chain && w.chains[n-1].Object == obj:
		w.chains[n-1].LastSeq, w.chains[n-1].LastHash = r.Seq, r.Hash
	case n > 0 && w.chains[n-1].Chain != r.Chain && w.seen(r.Chain):
		return fmt.Errorf("audit window %s: chain %s comes back after other chains", Stamp(w.start), r.Chain)
	default:
		w.chains = append(w.chains, ChainRange{Chain: r.Chain, Object: obj, FirstSeq: r.Seq, LastSeq: r.Seq, FirstPrevHash: r.PrevHash, LastHash: r.Hash})
	}
	w.line = AppendLine(w.line[:0], r)
	w.sum.Write(w.line)
	if _, err := w.gz.Write(w.line); err != nil {
		return fmt.Errorf("audit window %s: compress: %w", Stamp(w.start), err)
	}
	w.records++
	w.bytes += int64(len(w.line))
	rc := r
	rc.Detail = nil
	w.last = &rc
	return nil
}

// seen says whether chain has a range before the last one (the last is a different chain).
func (w *Window) seen(chain string) bool {
	for i := len(w.chains) - 2; i >= 0; i-- {
		if w.chains[i].Chain == chain {
			return true
		}
	}
	return false
}

// closeObject finishes the object being written and stores it.
func (w *Window) closeObject(ctx context.Context) error {
	if w.gz == nil || w.records == 0 {
		return nil
	}
	if err := w.gz.Close(); err != nil {
		return fmt.Errorf("audit window %s: compress: %w", Stamp(w.start), err)
	}
	sum := hex.EncodeToString(w.sum.Sum(nil))
	key := ObjectKey(w.start, len(w.objects)+1, sum)
	if err := w.put(ctx, key, w.buf.Bytes()); err != nil {
		return fmt.Errorf("audit window %s: store %s: %w", Stamp(w.start), key, err)
	}
	w.objects = append(w.objects, Object{Key: key, SHA256: sum, Records: w.records, Bytes: w.bytes})
	w.records, w.bytes = 0, 0
	w.buf.Reset()
	w.sum.Reset()
	w.gz.Reset(&w.buf)
	return nil
}

// Sealed is a finished window: its manifest as stored and its signature.
type Sealed struct {
	Key       string // ManifestKey of the window
	Manifest  Manifest
	Body      []byte
	Signature []byte // ASN.1 DER
}

// Metadata is the metadata a manifest is stored with: its signature, the algorithm, the
// signing key's id and fingerprint.
func (s Sealed) Metadata() map[string]string {
	return map[string]string{
		SignatureMetadata:        base64.StdEncoding.EncodeToString(s.Signature),
		SigningAlgorithmMetadata: s.Manifest.SigningKey.Algorithm,
		SigningKeyMetadata:       s.Manifest.SigningKey.KeyID,
		FingerprintMetadata:      s.Manifest.SigningKey.Fingerprint,
	}
}

// Link is how the next manifest names this one.
func (s Sealed) Link() Link {
	sum := sha256.Sum256(s.Body)
	return Link{Key: s.Key, SHA256: hex.EncodeToString(sum[:]), Signature: base64.StdEncoding.EncodeToString(s.Signature)}
}

// Seal stores the last object and builds and signs the manifest. prev links the window before
// (nil for the trail's first window, whose manifest then carries key's public key as the
// anchor); exportedAt is the manifest's time.
func (w *Window) Seal(ctx context.Context, prev *Link, key Key, signer Signer, exportedAt time.Time) (Sealed, error) {
	if err := w.closeObject(ctx); err != nil {
		return Sealed{}, err
	}
	if len(key.PublicKey) == 0 || key.ID == "" {
		return Sealed{}, errors.New("audit window: no signing key")
	}
	fp := Fingerprint(key.PublicKey)
	m := Manifest{
		Version: ManifestVersion, Deployment: w.deployment,
		WindowStart: w.start, WindowEnd: w.end, ExportedAt: exportedAt.UTC(),
		Objects: w.objects, Chains: w.chains, Previous: prev,
		SigningKey: SigningKey{KeyID: key.ID, Algorithm: SigningAlgorithm, Fingerprint: fp},
	}
	if prev == nil {
		m.Anchor = &Anchor{PublicKey: base64.StdEncoding.EncodeToString(key.PublicKey), Fingerprint: fp}
	}
	body, err := MarshalManifest(m)
	if err != nil {
		return Sealed{}, err
	}
	sig, err := signer.Sign(ctx, SigningDigest(body))
	if err != nil {
		return Sealed{}, fmt.Errorf("audit window %s: sign the manifest: %w", Stamp(w.start), err)
	}
	return Sealed{Key: ManifestKey(w.start), Manifest: m, Body: body, Signature: sig}, nil
}
