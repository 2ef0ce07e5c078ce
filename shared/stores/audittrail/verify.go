package audittrail

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// Options bound and pin a verification.
type Options struct {
	// From and To bound the windows whose objects are read and checked record by record: those
	// that overlap [From, To). Zero is unbounded. Every manifest is checked whatever the bounds
	// (signature, link, window, chain ranges): it is cheap, and the chains' continuity needs it.
	From, To time.Time
	// PublicKey is the trust anchor the auditor holds (DER SubjectPublicKeyInfo, see
	// ParsePublicKey). Nil trusts the first manifest's anchor: a trail re-signed from its
	// first manifest with another key is then caught only by comparing Summary.Anchor with
	// the fingerprint recorded before.
	PublicKey []byte
	// Now is the time the trail's end is judged against; nil is time.Now.
	Now func() time.Time
	// Delay is how long after a window's end the exporter exports it; Slack what its schedule
	// and run may add. The last window must end at or after min(To, Now) − its length −
	// Delay − Slack, or the trail is cut short.
	Delay, Slack time.Duration
	// Workers is how many objects are read and checked at once; 0 is the number of CPUs
	// (at most 4).
	Workers int
	// Progress, when set, is called after each window with the count so far.
	Progress func(Progress)
	// Keep, when set, narrows the objects read to those holding a record of a chain it keeps
	// (within From and To), and hands their records of the kept chains back in their
	// window's verdict (WindowVerdict.Kept): a partner's history reads its own records alone.
	Keep func(chain string) bool
}

// Progress is how far a verification is.
type Progress struct {
	Windows, TotalWindows int
	Records, Bytes        int64
}

