package audittrail

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// trailEpoch is the first window's start of the trails tests build.
var trailEpoch = time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)

// signingKey is a key a trail is signed with, as a manifest names it.
type signingKey struct {
	priv *ecdsa.PrivateKey
	der  []byte
	id   string
}

func newSigningKey(tb testing.TB, id string) signingKey {
	tb.Helper()
	k, s, err := NewMemoryKey(id)
	if err != nil {
		tb.Fatal(err)
	}
	return signingKey{priv: s.Key, der: k.PublicKey, id: id}
}

func (k signingKey) key() Key            { return Key{ID: k.id, PublicKey: k.der} }
func (k signingKey) signer() ECDSASigner { return ECDSASigner{Key: k.priv} }

// trailSpec is the shape of a trail to build.
type trailSpec struct {
	windows   int
	window    time.Duration
	maxObject int64
	// records says how many records chain c appends in window w.
	records func(w, c int) int
	chains  int
	// tweak, when set, may change a record before it is hashed (a trail written anew).
	tweak func(r *outbox.Record)
}

// builtTrail is a trail and what the tests need to know of it.
type builtTrail struct {
	trail   *MemTrail
	spec    trailSpec
	sealed  []Sealed
	records [][]outbox.Record // per window, in the order they were added
	now     time.Time         // when it is complete: the last window's end
}

// buildTrail exports spec's records window by window with key, as the exporter does.
func buildTrail(tb testing.TB, spec trailSpec, key signingKey) builtTrail {
	tb.Helper()
	ctx := context.Background()
	if spec.window == 0 {
		spec.window = time.Minute
	}
	heads := make([]outbox.Head, spec.chains)
	for c := range heads {
		heads[c] = outbox.Head{Chain: fmt.Sprintf("p-%02d", c), Hash: outbox.GenesisHash}
	}
	bt := builtTrail{trail: NewMemTrail(), spec: spec}
	var prev *Link
	for w := range spec.windows {
		start := trailEpoch.Add(time.Duration(w) * spec.window)
		win := NewWindow(start, start.Add(spec.window), "lanyard-test", spec.maxObject, bt.trail.PutObject)
		var added []outbox.Record
		for c := range heads {
			for range spec.records(w, c) {
				h := &heads[c]
				r := outbox.Record{Chain: h.Chain, Seq: h.Seq + 1, EventID: fmt.Sprintf("e-%s-%d", h.Chain, h.Seq+1),
					DetailType: "Credential Issued", Time: start.Add(time.Duration(h.Seq%50) * time.Second), PrevHash: h.Hash,
					Detail: []byte(fmt.Sprintf(`{"partnerId":%q,"n":%d,"note":"record %d of %s"}`, h.Chain, h.Seq, h.Seq, h.Chain))}
				if spec.tweak != nil {
					spec.tweak(&r)
				}
				r.Hash = r.ComputeHash()
				h.Seq, h.Hash = r.Seq, r.Hash
				if err := win.Add(ctx, r); err != nil {
					tb.Fatal(err)
				}
				added = append(added, r)
			}
		}
		s, err := win.Seal(ctx, prev, key.key(), key.signer(), start.Add(spec.window+time.Minute))
		if err != nil {
			tb.Fatal(err)
		}
		bt.trail.PutSealed(s)
		bt.sealed = append(bt.sealed, s)
		bt.records = append(bt.records, added)
		prev = new(s.Link())
	}
	bt.now = trailEpoch.Add(time.Duration(spec.windows) * spec.window)
	return bt
}

// verifyAll verifies tr over every window as of now, and returns the summary and verdicts.
func verifyAll(tb testing.TB, tr Trail, now time.Time, pinned []byte) (Summary, []WindowVerdict) {
	tb.Helper()
	var got []WindowVerdict
	sum, err := Verify(context.Background(), tr, Options{PublicKey: pinned, Now: func() time.Time { return now }, Delay: time.Minute, Slack: time.Minute, Workers: 2},
		func(v WindowVerdict) { got = append(got, v) })
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	return sum, got
}

