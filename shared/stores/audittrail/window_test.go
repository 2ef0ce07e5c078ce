package audittrail

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// chainRecords builds n linked records of chain.
func chainRecords(chain string, n int, at time.Time) []outbox.Record {
	out := make([]outbox.Record, 0, n)
	prev := outbox.GenesisHash
	for i := range n {
		r := outbox.Record{Chain: chain, Seq: int64(i + 1), EventID: fmt.Sprintf("e-%s-%d", chain, i+1),
			DetailType: "Credential Issued", Time: at.Add(time.Duration(i) * time.Second), PrevHash: prev,
			Detail: []byte(fmt.Sprintf(`{"partnerId":%q,"n":%d}`, chain, i))}
		r.Hash = r.ComputeHash()
		prev = r.Hash
		out = append(out, r)
	}
	return out
}

func TestWindowCutsObjectsAndSignsItsManifest(t *testing.T) {
	ctx := context.Background()
	signingKey, signer, err := NewMemoryKey("arn:aws:kms:eu-west-1:000000000000:key/k")
	if err != nil {
		t.Fatal(err)
	}
	priv, der := signer.Key, signingKey.PublicKey
	start := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	stored := map[string][]byte{}
	w := NewWindow(start, start.Add(time.Hour), "lanyard-test", 3, func(_ context.Context, key string, body []byte) error {
		stored[key] = bytes.Clone(body)
		return nil
	})
	a, b := chainRecords("p-a", 4, start), chainRecords("p-b", 1, start)
	for _, r := range append(a, b...) {
		if err := w.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Add(ctx, a[0]); err == nil {
		t.Fatal("a chain that comes back was added")
	}
	s, err := w.Seal(ctx, nil, Key{ID: "arn:aws:kms:eu-west-1:000000000000:key/k", PublicKey: der}, ECDSASigner{Key: priv}, start.Add(61*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	m := s.Manifest
	if len(m.Objects) != 2 || m.Objects[0].Records != 3 || m.Objects[1].Records != 2 {
		t.Fatalf("objects = %+v, want 3 then 2 records", m.Objects)
	}
	want := []ChainRange{
		{Chain: "p-a", Object: 0, FirstSeq: 1, LastSeq: 3, FirstPrevHash: outbox.GenesisHash, LastHash: a[2].Hash},
		{Chain: "p-a", Object: 1, FirstSeq: 4, LastSeq: 4, FirstPrevHash: a[3].PrevHash, LastHash: a[3].Hash},
		{Chain: "p-b", Object: 1, FirstSeq: 1, LastSeq: 1, FirstPrevHash: outbox.GenesisHash, LastHash: b[0].Hash},
	}
	if fmt.Sprint(m.Chains) != fmt.Sprint(want) {
		t.Fatalf("chains = %+v\nwant %+v", m.Chains, want)
	}
	for _, o := range m.Objects {
		zr, err := gzip.NewReader(bytes.NewReader(stored[o.Key]))
		if err != nil {
			t.Fatal(err)
		}
		content, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content)
		if hex.EncodeToString(sum[:]) != o.SHA256 || int64(len(content)) != o.Bytes || !strings.Contains(o.Key, o.SHA256) {
			t.Fatalf("object %s does not match its entry %+v", o.Key, o)
		}
	}
	d := SigningDigest(s.Body)
	if !ecdsa.VerifyASN1(&priv.PublicKey, d[:], s.Signature) {
		t.Fatal("the manifest's signature does not verify")
	}
	if m.Anchor == nil || m.Anchor.Fingerprint != Fingerprint(der) || m.SigningKey.Fingerprint != Fingerprint(der) {
		t.Fatalf("the first manifest's anchor = %+v", m.Anchor)
	}
	parsed, err := ParseManifest(s.Body)
	if err != nil || parsed.Previous != nil || len(parsed.Chains) != 3 {
		t.Fatalf("ParseManifest = %+v, %v", parsed, err)
	}
	next, err := NewWindow(start.Add(time.Hour), start.Add(2*time.Hour), "lanyard-test", 0, nil).
		Seal(ctx, new(s.Link()), Key{ID: "k", PublicKey: der}, ECDSASigner{Key: priv}, start.Add(121*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if next.Manifest.Anchor != nil || next.Manifest.Previous.Key != s.Key || len(next.Manifest.Objects) != 0 {
		t.Fatalf("an empty second window = %+v", next.Manifest)
	}
}
