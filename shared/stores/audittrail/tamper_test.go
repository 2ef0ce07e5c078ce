package audittrail

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// tamperSeed fixes the trials: a failure names its trial, which replays with this seed.
const tamperSeed = 20261206

// TestTamperingIsAlwaysFound tampers with a trail in 10,000 random ways — records edited (with
// and without their hash, the chain after them, the object's digest recomputed and the
// manifest signed again with another key), deleted, inserted and reordered; objects swapped,
// replaced and removed; manifests swapped, replaced, edited and removed; the tail cut; the
// whole trail signed anew by an administrator with a new key (against the pinned key) — and
// checks Verify finds every one, and that the untouched trail verifies in every trial.
func TestTamperingIsAlwaysFound(t *testing.T) {
	trials := 10_000
	if testing.Short() {
		trials = 2_000
	}
	t.Logf("seed %d, %d trials", tamperSeed, trials)
	owner := newSigningKey(t, "arn:aws:kms:us-east-1:000000000000:key/owner")
	attacker := newSigningKey(t, "arn:aws:kms:us-east-1:000000000000:key/attacker")
	seedRNG := rand.New(rand.NewPCG(tamperSeed, 0)) //nolint:gosec // a seeded, reproducible set of trails, not a secret
	bases := make([]builtTrail, 12)
	for i := range bases {
		bases[i] = buildTrail(t, randomSpec(seedRNG), owner)
	}
	lab := &tamperLab{owner: owner, attacker: attacker}
	var (
		mu     sync.Mutex
		missed []string
		kinds  = map[string]int{}
	)
	var wg sync.WaitGroup
	const workers = 2
	for wk := range workers {
		wg.Go(func() {
			for trial := wk; trial < trials; trial += workers {
				rng := rand.New(rand.NewPCG(tamperSeed, uint64(trial)+1)) //nolint:gosec // a seeded, reproducible trial, not a secret
				base := bases[rng.IntN(len(bases))]
				tr := base.trail.Clone()
				now := base.now.Add(150 * time.Second) // past the last window's end, delay and slack
				if sum, vs := lab.verify(tr, now, nil); !sum.OK() {
					mu.Lock()
					missed = append(missed, fmt.Sprintf("trial %d: the untouched trail fails:\n%s", trial, failures(sum, vs)))
					mu.Unlock()
					continue
				}
				kind, desc, pinned := lab.tamper(rng, base, tr)
				if rng.IntN(2) == 0 {
					pinned = owner.der // pinning never hides a tamper
				}
				sum, _ := lab.verify(tr, now, pinned)
				mu.Lock()
				kinds[kind]++
				if sum.OK() {
					missed = append(missed, fmt.Sprintf("trial %d (%s): %s verifies", trial, kind, desc))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("trials per kind: %v", kinds)
	for _, m := range missed[:min(len(missed), 20)] {
		t.Error(m)
	}
	if len(missed) > 0 {
		t.Fatalf("seed %d: %d of %d trials not found", tamperSeed, len(missed), trials)
	}
	if len(kinds) != len(tamperKinds) {
		t.Fatalf("kinds tried: %v, want all %d", kinds, len(tamperKinds))
	}
}

func randomSpec(rng *rand.Rand) trailSpec {
	windows := 2 + rng.IntN(3)
	chains := 1 + rng.IntN(4)
	table := make([][]int, windows)
	for w := range table {
		table[w] = make([]int, chains)
		if rng.IntN(4) == 0 {
			continue // an empty window
		}
		for c := range table[w] {
			table[w][c] = rng.IntN(5)
		}
	}
	table[0][0] = 1 + rng.IntN(3) // something to tamper with
	return trailSpec{windows: windows, chains: chains, maxObject: int64(2 + rng.IntN(4)),
		records: func(w, c int) int { return table[w][c] }}
}

type tamperLab struct {
	owner, attacker signingKey
}

func (l *tamperLab) verify(tr Trail, now time.Time, pinned []byte) (Summary, []WindowVerdict) {
	var got []WindowVerdict
	sum, err := Verify(context.Background(), tr, Options{PublicKey: pinned, Now: func() time.Time { return now }, Delay: time.Minute, Slack: time.Minute, Workers: 1},
		func(v WindowVerdict) { got = append(got, v) })
	if err != nil {
		return Summary{Failures: []Failure{{Reason: err.Error()}}}, nil
	}
	return sum, got
}

// tamperKinds are the ways a trail is tampered with; each returns a description and the key
// to pin (nil: the trail's own anchor).
var tamperKinds = map[string]func(l *tamperLab, rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte){
	"edit record":       (*tamperLab).editRecord,
	"delete record":     (*tamperLab).deleteRecord,
	"insert record":     (*tamperLab).insertRecord,
	"reorder records":   (*tamperLab).reorderRecords,
	"swap objects":      (*tamperLab).swapObjects,
	"replace object":    (*tamperLab).replaceObject,
	"remove object":     (*tamperLab).removeObject,
	"remove manifest":   (*tamperLab).removeManifest,
	"swap manifests":    (*tamperLab).swapManifests,
	"replace manifest":  (*tamperLab).replaceManifest,
	"edit manifest":     (*tamperLab).editManifest,
	"truncate tail":     (*tamperLab).truncateTail,
	"re-sign all (key)": (*tamperLab).resignAll,
}

func (l *tamperLab) tamper(rng *rand.Rand, bt builtTrail, tr *MemTrail) (kind, desc string, pinned []byte) {
	names := make([]string, 0, len(tamperKinds))
	for k := range tamperKinds {
		names = append(names, k)
	}
	slices.Sort(names)
	kind = names[rng.IntN(len(names))]
	desc, pinned = tamperKinds[kind](l, rng, bt, tr)
	return kind, desc, pinned
}

// objects lists every object key of the trail, by window.
func objectsOf(bt builtTrail) (keys []string, window []int) {
	for w, s := range bt.sealed {
		for _, o := range s.Manifest.Objects {
			keys = append(keys, o.Key)
			window = append(window, w)
		}
	}
	return keys, window
}

func pick[T any](rng *rand.Rand, s []T) (T, int) {
	i := rng.IntN(len(s))
	return s[i], i
}

// lines splits an object's content into its lines (each with its "\n").
func lines(tb testing.TB, tr *MemTrail, key string) [][]byte {
	return bytes.SplitAfter(bytes.TrimSuffix(gunzip(tb, mustEntry(tb, tr, key).Body), []byte("\n")), []byte("\n"))
}

func fixNewline(ls [][]byte) []byte {
	for i, ln := range ls {
		if !bytes.HasSuffix(ln, []byte("\n")) {
			ls[i] = append(bytes.Clone(ln), '\n')
		}
	}
	return bytes.Join(ls, nil)
}

// rewrite stores content as an object's new version; with the digest recomputed (cover), it
// also rewrites the manifest's entry, then signs the manifest with the attacker's key or keeps
// its old signature, and relinks the next manifest.
func (l *tamperLab) rewrite(rng *rand.Rand, bt builtTrail, tr *MemTrail, w int, key string, content []byte) string {
	cover := rng.IntN(3)
	tr.Put(key, regzip(content), nil)
	if cover == 0 {
		return "object digest left as it was"
	}
	l.editManifestBody(tr, bt, w, cover == 2, func(m *Manifest) {
		for i := range m.Objects {
			if m.Objects[i].Key == key {
				sum := sha256Hex(content)
				m.Objects[i].SHA256 = sum
				m.Objects[i].Bytes = int64(len(content))
				m.Objects[i].Records = int64(bytes.Count(content, []byte("\n")))
			}
		}
	})
	if cover == 2 {
		return "object digest recomputed, manifest signed again with the attacker's key and the next one relinked"
	}
	return "object digest recomputed in the manifest, signature kept"
}

// editManifestBody changes window w's manifest; resign signs it (and relinks and signs the
// next) with the attacker's key, else the old metadata stays.
func (l *tamperLab) editManifestBody(tr *MemTrail, bt builtTrail, w int, resign bool, edit func(*Manifest)) {
	key := bt.sealed[w].Key
	e := mustEntry(nopTB{}, tr, key)
	m, err := ParseManifest(e.Body)
	if err != nil {
		panic(err)
	}
	edit(&m)
	body, err := MarshalManifest(m)
	if err != nil {
		panic(err)
	}
	if !resign {
		tr.Put(key, body, e.Metadata)
		return
	}
	sig, _ := l.attacker.signer().Sign(context.Background(), SigningDigest(body))
	s := Sealed{Key: key, Manifest: m, Body: body, Signature: sig}
	tr.Put(key, body, s.Metadata())
	if w+1 < len(bt.sealed) {
		link := s.Link()
		l.editManifestBody(tr, bt, w+1, true, func(n *Manifest) { n.Previous = &link })
	}
}

func sha256Hex(b []byte) string { return Fingerprint(b)[len(fingerprintPrefix):] }

func (l *tamperLab) nonEmptyObject(rng *rand.Rand, bt builtTrail) (string, int) {
	keys, windows := objectsOf(bt)
	k, i := pick(rng, keys)
	return k, windows[i]
}

func (l *tamperLab) editRecord(rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte) {
	key, w := l.nonEmptyObject(rng, bt)
	ls := lines(nopTB{}, tr, key)
	_, i := pick(rng, ls)
	r, err := ParseLine(bytes.TrimSuffix(ls[i], []byte("\n")))
	if err != nil {
		panic(err)
	}
	r.Detail = bytes.Clone(r.Detail)
	field := rng.IntN(4)
	switch field {
	case 0:
		r.Detail = bytes.Replace(r.Detail, []byte(`"note":"record`), []byte(`"note":"rec0rd`), 1)
	case 1:
		r.EventID += "x"
	case 2:
		r.Time = r.Time.Add(time.Millisecond)
	case 3:
		r.DetailType = "Credential Revoked"
	}
	how := rng.IntN(3)
	if how >= 1 {
		r.Hash = r.ComputeHash()
	}
	ls[i] = AppendLine(nil, r)
	if how == 2 { // the chain after it, in this object, relinked
		prev := r.Hash
		for j := i + 1; j < len(ls); j++ {
			n, _ := ParseLine(bytes.TrimSuffix(ls[j], []byte("\n")))
			if n.Chain != r.Chain {
				break
			}
			n.Detail = bytes.Clone(n.Detail)
			n.PrevHash = prev
			n.Hash = n.ComputeHash()
			prev = n.Hash
			ls[j] = AppendLine(nil, n)
		}
	}
	cover := l.rewrite(rng, bt, tr, w, key, fixNewline(ls))
	return fmt.Sprintf("record %d of %s: field %d edited, hash recomputed %d; %s", i, key, field, how, cover), nil
}

func (l *tamperLab) deleteRecord(rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte) {
	key, w := l.nonEmptyObject(rng, bt)
	ls := lines(nopTB{}, tr, key)
	_, i := pick(rng, ls)
	ls = slices.Delete(ls, i, i+1)
	cover := l.rewrite(rng, bt, tr, w, key, fixNewline(ls))
	return fmt.Sprintf("record %d of %s deleted; %s", i, key, cover), nil
}

func (l *tamperLab) insertRecord(rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte) {
	key, w := l.nonEmptyObject(rng, bt)
	ls := lines(nopTB{}, tr, key)
	src, _ := pick(rng, ls)
	var extra []byte
	if rng.IntN(2) == 0 {
		extra = bytes.Clone(src) // a copy of a record
	} else { // a forged record that links to the one it follows
		r, _ := ParseLine(bytes.TrimSuffix(src, []byte("\n")))
		f := outbox.Record{Chain: r.Chain, Seq: r.Seq + 1, EventID: "forged", DetailType: r.DetailType, Time: r.Time, PrevHash: r.Hash, Detail: []byte(`{"forged":true}`)}
		f.Hash = f.ComputeHash()
		extra = AppendLine(nil, f)
	}
	at := rng.IntN(len(ls) + 1)
	ls = slices.Insert(ls, at, extra)
	cover := l.rewrite(rng, bt, tr, w, key, fixNewline(ls))
	return fmt.Sprintf("a record inserted at %d of %s; %s", at, key, cover), nil
}

func (l *tamperLab) reorderRecords(rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte) {
	keys, windows := objectsOf(bt)
	var multi []int
	for i, k := range keys {
		if len(lines(nopTB{}, tr, k)) > 1 {
			multi = append(multi, i)
		}
	}
	if len(multi) == 0 {
		return l.deleteRecord(rng, bt, tr)
	}
	oi, _ := pick(rng, multi)
	ls := lines(nopTB{}, tr, keys[oi])
	i := rng.IntN(len(ls))
	j := (i + 1 + rng.IntN(len(ls)-1)) % len(ls)
	ls[i], ls[j] = ls[j], ls[i]
	cover := l.rewrite(rng, bt, tr, windows[oi], keys[oi], fixNewline(ls))
	return fmt.Sprintf("records %d and %d of %s swapped; %s", i, j, keys[oi], cover), nil
}

func (l *tamperLab) swapObjects(rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte) {
	keys, _ := objectsOf(bt)
	if len(keys) < 2 {
		return l.replaceObject(rng, bt, tr)
	}
	a, i := pick(rng, keys)
	b := keys[(i+1+rng.IntN(len(keys)-1))%len(keys)]
	ea, eb := mustEntry(nopTB{}, tr, a), mustEntry(nopTB{}, tr, b)
	tr.Put(a, eb.Body, nil)
	tr.Put(b, ea.Body, nil)
	return fmt.Sprintf("objects %s and %s swapped", a, b), nil
}

func (l *tamperLab) replaceObject(rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte) {
	keys, _ := objectsOf(bt)
	k, i := pick(rng, keys)
	switch rng.IntN(4) {
	case 0:
		tr.Put(k, regzip(nil), nil)
		return k + " replaced by an empty object", nil
	case 1:
		tr.Put(k, []byte("not gzip"), nil)
		return k + " replaced by bytes that are not gzip", nil
	case 2:
		content := gunzip(nopTB{}, mustEntry(nopTB{}, tr, k).Body)
		tr.Put(k, content, nil)
		return k + " replaced by its content uncompressed", nil
	}
	if len(keys) < 2 {
		tr.Put(k, regzip([]byte("{}\n")), nil)
		return k + " replaced by a line that is no record", nil
	}
	other := keys[(i+1+rng.IntN(len(keys)-1))%len(keys)]
	tr.Put(k, mustEntry(nopTB{}, tr, other).Body, nil)
	return k + " replaced by " + other, nil
}

func (l *tamperLab) removeObject(rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte) {
	keys, _ := objectsOf(bt)
	k, _ := pick(rng, keys)
	tr.Delete(k)
	return k + " removed", nil
}

func (l *tamperLab) removeManifest(rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte) {
	n := len(bt.sealed)
	i := rng.IntN(n - 1) // the last: truncate tail
	tr.Delete(bt.sealed[i].Key)
	if rng.IntN(2) == 0 {
		for _, o := range bt.sealed[i].Manifest.Objects {
			tr.Delete(o.Key)
		}
		return fmt.Sprintf("manifest %d of %d removed with its objects", i, n), nil
	}
	return fmt.Sprintf("manifest %d of %d removed", i, n), nil
}

func (l *tamperLab) swapManifests(rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte) {
	n := len(bt.sealed)
	i := rng.IntN(n)
	j := (i + 1 + rng.IntN(n-1)) % n
	a, b := mustEntry(nopTB{}, tr, bt.sealed[i].Key), mustEntry(nopTB{}, tr, bt.sealed[j].Key)
	tr.Put(bt.sealed[i].Key, b.Body, b.Metadata)
	tr.Put(bt.sealed[j].Key, a.Body, a.Metadata)
	return fmt.Sprintf("manifests %d and %d swapped", i, j), nil
}

func (l *tamperLab) replaceManifest(rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte) {
	n := len(bt.sealed)
	i := rng.IntN(n)
	key := bt.sealed[i].Key
	e := mustEntry(nopTB{}, tr, key)
	switch rng.IntN(3) {
	case 0:
		j := (i + 1 + rng.IntN(n-1)) % n
		o := mustEntry(nopTB{}, tr, bt.sealed[j].Key)
		tr.Put(key, o.Body, o.Metadata)
		return fmt.Sprintf("manifest %d replaced by manifest %d", i, j), nil
	case 1:
		var md map[string]string // none: the signature removed
		if rng.IntN(2) == 1 {
			j := (i + 1 + rng.IntN(n-1)) % n
			md = mustEntry(nopTB{}, tr, bt.sealed[j].Key).Metadata
		}
		tr.Put(key, e.Body, md)
		return fmt.Sprintf("manifest %d's signature removed or taken from another", i), nil
	}
	tr.Put(key, []byte("{}"), e.Metadata)
	return fmt.Sprintf("manifest %d replaced by garbage", i), nil
}

func (l *tamperLab) editManifest(rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte) {
	n := len(bt.sealed)
	i := rng.IntN(n)
	resign := rng.IntN(2) == 0
	field := rng.IntN(4)
	l.editManifestBody(tr, bt, i, resign, func(m *Manifest) {
		switch field {
		case 0:
			m.ExportedAt = m.ExportedAt.Add(time.Second)
		case 1:
			m.Deployment += "-other"
		case 2:
			if len(m.Chains) > 0 {
				m.Chains[0].LastHash = outbox.GenesisHash
			} else {
				m.WindowEnd = m.WindowEnd.Add(time.Minute)
			}
		case 3:
			if len(m.Objects) == 0 { // already empty: another change
				m.ExportedAt = m.ExportedAt.Add(-time.Second)
				return
			}
			m.Objects = []Object{}
			m.Chains = []ChainRange{}
		}
	})
	return fmt.Sprintf("manifest %d: field %d edited, signed again by the attacker %v", i, field, resign), nil
}

func (l *tamperLab) truncateTail(rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte) {
	n := len(bt.sealed)
	k := 1 + rng.IntN(n-1)
	for _, s := range bt.sealed[n-k:] {
		tr.Delete(s.Key)
		if rng.IntN(2) == 0 {
			for _, o := range s.Manifest.Objects {
				tr.Delete(o.Key)
			}
		}
	}
	return fmt.Sprintf("the last %d of %d manifests removed", k, n), nil
}

// resignAll: an administrator writes the whole trail anew with a new key, with or without a
// record changed. Only the pinned key catches it.
func (l *tamperLab) resignAll(rng *rand.Rand, bt builtTrail, tr *MemTrail) (string, []byte) {
	spec := bt.spec
	changed := ""
	if rng.IntN(2) == 0 {
		target, _ := pick(rng, slices.Concat(bt.records...))
		spec.tweak = func(r *outbox.Record) {
			if r.Chain == target.Chain && r.Seq == target.Seq {
				r.Detail = []byte(`{"rewritten":true}`)
			}
		}
		changed = fmt.Sprintf(", chain %s seq %d rewritten", target.Chain, target.Seq)
	}
	for _, k := range tr.Keys("") {
		tr.Delete(k)
	}
	anew := buildTrail(nopTB{}, spec, l.attacker)
	for _, k := range anew.trail.Keys("") {
		e, _ := anew.trail.Entry(k)
		tr.Put(k, e.Body, e.Metadata)
	}
	return "the whole trail signed anew with another key" + changed, l.owner.der
}

// nopTB lets helpers run where no failure is expected outside the test goroutine.
type nopTB struct{ testing.TB }

func (nopTB) Helper()                   {}
func (nopTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (nopTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