// failures is every failure of a verification, one per line.
func failures(sum Summary, vs []WindowVerdict) string {
	var b strings.Builder
	for _, v := range vs {
		for _, f := range v.Failures {
			b.WriteString(f.String() + "\n")
		}
	}
	for _, f := range sum.Failures {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}

func smallSpec() trailSpec {
	return trailSpec{windows: 4, chains: 3, maxObject: 4, records: func(w, c int) int {
		if w == 2 {
			return 0 // an empty window
		}
		return 1 + (w+c)%3
	}}
}

// gunzip and regzip read and write an object's content.
func gunzip(tb testing.TB, b []byte) []byte {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// gzipWriters: a gzip.Writer is costly to make, and the tamper test writes many objects.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}

func regzip(content []byte) []byte {
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	_, _ = zw.Write(content)
	_ = zw.Close()
	return buf.Bytes()
}

func TestVerifyPassesAnUntouchedTrail(t *testing.T) {
	key := newSigningKey(t, "arn:aws:kms:us-east-1:000000000000:key/k")
	bt := buildTrail(t, smallSpec(), key)
	for name, pinned := range map[string][]byte{"anchor": nil, "pinned": key.der} {
		t.Run(name, func(t *testing.T) {
			sum, vs := verifyAll(t, bt.trail, bt.now.Add(90*time.Second), pinned)
			if !sum.OK() {
				t.Fatalf("an untouched trail fails:\n%s", failures(sum, vs))
			}
			var want int64
			for _, rs := range bt.records {
				want += int64(len(rs))
			}
			if sum.Windows != 4 || sum.Checked != 4 || len(vs) != 4 || sum.Records != want || sum.Anchor != Fingerprint(key.der) || sum.Pinned != (pinned != nil) {
				t.Fatalf("summary = %+v, %d verdicts; want 4 windows, %d records", sum, len(vs), want)
			}
			if vs[2].Objects != 0 || !vs[2].OK() || !vs[2].Checked {
				t.Fatalf("the empty window's verdict = %+v", vs[2])
			}
		})
	}
}

func TestVerifyNamesWhatFailedAndWhere(t *testing.T) {
	key := newSigningKey(t, "k")
	other := newSigningKey(t, "k2")
	bt := buildTrail(t, smallSpec(), key)
	firstObject := bt.sealed[1].Manifest.Objects[0]
	for _, tc := range []struct {
		name   string
		tamper func(tr *MemTrail) (now time.Time)
		pinned []byte
		want   []string // each in the failures
	}{
		{"an object replaced by a new version", func(tr *MemTrail) time.Time {
			content := gunzip(t, mustEntry(t, tr, firstObject.Key).Body)
			tr.Put(firstObject.Key, regzip(bytes.Replace(content, []byte(`"n":`), []byte(`"n": `), 1)), nil)
			return bt.now
		}, nil, []string{"window " + Stamp(trailEpoch.Add(time.Minute)) + ": object " + firstObject.Key + " (version v", "hash does not recompute", "content SHA-256"}},
		{"a manifest deleted", func(tr *MemTrail) time.Time {
			tr.Delete(bt.sealed[1].Key)
			return bt.now
		}, nil, []string{"window " + Stamp(trailEpoch.Add(2*time.Minute)), "links to manifest " + bt.sealed[1].Key + ", but the manifest before is " + bt.sealed[0].Key, "a gap"}},
		{"the last manifest deleted", func(tr *MemTrail) time.Time {
			tr.Delete(bt.sealed[3].Key)
			return bt.now.Add(150 * time.Second) // past the last window's end, delay and slack
		}, nil, []string{"the trail is cut short: its last window ends at " + trailEpoch.Add(3*time.Minute).Format(time.RFC3339)}},
		{"an object deleted", func(tr *MemTrail) time.Time {
			tr.Delete(firstObject.Key)
			return bt.now
		}, nil, []string{"object " + firstObject.Key + ": missing"}},
		{"a record's line deleted", func(tr *MemTrail) time.Time {
			content := gunzip(t, mustEntry(t, tr, firstObject.Key).Body)
			lines := bytes.SplitAfter(content, []byte("\n"))
			tr.Put(firstObject.Key, regzip(bytes.Join(append(lines[:1:1], lines[2:]...), nil)), nil)
			return bt.now
		}, nil, []string{"chain p-00 seq 3: the object has chain"}},
		{"a manifest's signature from another key", func(tr *MemTrail) time.Time {
			e := mustEntry(t, tr, bt.sealed[2].Key)
			s := bt.sealed[2]
			sig, _ := other.signer().Sign(context.Background(), SigningDigest(s.Body))
			s.Signature = sig
			tr.Put(s.Key, e.Body, s.Metadata())
			return bt.now
		}, nil, []string{"manifest " + bt.sealed[2].Key, "signature does not verify with the trust anchor " + Fingerprint(key.der), "links to " + bt.sealed[2].Key + " with another signature"}},
		{"the last manifest moved to a key of another form", func(tr *MemTrail) time.Time {
			e := mustEntry(t, tr, bt.sealed[3].Key)
			tr.Delete(bt.sealed[3].Key)
			tr.Put("manifests/20261206T150300.000Z.json", e.Body, e.Metadata)
			return bt.now
		}, nil, []string{"stored under manifests/20261206T150300.000Z.json, the exporter writes it under " + bt.sealed[3].Key}},
		{"a manifest's metadata without its key's fingerprint", func(tr *MemTrail) time.Time {
			e := mustEntry(t, tr, bt.sealed[1].Key)
			md := maps.Clone(e.Metadata)
			delete(md, FingerprintMetadata)
			tr.Put(bt.sealed[1].Key, e.Body, md)
			return bt.now
		}, nil, []string{"manifest " + bt.sealed[1].Key, `metadata key-fingerprint is "", not the trust anchor`}},
		{"the whole trail signed anew, pinned", func(tr *MemTrail) time.Time {
			*tr = *buildTrail(t, smallSpec(), other).trail.Clone()
			return bt.now
		}, key.der, []string{"trust anchor: key " + Fingerprint(other.der) + " is not the pinned public key " + Fingerprint(key.der)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := bt.trail.Clone()
			now := tc.tamper(tr)
			sum, vs := verifyAll(t, tr, now, tc.pinned)
			got := failures(sum, vs)
			if sum.OK() {
				t.Fatal("the tampered trail verifies")
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("the failures do not say %q:\n%s", w, got)
				}
			}
		})
	}
}

func mustEntry(tb testing.TB, tr *MemTrail, key string) MemEntry {
	tb.Helper()
	e, ok := tr.Entry(key)
	if !ok {
		tb.Fatalf("%s is not in the trail", key)
	}
	return e
}

// countingTrail counts the objects read.
type countingTrail struct {
	Trail
	objects atomic.Int32
}

func (c *countingTrail) GetObject(ctx context.Context, key string) (io.ReadCloser, string, error) {
	c.objects.Add(1)
	return c.Trail.GetObject(ctx, key)
}

func TestVerifyReadsObjectsOnlyWithinFromAndTo(t *testing.T) {
	key := newSigningKey(t, "k")
	bt := buildTrail(t, smallSpec(), key)
	ct := &countingTrail{Trail: bt.trail}
	var got []WindowVerdict
	sum, err := Verify(context.Background(), ct, Options{From: trailEpoch.Add(time.Minute), To: trailEpoch.Add(2 * time.Minute), Now: func() time.Time { return bt.now }, Delay: time.Minute},
		func(v WindowVerdict) { got = append(got, v) })
	if err != nil || !sum.OK() {
		t.Fatalf("Verify = %+v, %v", sum, err)
	}
	if len(got) != 1 || !got[0].Start.Equal(trailEpoch.Add(time.Minute)) || int(ct.objects.Load()) != len(bt.sealed[1].Manifest.Objects) || sum.Windows != 4 || sum.Checked != 1 {
		t.Fatalf("verdicts %+v, %d objects read, summary %+v: want window 2's only", got, ct.objects.Load(), sum)
	}
}

func TestVerifyCatchesATrailCutShortOrEmpty(t *testing.T) {
	key := newSigningKey(t, "k")
	bt := buildTrail(t, smallSpec(), key)
	for _, tc := range []struct {
		name string
		tr   Trail
		now  time.Time
		ok   bool
	}{
		{"up to date", bt.trail, bt.now.Add(2 * time.Minute), true},
		{"a window late", bt.trail, bt.now.Add(4 * time.Minute), false},
		{"empty", NewMemTrail(), bt.now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum, vs := verifyAll(t, tc.tr, tc.now, nil)
			if sum.OK() != tc.ok {
				t.Fatalf("OK = %v, want %v:\n%s", sum.OK(), tc.ok, failures(sum, vs))
			}
		})
	}
}