// Failure is one thing that does not verify, and where: the window (its Stamp), the manifest
// or object key and the version read, and the chain and seq when it is about a record.
type Failure struct {
	Window    string `json:"window,omitempty"`
	Manifest  string `json:"manifest,omitempty"`
	Object    string `json:"object,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	Chain     string `json:"chain,omitempty"`
	Seq       int64  `json:"seq,omitempty"`
	Reason    string `json:"reason"`
}

func (f Failure) String() string {
	var b strings.Builder
	add := func(s string) {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(s)
	}
	if f.Window != "" {
		add("window " + f.Window)
	}
	switch {
	case f.Object != "":
		add("object " + f.Object + version(f.VersionID))
	case f.Manifest != "":
		add("manifest " + f.Manifest + version(f.VersionID))
	}
	if f.Chain != "" {
		add(fmt.Sprintf("chain %s seq %d", f.Chain, f.Seq))
	}
	add(f.Reason)
	return b.String()
}

func version(v string) string {
	if v == "" {
		return ""
	}
	return " (version " + v + ")"
}

// WindowVerdict is one window's result.
type WindowVerdict struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Manifest  string    `json:"manifest"`
	VersionID string    `json:"versionId,omitempty"`
	Objects   int       `json:"objects"`
	Records   int64     `json:"records"`
	Bytes     int64     `json:"bytes"`
	// Checked says its objects were read and checked record by record (it is within From and
	// To); otherwise only its manifest was.
	Checked  bool      `json:"checked"`
	Failures []Failure `json:"failures,omitempty"`
	// Kept are the records of the chains Options.Keep keeps, in the order the window's
	// objects hold them, from the objects that verify; the records of an object that fails
	// are left out (its failures say why).
	Kept []outbox.Record `json:"-"`
}

// OK says nothing failed in the window.
func (v WindowVerdict) OK() bool { return len(v.Failures) == 0 }

// Summary is a whole verification's result.
type Summary struct {
	// Windows is how many manifests were checked, Checked how many of them had their
	// objects checked, Failed how many failed.
	Windows, Checked, Failed int
	Objects                  int
	Records, Bytes           int64
	// First is the trail's first window start, Last its last window end.
	First, Last time.Time
	// Anchor is the fingerprint of the key the trail verified against; Pinned says it is the
	// auditor's (Options.PublicKey), not only the first manifest's.
	Anchor string
	Pinned bool
	// Versions says every version of the trail's keys was listed (the trail is a
	// VersionLister): a key written again or deleted after its export is a failure.
	Versions bool
	// Failures are those of the trail as a whole: no manifest, a key under manifests/ that
	// is no manifest's, a key written again or deleted after its export, a trail cut short
	// at its end.
	Failures []Failure
}

// OK says the trail verified.
func (s Summary) OK() bool { return s.Failed == 0 && len(s.Failures) == 0 }

// maxWindowFailures bounds what one window reports: after a first failure, what follows is
// mostly its echo.
const maxWindowFailures = 20

// Verify checks a trail and reports each window's verdict, in window order, to report: the
// windows within From and To, and any other whose manifest fails. Every manifest is checked
// from the first: its signature with the trust anchor, its link to the one before, that its
// window follows the one before without a gap, and that its chain ranges continue each chain
// (seq after seq, prevHash to hash, a new chain at seq 1 from outbox.GenesisHash). Each
// object of a window within From and To is read as a stream: its SHA-256, record count and
// size against the manifest, and each record line in the order of the manifest's ranges,
// linked to the one before, its hash recomputed. The error is for what stopped the
// verification (listing the manifests, ctx); what does not verify is in the verdicts and the
// summary.
func Verify(ctx context.Context, trail Trail, opts Options, report func(WindowVerdict)) (Summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	keys, err := trail.ListManifests(ctx, "")
	if err != nil {
		return Summary{}, fmt.Errorf("verify the audit trail: %w", err)
	}
	v := newVerifier(trail, opts, report, len(keys))
	defer v.stop()
	if err := v.pin(); err != nil {
		return Summary{}, err
	}
	if vl, ok := trail.(VersionLister); ok {
		if err := v.versions(ctx, vl); err != nil {
			return Summary{}, err
		}
	}
	for f := range prefetch(ctx, trail, keys) {
		if err := ctx.Err(); err != nil {
			return Summary{}, fmt.Errorf("verify the audit trail: %w", err)
		}
		if err := v.manifest(ctx, f); err != nil {
			return Summary{}, err
		}
	}
	v.drain()
	if err := ctx.Err(); err != nil {
		return Summary{}, fmt.Errorf("verify the audit trail: %w", err)
	}
	v.tail()
	return v.sum, nil
}

// fetchedManifest is one manifest as read.
type fetchedManifest struct {
	key       string
	body      []byte
	metadata  map[string]string
	versionID string
	err       error
}

// prefetchAhead is how many manifests are read ahead of the one being checked.
const prefetchAhead = 16

// prefetch reads the manifests of keys a few at a time ahead, and yields them in order.
func prefetch(ctx context.Context, trail Trail, keys []string) func(func(fetchedManifest) bool) {
	return func(yield func(fetchedManifest) bool) {
		futures := make(chan chan fetchedManifest, prefetchAhead)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			defer close(futures)
			for _, k := range keys {
				f := make(chan fetchedManifest, 1)
				select {
				case futures <- f:
				case <-ctx.Done():
					return
				}
				go func() {
					body, md, ver, err := trail.GetManifest(ctx, k)
					f <- fetchedManifest{key: k, body: body, metadata: md, versionID: ver, err: err}
				}()
			}
		}()
		for f := range futures {
			if !yield(<-f) {
				return
			}
		}
	}
}

// chainState is where a chain stands after the windows checked so far.
type chainState struct {
	seq  int64
	hash string
}

// link is what the next manifest must name of the one before.
type link struct {
	key, sha256, signature string
	start                  time.Time // what the key names
	end                    time.Time // zero when the manifest could not be read
}

// pendingWindow is a window whose objects are being checked.
type pendingWindow struct {
	verdict WindowVerdict
	results []objectResult
	left    atomic.Int64
	done    chan struct{}
}

type objectResult struct {
	records, bytes int64
	failures       []Failure
	kept           []outbox.Record
}

type objectTask struct {
	ctx    context.Context
	w      *pendingWindow
	i      int
	obj    Object
	ranges []ChainRange
}

type verifier struct {
	trail  Trail
	opts   Options
	report func(WindowVerdict)
	total  int

	anchorKey  *ecdsa.PublicKey
	anchorFP   string
	deployment string
	first      bool
	prev       *link
	chains     map[string]chainState
	// chainsLost: a manifest could not be read, so the chains' state is unknown; the next
	// ranges are taken as they are.
	chainsLost bool

	tasks   chan objectTask
	workers sync.WaitGroup
	pending []*pendingWindow
	sum     Summary
}

func newVerifier(trail Trail, opts Options, report func(WindowVerdict), total int) *verifier {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if report == nil {
		report = func(WindowVerdict) {}
	}
	n := opts.Workers
	if n <= 0 {
		n = min(runtime.GOMAXPROCS(0), 4)
	}
	v := &verifier{trail: trail, opts: opts, report: report, total: total, first: true,
		chains: map[string]chainState{}, tasks: make(chan objectTask, n)}
	tasks := v.tasks
	for range n {
		v.workers.Go(func() {
			c := &objectChecker{}
			for t := range tasks {
				t.w.results[t.i] = c.check(t.ctx, v.trail, t.w.verdict, t.obj, t.ranges, v.opts.Keep)
				if t.w.left.Add(-1) == 0 {
					close(t.w.done)
				}
			}
		})
	}
	return v
}

func (v *verifier) stop() {
	if v.tasks != nil {
		close(v.tasks)
		v.tasks = nil
	}
	v.workers.Wait()
}

// pin takes the auditor's key when there is one.
func (v *verifier) pin() error {
	if len(v.opts.PublicKey) == 0 {
		return nil
	}
	key, err := ecdsaKey(v.opts.PublicKey)
	if err != nil {
		return fmt.Errorf("verify the audit trail: the pinned public key: %w", err)
	}
	v.anchorKey, v.anchorFP = key, Fingerprint(v.opts.PublicKey)
	v.sum.Anchor, v.sum.Pinned = v.anchorFP, true
	return nil
}

func ecdsaKey(der []byte) (*ecdsa.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("not a DER SubjectPublicKeyInfo: %w", err)
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, errors.New("not an ECC_NIST_P256 key")
	}
	return k, nil
}

// manifest checks one manifest and, when its window is within bounds, starts the check of its
// objects.
func (v *verifier) manifest(ctx context.Context, f fetchedManifest) error {
	start, err := WindowOfManifestKey(f.key)
	if err != nil {
		v.sum.Failures = append(v.sum.Failures, Failure{Manifest: f.key, VersionID: f.versionID, Reason: "a key under " + ManifestPrefix + " that names no window: " + err.Error()})
		return nil
	}
	v.sum.Windows++
	w := &pendingWindow{verdict: WindowVerdict{Start: start, Manifest: f.key, VersionID: f.versionID}, done: make(chan struct{})}
	vd := &w.verdict
	fail := func(format string, args ...any) {
		vd.Failures = append(vd.Failures, Failure{Window: Stamp(start), Manifest: f.key, VersionID: f.versionID, Reason: fmt.Sprintf(format, args...)})
	}
	first := v.first
	v.first = false
	m, ok := v.readManifest(f, first, fail)
	if ok {
		vd.End = m.WindowEnd
		v.checkManifest(m, f.key, start, first, fail)
	}
	if v.sum.First.IsZero() {
		v.sum.First = start
	}
	if ok && m.WindowEnd.After(v.sum.Last) {
		v.sum.Last = m.WindowEnd
	}
	// what the next manifest must link to
	sum := sha256.Sum256(f.body)
	sig, _ := metadataValue(f.metadata, SignatureMetadata)
	v.prev = &link{key: f.key, sha256: hex.EncodeToString(sum[:]), signature: sig, start: start}
	if ok {
		v.prev.end = m.WindowEnd
		v.chainRanges(m, fail)
	} else {
		v.chainsLost = true
	}
	if ok && v.within(m) {
		vd.Checked = true
		ranges := make([][]ChainRange, len(m.Objects))
		read := make([]bool, len(m.Objects))
		for _, r := range m.Chains {
			ranges[r.Object] = append(ranges[r.Object], r)
			read[r.Object] = read[r.Object] || v.opts.Keep == nil || v.opts.Keep(r.Chain)
		}
		if v.opts.Keep == nil {
			for i := range read {
				read[i] = true // an object no range names is read, and fails
			}
		}
		for _, r := range read {
			if r {
				vd.Objects++
			}
		}
		// Everything the workers read of the verdict is set before the first task is sent.
		w.results = make([]objectResult, len(m.Objects))
		w.left.Store(int64(vd.Objects))
		v.enqueue(w)
		for i, o := range m.Objects {
			if !read[i] {
				continue
			}
			select {
			case v.tasks <- objectTask{ctx: ctx, w: w, i: i, obj: o, ranges: ranges[i]}:
			case <-ctx.Done():
				return fmt.Errorf("verify the audit trail: %w", ctx.Err())
			}
		}
		if vd.Objects == 0 {
			close(w.done)
		}
	} else {
		close(w.done)
		v.enqueue(w)
	}
	v.flush(false)
	return nil
}

// readManifest reads the manifest's bytes and checks its signature.
func (v *verifier) readManifest(f fetchedManifest, first bool, fail func(string, ...any)) (Manifest, bool) {
	if f.err != nil {
		if errors.Is(f.err, ErrNotFound) {
			fail("listed but not found")
		} else {
			fail("could not be read: %v", f.err)
		}
		return Manifest{}, false
	}
	m, err := ParseManifest(f.body)
	if err != nil {
		fail("%v", err)
	}
	if first {
		v.anchor(m, err == nil, fail)
	}
	v.signature(f, fail)
	return m, err == nil
}

// anchor takes the first manifest's trust anchor, or checks it against the pinned key.
func (v *verifier) anchor(m Manifest, parsed bool, fail func(string, ...any)) {
	if !parsed || m.Anchor == nil {
		fail("the trail's first manifest has no trust anchor (is a manifest before it missing?)")
		return
	}
	der, err := base64.StdEncoding.DecodeString(m.Anchor.PublicKey)
	if err != nil {
		fail("trust anchor: public key is not base64")
		return
	}
	key, err := ecdsaKey(der)
	if err != nil {
		fail("trust anchor: public key is %v", err)
		return
	}
	fp := Fingerprint(der)
	if m.Anchor.Fingerprint != fp {
		fail("trust anchor: fingerprint %s is not its public key's (%s)", m.Anchor.Fingerprint, fp)
		return
	}
	if v.sum.Pinned {
		if fp != v.anchorFP {
			fail("trust anchor: key %s is not the pinned public key %s (the trail was signed anew with another key)", fp, v.anchorFP)
		}
		return
	}
	v.anchorKey, v.anchorFP, v.sum.Anchor = key, fp, fp
}

// signature checks the manifest's signature (metadata) with the anchor.
func (v *verifier) signature(f fetchedManifest, fail func(string, ...any)) {
	if v.anchorKey == nil {
		fail("signature not checked: no trust anchor")
		return
	}
	s, ok := metadataValue(f.metadata, SignatureMetadata)
	if !ok || s == "" {
		fail("no signature (metadata %s)", SignatureMetadata)
		return
	}
	sig, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		fail("signature (metadata %s) is not base64", SignatureMetadata)
		return
	}
	d := SigningDigest(f.body)
	if !ecdsa.VerifyASN1(v.anchorKey, d[:], sig) {
		fail("signature does not verify with the trust anchor %s", v.anchorFP)
	}
	if a, _ := metadataValue(f.metadata, SigningAlgorithmMetadata); a != SigningAlgorithm {
		fail("metadata %s is %q, not %s", SigningAlgorithmMetadata, a, SigningAlgorithm)
	}
	if fp, _ := metadataValue(f.metadata, FingerprintMetadata); fp != v.anchorFP {
		fail("metadata %s is %q, not the trust anchor %s", FingerprintMetadata, fp, v.anchorFP)
	}
}

// checkManifest checks what a manifest says of itself and of the one before.
func (v *verifier) checkManifest(m Manifest, key string, start time.Time, first bool, fail func(string, ...any)) {
	if !m.WindowStart.Equal(start) {
		fail("the manifest's window starts at %s, its key says %s", Stamp(m.WindowStart), Stamp(start))
	}
	if want := ManifestKey(m.WindowStart); key != want {
		fail("stored under %s, the exporter writes it under %s", key, want)
	}
	if m.Deployment == "" {
		fail("the manifest names no deployment")
	}
	if !m.WindowEnd.After(m.WindowStart) {
		fail("the window ends at %s, not after its start", m.WindowEnd.UTC().Format(time.RFC3339))
	}
	if first {
		v.deployment = m.Deployment
		if m.Previous != nil {
			fail("the trail's first manifest links to %s, which is not in the trail", m.Previous.Key)
		}
	} else {
		if m.Deployment != v.deployment {
			fail("deployment %q, the trail's is %q", m.Deployment, v.deployment)
		}
		if m.Anchor != nil {
			fail("a trust anchor in a manifest that is not the trail's first")
		}
		v.checkLink(m, fail)
	}
	if m.SigningKey.Algorithm != SigningAlgorithm {
		fail("signing algorithm %q, not %s", m.SigningKey.Algorithm, SigningAlgorithm)
	}
	if v.anchorFP != "" && m.SigningKey.Fingerprint != v.anchorFP {
		fail("signed by key %s, not the trust anchor %s", m.SigningKey.Fingerprint, v.anchorFP)
	}
	v.checkObjects(m, fail)
}

func (v *verifier) checkLink(m Manifest, fail func(string, ...any)) {
	p := v.prev
	switch {
	case m.Previous == nil:
		fail("no link to the manifest before (%s)", p.key)
	case m.Previous.Key != p.key:
		fail("links to manifest %s, but the manifest before is %s (a manifest missing or moved)", m.Previous.Key, p.key)
	case m.Previous.SHA256 != p.sha256:
		fail("links to %s with SHA-256 %s, but it has %s (the manifest before was changed)", p.key, m.Previous.SHA256, p.sha256)
	case m.Previous.Signature != p.signature:
		fail("links to %s with another signature than its metadata's", p.key)
	}
	if !p.end.IsZero() {
		switch {
		case m.WindowStart.After(p.end):
			fail("a gap: the window before ends at %s", Stamp(p.end))
		case m.WindowStart.Before(p.end):
			fail("overlaps the window before, which ends at %s", Stamp(p.end))
		}
	}
}

// checkObjects checks the objects' entries and that the chain ranges account for each
// object's records.
func (v *verifier) checkObjects(m Manifest, fail func(string, ...any)) {
	counts := make([]int64, len(m.Objects))
	lastObject := 0
	for _, r := range m.Chains {
		if r.Object < 0 || r.Object >= len(m.Objects) {
			fail("chain %s seq %d…%d is in object %d of %d", r.Chain, r.FirstSeq, r.LastSeq, r.Object, len(m.Objects))
			continue
		}
		if r.Object < lastObject {
			fail("chain ranges out of object order at chain %s seq %d", r.Chain, r.FirstSeq)
		}
		lastObject = r.Object
		if r.FirstSeq < 1 || r.LastSeq < r.FirstSeq {
			fail("chain %s: range seq %d…%d", r.Chain, r.FirstSeq, r.LastSeq)
			continue
		}
		counts[r.Object] += r.LastSeq - r.FirstSeq + 1
	}
	for i, o := range m.Objects {
		if want := ObjectKey(m.WindowStart, i+1, o.SHA256); o.Key != want {
			fail("object %d is %s, want %s", i+1, o.Key, want)
		}
		if o.Records != counts[i] || o.Records < 1 {
			fail("object %s: %d records, its chain ranges count %d", o.Key, o.Records, counts[i])
		}
	}
}

// chainRanges continues each chain with the manifest's ranges.
func (v *verifier) chainRanges(m Manifest, fail func(string, ...any)) {
	lost := v.chainsLost
	v.chainsLost = false
	for _, r := range m.Chains {
		st, seen := v.chains[r.Chain]
		switch {
		case lost:
		case !seen && (r.FirstSeq != 1 || r.FirstPrevHash != outbox.GenesisHash):
			fail("chain %s starts at seq %d in this window, but the trail has no record of it before", r.Chain, r.FirstSeq)
		case seen && r.FirstSeq != st.seq+1:
			fail("chain %s: seq %d follows seq %d", r.Chain, r.FirstSeq, st.seq)
		case seen && r.FirstPrevHash != st.hash:
			fail("chain %s: seq %d's prevHash is not seq %d's hash", r.Chain, r.FirstSeq, st.seq)
		}
		v.chains[r.Chain] = chainState{seq: r.LastSeq, hash: r.LastHash}
	}
}

// within says whether m's window overlaps [From, To).
func (v *verifier) within(m Manifest) bool {
	if !v.opts.From.IsZero() && !m.WindowEnd.After(v.opts.From) {
		return false
	}
	return v.opts.To.IsZero() || m.WindowStart.Before(v.opts.To)
}

func (v *verifier) enqueue(w *pendingWindow) { v.pending = append(v.pending, w) }

// maxPending bounds the windows held while their objects are checked.
const maxPending = 64

// flush reports the windows that are done, in order; with all, it waits for every one.
func (v *verifier) flush(all bool) {
	for len(v.pending) > 0 {
		w := v.pending[0]
		if all || len(v.pending) > maxPending {
			<-w.done
		} else {
			select {
			case <-w.done:
			default:
				return
			}
		}
		v.pending = v.pending[1:]
		v.finish(w)
	}
}

func (v *verifier) finish(w *pendingWindow) {
	vd := w.verdict
	for _, r := range w.results {
		vd.Records += r.records
		vd.Bytes += r.bytes
		vd.Failures = append(vd.Failures, r.failures...)
		if len(r.failures) == 0 {
			vd.Kept = append(vd.Kept, r.kept...)
		}
	}
	if len(vd.Failures) > maxWindowFailures {
		n := len(vd.Failures) - maxWindowFailures
		vd.Failures = append(vd.Failures[:maxWindowFailures:maxWindowFailures], Failure{Window: Stamp(vd.Start), Manifest: vd.Manifest, Reason: fmt.Sprintf("and %d more failures", n)})
	}
	if vd.Checked {
		v.sum.Checked++
	}
	v.sum.Objects += vd.Objects
	v.sum.Records += vd.Records
	v.sum.Bytes += vd.Bytes
	if !vd.OK() {
		v.sum.Failed++
	}
	if vd.Checked || !vd.OK() {
		v.report(vd)
	}
	if v.opts.Progress != nil {
		v.opts.Progress(Progress{Windows: v.sum.Windows - len(v.pending), TotalWindows: v.total, Records: v.sum.Records, Bytes: v.sum.Bytes})
	}
}

func (v *verifier) drain() { v.flush(true) }

// tail checks the trail reaches as far as the exporter has exported by now.
func (v *verifier) tail() {
	if v.sum.Windows == 0 {
		v.sum.Failures = append(v.sum.Failures, Failure{Reason: "no manifest under " + ManifestPrefix + ": the trail is empty"})
		return
	}
	until := v.opts.Now().UTC()
	if !v.opts.To.IsZero() && v.opts.To.Before(until) {
		until = v.opts.To.UTC()
	}
	if v.prev == nil || v.prev.end.IsZero() {
		return // the last manifest failed: reported
	}
	length := v.prev.end.Sub(v.prev.start)
	due := until.Add(-length - v.opts.Delay - v.opts.Slack)
	if v.prev.end.Before(due) {
		v.sum.Failures = append(v.sum.Failures, Failure{Manifest: v.prev.key, Reason: fmt.Sprintf(
			"the trail is cut short: its last window ends at %s, but by %s the windows up to at least %s are exported (window %s, delay %s, slack %s)",
			v.prev.end.UTC().Format(time.RFC3339), until.Format(time.RFC3339), due.Format(time.RFC3339), length, v.opts.Delay, v.opts.Slack)})
	}
}

// objectChecker reads objects; one per worker, its buffers reused.
type objectChecker struct {
	line  []byte
	canon []byte
	in    *bufio.Reader // the stored bytes
	zr    *gzip.Reader
	br    *bufio.Reader // the content
}

// check reads one object as a stream and checks it against its manifest entry and ranges.
func (c *objectChecker) check(ctx context.Context, trail Trail, w WindowVerdict, obj Object, ranges []ChainRange, keep func(string) bool) objectResult {
	var res objectResult
	var version string
	fail := func(chain string, seq int64, format string, args ...any) {
		res.failures = append(res.failures, Failure{Window: Stamp(w.Start), Object: obj.Key, VersionID: version, Chain: chain, Seq: seq, Reason: fmt.Sprintf(format, args...)})
	}
	body, version, err := trail.GetObject(ctx, obj.Key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			fail("", 0, "missing: the manifest lists it")
		} else {
			fail("", 0, "could not be read: %v", err)
		}
		return res
	}
	defer func() { _ = body.Close() }()
	if c.in == nil {
		c.in = bufio.NewReaderSize(body, 64<<10)
	} else {
		c.in.Reset(body)
	}
	if c.zr == nil {
		c.zr, err = gzip.NewReader(c.in)
	} else {
		err = c.zr.Reset(c.in)
	}
	if err != nil {
		fail("", 0, "not gzip: %v", err)
		return res
	}
	// The content is read no further than the manifest's size says, and a line no longer
	// than a record can be: a small object that inflates without end (or into one endless
	// line) fails as soon as it passes either, holding no more than a line.
	content := io.LimitReader(c.zr, obj.Bytes+1)
	if c.br == nil {
		c.br = bufio.NewReaderSize(content, 64<<10)
	} else {
		c.br.Reset(content)
	}
	h := sha256.New()
	lc := lineChecker{ranges: ranges, fail: fail}
	if keep != nil {
		lc.keep = func(r outbox.Record) {
			if keep(r.Chain) {
				r.Detail = bytes.Clone(r.Detail)
				res.kept = append(res.kept, r)
			}
		}
	}
	lc.next()
	for {
		line, err := c.readLine()
		if len(line) > 0 {
			h.Write(line)
			res.bytes += int64(len(line))
			res.records++
			if line[len(line)-1] != '\n' {
				fail("", 0, "its content does not end with a newline")
			} else if !lc.lost {
				c.canon = lc.record(line[:len(line)-1], c.canon)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail("", 0, "unreadable after %d bytes: %v", res.bytes, err)
			return res
		}
	}
	if !lc.lost && lc.ri < len(ranges) {
		fail(lc.want.Chain, lc.seq, "missing: the object ends where the manifest lists this record")
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != obj.SHA256 {
		fail("", 0, "content SHA-256 %s, the manifest has %s", got, obj.SHA256)
	}
	if res.records != obj.Records {
		fail("", 0, "%d records, the manifest has %d", res.records, obj.Records)
	}
	if res.bytes != obj.Bytes {
		fail("", 0, "%d bytes uncompressed, the manifest has %d", res.bytes, obj.Bytes)
	}
	return res
}

// readLine returns the next line with its "\n" (without at the end of the content); it is
// valid until the next call.
func (c *objectChecker) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	c.line = append(c.line[:0], line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		if len(c.line) > maxLine {
			return nil, fmt.Errorf("a line longer than %d bytes, which no record is", maxLine)
		}
		line, err = c.br.ReadSlice('\n')
		c.line = append(c.line, line...)
	}
	return c.line, err
}

// maxLine bounds a record line: a DynamoDB item, the record with its detail, is 400 KB at
// most, and its line escapes little.
const maxLine = 1 << 20

// lineChecker follows an object's records through the manifest's ranges.
type lineChecker struct {
	ranges []ChainRange
	fail   func(chain string, seq int64, format string, args ...any)
	ri     int
	want   ChainRange
	seq    int64
	prev   string
	// lost: a record was not where the manifest has it; what follows is not checked line by
	// line (the digest still is).
	lost bool
	// keep, when set, is handed each record that checks.
	keep func(outbox.Record)
}

func (l *lineChecker) next() {
	if l.ri < len(l.ranges) {
		l.want = l.ranges[l.ri]
		l.seq, l.prev = l.want.FirstSeq, l.want.FirstPrevHash
	}
}

// record checks one line; canon is a reused buffer, returned.
func (l *lineChecker) record(line, canon []byte) []byte {
	r, err := ParseLine(line)
	if err != nil {
		l.lost = true
		l.fail(l.want.Chain, l.seq, "the line where this record is listed: %v", err)
		return canon
	}
	if l.ri >= len(l.ranges) {
		l.lost = true
		l.fail(r.Chain, r.Seq, "a record the manifest does not list")
		return canon
	}
	if r.Chain != l.want.Chain || r.Seq != l.seq {
		l.lost = true
		l.fail(l.want.Chain, l.seq, "the object has chain %s seq %d where the manifest lists this record", r.Chain, r.Seq)
		return canon
	}
	if r.PrevHash != l.prev {
		l.lost = true
		l.fail(r.Chain, r.Seq, "its prevHash is not the hash of the record before")
		return canon
	}
	canon = outbox.AppendCanonical(canon[:0], r)
	sum := sha256.Sum256(canon)
	var hx [sha256.Size * 2]byte
	hex.Encode(hx[:], sum[:])
	if !bytes.Equal(hx[:], []byte(r.Hash)) {
		l.lost = true
		l.fail(r.Chain, r.Seq, "its hash does not recompute from its content")
		return canon
	}
	if l.keep != nil {
		l.keep(r)
	}
	l.prev = r.Hash
	l.seq++
	if l.seq > l.want.LastSeq {
		if r.Hash != l.want.LastHash {
			l.lost = true
			l.fail(r.Chain, r.Seq, "its hash is not the last hash the manifest has for the range")
			return canon
		}
		l.ri++
		l.next()
	}
	return canon
}

// versions names every key of the trail that has more than one version or a delete marker:
// the exporter writes each key once, so it was written again, or deleted, after its export.
// Object Lock keeps the versions a later one hides, so even a rewrite signed with the
// deployment's own key shows here.
func (v *verifier) versions(ctx context.Context, vl VersionLister) error {
	for _, prefix := range []string{ManifestPrefix, ObjectPrefix} {
		all, err := vl.ListVersions(ctx, prefix)
		if err != nil {
			return fmt.Errorf("verify the audit trail: %w", err)
		}
		byKey := map[string][]ObjectVersion{}
		var keys []string
		for _, o := range all {
			if _, seen := byKey[o.Key]; !seen {
				keys = append(keys, o.Key)
			}
			byKey[o.Key] = append(byKey[o.Key], o)
		}
		slices.Sort(keys)
		for _, key := range keys {
			vs := byKey[key]
			var ids, markers []string
			for _, o := range vs {
				if o.DeleteMarker {
					markers = append(markers, o.VersionID)
				} else {
					ids = append(ids, o.VersionID)
				}
			}
			if len(ids) <= 1 && len(markers) == 0 {
				continue
			}
			what := "versions " + strings.Join(ids, ", ")
			if len(markers) > 0 {
				what += "; delete markers " + strings.Join(markers, ", ")
			}
			f := Failure{Window: windowOfKey(key), Reason: "written again or deleted after its export, which writes each key once: " + what +
				" (Object Lock keeps the versions a later one hides: read them for what was exported)"}
			if prefix == ManifestPrefix {
				f.Manifest = key
			} else {
				f.Object = key
			}
			v.sum.Failures = append(v.sum.Failures, f)
		}
	}
	v.sum.Versions = true
	return nil
}

// windowOfKey is the window stamp a manifest's or an object's key names ("" when none).
func windowOfKey(key string) string {
	if t, err := WindowOfManifestKey(key); err == nil {
		return Stamp(t)
	}
	rest, ok := strings.CutPrefix(key, ObjectPrefix)
	if !ok {
		return ""
	}
	stamp, _, _ := strings.Cut(rest, "/")
	if _, err := ParseStamp(stamp); err != nil {
		return ""
	}
	return stamp
}