// TestVerifyStreamsLargeObjects: a window of several objects, two checked at once.
func TestVerifyStreamsLargeObjects(t *testing.T) {
	key := newSigningKey(t, "k")
	spec := trailSpec{windows: 2, chains: 5, maxObject: 1000, records: func(w, c int) int { return 900 + 37*c }}
	bt := buildTrail(t, spec, key)
	sum, vs := verifyAll(t, bt.trail, bt.now, key.der)
	if !sum.OK() || sum.Records != 2*(5*900+37*10) {
		t.Fatalf("summary %+v:\n%s", sum, failures(sum, vs))
	}
}

func TestVerifyKeepReadsOnlyTheKeptChainsObjectsAndHandsTheirRecordsBack(t *testing.T) {
	key := newSigningKey(t, "k")
	spec := trailSpec{windows: 3, chains: 6, maxObject: 3, records: func(w, c int) int { return 1 + (w+c)%2 }}
	bt := buildTrail(t, spec, key)
	const kept = "p-04"
	var want []outbox.Record
	wantObjects := 0
	for w, rs := range bt.records {
		for _, r := range rs {
			if r.Chain == kept {
				want = append(want, r)
			}
		}
		for i := range bt.sealed[w].Manifest.Objects {
			for _, cr := range bt.sealed[w].Manifest.Chains {
				if cr.Object == i && cr.Chain == kept {
					wantObjects++
					break
				}
			}
		}
	}
	var all int
	for _, s := range bt.sealed {
		all += len(s.Manifest.Objects)
	}
	if wantObjects >= all {
		t.Fatalf("the trail's %d objects all hold chain %s: the test shows nothing", all, kept)
	}
	run := func(tr Trail) ([]outbox.Record, Summary, *countingTrail) {
		ct := &countingTrail{Trail: tr}
		var got []outbox.Record
		sum, err := Verify(context.Background(), ct, Options{Keep: func(c string) bool { return c == kept }, Now: func() time.Time { return bt.now }, Delay: time.Minute},
			func(v WindowVerdict) { got = append(got, v.Kept...) })
		if err != nil {
			t.Fatal(err)
		}
		return got, sum, ct
	}
	got, sum, ct := run(bt.trail)
	if !sum.OK() || int(ct.objects.Load()) != wantObjects {
		t.Fatalf("summary %+v, %d objects read; want OK and %d", sum, ct.objects.Load(), wantObjects)
	}
	if len(got) != len(want) {
		t.Fatalf("kept %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Hash != want[i].Hash || string(got[i].Detail) != string(want[i].Detail) {
			t.Fatalf("kept record %d = %s seq %d, want seq %d", i, got[i].Chain, got[i].Seq, want[i].Seq)
		}
	}

	// A kept chain's object that fails hands none of its records back.
	tampered := bt.trail.Clone()
	obj := bt.sealed[0].Manifest.Objects[0].Key
	for _, cr := range bt.sealed[0].Manifest.Chains {
		if cr.Chain == kept {
			obj = bt.sealed[0].Manifest.Objects[cr.Object].Key
		}
	}
	e := mustEntry(t, tampered, obj)
	tampered.Put(obj, regzip(append(gunzip(t, e.Body), '\n')), nil)
	got, sum, _ = run(tampered)
	if sum.OK() || len(got) >= len(want) {
		t.Fatalf("with %s tampered: %d records kept of %d, summary OK %v", obj, len(got), len(want), sum.OK())
	}
}

// An object replaced by a small gzip that inflates into one endless line fails at the first
// of its bounds (the manifest's size, the longest line a record makes), named, instead of
// being held in memory whole.
func TestVerifyBoundsWhatAnObjectInflatesTo(t *testing.T) {
	key := newSigningKey(t, "k")
	bt := buildTrail(t, smallSpec(), key)
	obj := bt.sealed[0].Manifest.Objects[0]
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	for range 64 {
		_, _ = zw.Write(chunk)
	}
	_ = zw.Close()
	tr := bt.trail.Clone()
	tr.Put(obj.Key, bomb.Bytes(), nil)
	sum, vs := verifyAll(t, tr, bt.now, key.der)
	got := failures(sum, vs)
	if sum.OK() || !strings.Contains(got, obj.Key) || !strings.Contains(got, fmt.Sprintf("%d bytes uncompressed, the manifest has %d", obj.Bytes+1, obj.Bytes)) {
		t.Fatalf("a %d-byte gzip of a 64 MiB line: %s", bomb.Len(), got)
	}
}

// Read as a versioned bucket, a trail rewritten with the deployment's own key — which the
// signatures cannot tell — fails on the versions the rewrite left: a new version of an object
// and its manifest, a manifest deleted. Read as a copy (no versions), the same rewrite passes:
// what the version check adds.
func TestVerifyNamesKeysWrittenAgainOrDeletedInAVersionedBucket(t *testing.T) {
	key := newSigningKey(t, "k")
	bt := buildTrail(t, smallSpec(), key)
	if sum, vs := verifyAll(t, VersionsOf(bt.trail), bt.now, key.der); !sum.OK() || !sum.Versions {
		t.Fatalf("the untouched versioned trail: versions checked %v\n%s", sum.Versions, failures(sum, vs))
	}

	// The owner of the key rewrites the last window, signed with the real key: it keeps the
	// window's first record only, its detail changed (the records after it, which would no
	// longer link, dropped), in a new object and a new version of the manifest.
	tr := bt.trail.Clone()
	last := bt.sealed[3]
	prev := bt.sealed[2].Link()
	win := NewWindow(last.Manifest.WindowStart, last.Manifest.WindowEnd, "lanyard-test", 4, func(_ context.Context, k string, body []byte) error {
		tr.Put(k, body, nil)
		return nil
	})
	r := bt.records[3][0]
	r.Detail = []byte(`{"partnerId":"p-00","n":0,"note":"rewritten by the key's owner"}`)
	r.Hash = r.ComputeHash()
	if err := win.Add(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	rewritten, err := win.Seal(context.Background(), &prev, key.key(), key.signer(), last.Manifest.ExportedAt)
	if err != nil {
		t.Fatal(err)
	}
	tr.Delete(last.Key)
	tr.PutSealed(rewritten)
	if sum, vs := verifyAll(t, tr, bt.now, key.der); !sum.OK() {
		t.Fatalf("read as a copy, the rewrite with the real key is expected to pass (the signatures cannot tell):\n%s", failures(sum, vs))
	}
	sum, vs := verifyAll(t, VersionsOf(tr), bt.now, key.der)
	got := failures(sum, vs)
	if sum.OK() || !strings.Contains(got, "manifest "+last.Key) || !strings.Contains(got, "written again or deleted after its export") {
		t.Fatalf("read as a versioned bucket, the rewrite passed or was not named:\n%s", got)
	}

	// A new version of an object, its content unchanged, is named too.
	tr = bt.trail.Clone()
	obj := bt.sealed[1].Manifest.Objects[0].Key
	e := mustEntry(t, tr, obj)
	tr.Put(obj, e.Body, nil)
	sum, vs = verifyAll(t, VersionsOf(tr), bt.now, key.der)
	if got := failures(sum, vs); sum.OK() || !strings.Contains(got, "window "+Stamp(bt.sealed[1].Manifest.WindowStart)+": object "+obj) || !strings.Contains(got, "written again or deleted after its export") {
		t.Fatalf("a second version of %s:\n%s", obj, got)
	}
}
