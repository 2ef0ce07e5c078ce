// Package auditexport exports the audit trail to the audit bucket: the audit-exporter function
// runs it on its schedule (every minute). Time is cut into windows of a fixed length aligned to
// the Unix epoch (a window starts at k·Window); a window [start, end) is exported once the
// clock is past end+Delay, in order, several per run after an outage while the run has time.
//
// # Which records
//
// The exporter reads the outbox by each chain's sequence, never by time alone: each chain's
// head holds its export cursor (the last record exported), and the sparse export-pending index
// lists the chains whose head is past it (outbox.Exports). For a window it takes, chain by
// chain, the records after the cursor in seq order while their time is before the window's
// end, and stops at the first that is not, so each chain's range is contiguous. A record that
// commits late — its time in a window exported already, or its chain missing from the
// eventually consistent index for a moment — goes in the next window: late, never lost. The
// first window a deployment exports is the last one due, and holds every record before its
// end.
//
// # One window, in order
//
//  1. GetObject of the window's manifest key: a manifest there is one a run wrote before it
//     failed. It is adopted when it continues the trail (its link is the state's, its
//     signature verifies with the signing key) — otherwise the run stops with an error.
//  2. Otherwise the window is built (audittrail.Window): each object is PutObject with
//     If-None-Match: * (an object's key names its content's SHA-256, so one already there is
//     this one: a 412 is success); the manifest is signed by KMS (Sign, MessageType DIGEST,
//     ECDSA_SHA_256; the public key read once per cold start with GetPublicKey) and PutObject
//     with If-None-Match: * and the signature in its metadata. A 412 there means another run
//     stored the window first: its manifest is adopted as in 1.
//  3. Each chain's cursor moves to the last record of the window (outbox.Exports.AdvanceExport,
//     which never moves a cursor back).
//  4. One transaction records the window: the state item (shared/stores/auditexports), on the
//     condition that it still names the window before, and the Audit Exported event on the ops
//     chain. A window is recorded once, however many runs reach it.
//
// # AWS calls
//
// A run with nothing due makes one call: the state's GetItem. A window with C chains to
// export and O objects (MaxObjectRecords records each) makes 1 GetObject, 16 Query (the
// export-pending index's shards; more on long pages), ⌈C/100⌉ BatchGetItem (the cursors), C
// Query (each chain's records; more for a chain with more than 1 MB of them), O PutObject, 1
// Sign, 1 PutObject (the manifest), C UpdateItem (2 for a chain whose head moved during the
// run), 1 GetItem (the ops chain's head) and 1 TransactWriteItems: 21 + 2C + ⌈C/100⌉ + O.
// The ops chain's record of a window carries the time of the run that recorded it, so it goes
// in the window holding that time: on time, the next one (C ≥ 1, O ≥ 1: 25 calls for a window
// with nothing else); windows caught up in one run hold none of them, the first window after
// holds them all. GetPublicKey is one call per cold start; the first run ever (no state) also
// makes one ListObjectsV2 (below).
//
// # When a run stops
//
// A run stops with an error, logged at error level, naming the window and the key, rather than
// store what verify would refuse or fork the trail:
//
//   - KMS returned a signature that does not verify with the signing key's public key: nothing
//     is stored (a manifest under Object Lock at the window's key would halt every later run);
//     the next run signs again.
//   - The signing key is not the trail's: its fingerprint differs from the state's (the key's
//     ARN changed, the key was replaced). A trail has one key, its anchor's; point
//     AUDIT_SIGNING_KEY back at it (the stack retains a key it replaces).
//   - The state item is missing while the bucket holds a trail: the first run lists the
//     manifests (ListObjectsV2, MaxKeys 1) and refuses to start a second trail unless the first
//     manifest is the one of the window it exports (a first run that failed after storing it).
//     To recover, once `lanyard audit verify` passes, put the state item back from the trail's
//     newest manifest M: windowEnd M's windowStart; manifestKey, manifestSha256 and signature
//     M's previous link; fingerprint M's signingKey.fingerprint. The next run finds M stored,
//     adopts it as in 1 (moving the cursors to its ranges) and records it — a second Audit
//     Exported event for M's window when the first was recorded. When M is the trail's first
//     manifest, name M itself (its windowEnd, key, the SHA-256 of its bytes, its signature
//     metadata): right when M's Audit Exported event is on the ops chain, as its cursors moved.
//   - An object at the window's manifest key that does not continue the trail (a stray put,
//     garbage, another key's manifest): the run stops at that window, every run. Under
//     governance mode, a principal granted s3:BypassGovernanceRetention (no role of the stack
//     is) deletes that key's versions (s3api delete-object --version-id …
//     --bypass-governance-retention) and the next run exports the window. Under compliance mode
//     nobody can before its retention ends: the trail ends at the window before — verify
//     reports it cut short from then on — and exporting resumes only as a new trail in another
//     bucket (no state, a new anchor), of which the auditor must be told.
package auditexport

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/auditexports"
	"github.com/lanyardhq/lanyard/shared/stores/audittrail"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// Defaults of the Exporter's bounds.
const (
	// DefaultMaxWindows is how many windows one run exports at most.
	DefaultMaxWindows = 60
	// DefaultReserve is how much of the invocation's time a run keeps: it starts no window
	// with less left.
	DefaultReserve = 30 * time.Second
)

// Actor is who the Audit Exported events name.
var Actor = events.Actor{Kind: events.ActorSystem, ID: "lanyard-audit-exporter"}

// Outbox is the part of the outbox the exporter reads and whose cursors it moves.
type Outbox interface {
	PendingExports(ctx context.Context) ([]string, error)
	ExportCursors(ctx context.Context, chains []string) (map[string]outbox.ExportCursor, error)
	ExportRecords(ctx context.Context, chain string, after int64, before time.Time, fn func(outbox.Record) error) error
	AdvanceExport(ctx context.Context, chain string, seq int64, hash string) error
}

var _ Outbox = (*outbox.Exports)(nil)

// Committer records a decision on a chain with its state changes (outbox.Store).
type Committer interface {
	Commit(ctx context.Context, chain string, d events.Detail, stateChanges []types.TransactWriteItem) (outbox.Record, error)
}

var _ Committer = (*outbox.Store)(nil)

// StateStore reads the exporter's state.
type StateStore interface {
	Get(ctx context.Context) (auditexports.State, error)
}

var _ StateStore = (*auditexports.Store)(nil)

// S3API is the part of the S3 client the exporter uses.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

var _ S3API = (*s3.Client)(nil)

// KMSAPI is the part of the KMS client the exporter uses.
type KMSAPI interface {
	Sign(ctx context.Context, in *kms.SignInput, opts ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

var _ KMSAPI = (*kms.Client)(nil)

// Exporter exports closed windows. Build it once per cold start; runs are serialized.
type Exporter struct {
	Outbox Outbox
	Commit Committer
	State  StateStore
	// StateTable is the state table's name, for the state item of the transaction.
	StateTable string
	S3         S3API
	KMS        KMSAPI
	Bucket     string
	// KeyID is the signing key's ARN.
	KeyID string
	// Deployment is the deployment's id, named in each manifest.
	Deployment string
	// Window is the window length; Delay how long after its end a window is exported.
	Window time.Duration
	Delay  time.Duration
	// MaxWindows bounds the windows of one run (0: DefaultMaxWindows); Reserve is the time
	// left under which a run starts no window (0: DefaultReserve).
	MaxWindows int
	Reserve    time.Duration
	// ObjectRecords bounds the records of one object (0: audittrail.MaxObjectRecords).
	ObjectRecords int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu  sync.Mutex
	key *signingKey // read once per cold start
}

type signingKey struct {
	audittrail.Key
	pub         *ecdsa.PublicKey
	fingerprint string
}

// Report is what one run did.
type Report struct {
	// Windows is how many windows the run recorded; Adopted how many of them it found
	// stored by an earlier run; Records how many records it exported.
	Windows int
	Adopted int
	Records int64
	// Lost says another run recorded a window first: this run stopped there.
	Lost bool
	// Next is the start of the next window to export.
	Next time.Time
}

func (e *Exporter) now() time.Time {
	if e.Now == nil {
		return time.Now().UTC()
	}
	return e.Now().UTC()
}

// WindowStart is the start of the window of length w holding t: windows start at multiples of
// w since the Unix epoch.
func WindowStart(t time.Time, w time.Duration) time.Time {
	n := t.UnixNano()
	k := n / int64(w)
	if n < 0 && n%int64(w) != 0 {
		k--
	}
	return time.Unix(0, k*int64(w)).UTC()
}

// CheckTiming refuses a window or delay the exporter cannot run with.
func CheckTiming(window, delay time.Duration) error {
	switch {
	case window < time.Second || window%time.Second != 0:
		return fmt.Errorf("audit export window %s: want whole seconds, at least 1s", window)
	case window > 24*time.Hour:
		return fmt.Errorf("audit export window %s: at most 24h", window)
	case delay < 0:
		return fmt.Errorf("audit export delay %s: negative", delay)
	}
	return nil
}

// Handle is the scheduled invocation.
func (e *Exporter) Handle(ctx context.Context, ev lambdaevents.EventBridgeEvent) error {
	rep, err := e.Run(ctx)
	attrs := []any{"scheduledAt", ev.Time, "windows", rep.Windows, "adopted", rep.Adopted,
		"records", rep.Records, "lost", rep.Lost, "next", audittrail.Stamp(rep.Next)}
	if err != nil {
		slog.ErrorContext(ctx, "audit export stopped", append(attrs, "err", err.Error())...)
		return err
	}
	slog.InfoContext(ctx, "audit exported", attrs...)
	return nil
}

// Run exports every window due, oldest first, up to MaxWindows and while the invocation has
// time.
func (e *Exporter) Run(ctx context.Context) (rep Report, err error) {
	ctx, span := tracing.Start(ctx, "audit-export")
	defer func() { span.End(err) }()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := CheckTiming(e.Window, e.Delay); err != nil {
		return rep, err
	}
	maxWindows, reserve := e.MaxWindows, e.Reserve
	if maxWindows <= 0 {
		maxWindows = DefaultMaxWindows
	}
	if reserve <= 0 {
		reserve = DefaultReserve
	}
	now := e.now()
	st, err := e.State.Get(ctx)
	if err != nil {
		return rep, err
	}
	start := st.WindowEnd
	if !st.Found {
		// The first window is the last one due; it holds every record before its end.
		start = WindowStart(now.Add(-e.Delay), e.Window).Add(-e.Window)
		if err := e.noTrailYet(ctx, start); err != nil {
			return rep, err
		}
	}
	rep.Next = start
	for rep.Windows < maxWindows {
		end := WindowStart(start, e.Window).Add(e.Window)
		if now.Before(end.Add(e.Delay)) {
			break
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < reserve {
			break
		}
		res, err := e.exportWindow(ctx, st, start, end, now)
		if err != nil {
			return rep, err
		}
		if res.lost {
			rep.Lost = true
			return rep, nil
		}
		rep.Windows++
		rep.Records += res.records
		if res.adopted {
			rep.Adopted++
		}
		st = res.state
		start = st.WindowEnd
		rep.Next = start
	}
	return rep, nil
}

type windowResult struct {
	state   auditexports.State
	records int64
	adopted bool
	lost    bool
}

// exportWindow exports the window [start, end) after the state st.
func (e *Exporter) exportWindow(ctx context.Context, st auditexports.State, start, end, now time.Time) (windowResult, error) {
	key, err := e.signingKey(ctx)
	if err != nil {
		return windowResult{}, err
	}
	if st.Found && st.Fingerprint != key.fingerprint {
		return windowResult{}, fmt.Errorf("audit window %s: the signing key %s (%s) is not the trail's (%s, in the state of the window ending %s): "+
			"a manifest it signed would not verify against the trail's anchor; point the exporter back at the trail's key (a replaced key is retained, not deleted)",
			audittrail.Stamp(start), key.ID, key.fingerprint, st.Fingerprint, audittrail.Stamp(st.WindowEnd))
	}
	var prev *audittrail.Link
	if st.Found {
		prev = &audittrail.Link{Key: st.ManifestKey, SHA256: st.ManifestSHA256, Signature: st.Signature}
	}
	manifestKey := audittrail.ManifestKey(start)
	sealed, found, err := e.stored(ctx, manifestKey, start, prev, key)
	if err != nil {
		return windowResult{}, err
	}
	adopted := found
	if !found {
		if sealed, err = e.build(ctx, start, end, prev, key, now); err != nil {
			return windowResult{}, err
		}
		// A manifest is stored once, under Object Lock, and the next links it: a signature
		// that does not verify would halt the trail, so it is never stored.
		if digest := audittrail.SigningDigest(sealed.Body); !ecdsa.VerifyASN1(key.pub, digest[:], sealed.Signature) {
			return windowResult{}, fmt.Errorf("audit window %s: the signature KMS returned for the manifest does not verify with %s (%s): nothing stored",
				audittrail.Stamp(start), key.ID, key.fingerprint)
		}
		stored, err := e.putManifest(ctx, sealed, key)
		if err != nil {
			return windowResult{}, err
		}
		if !stored {
			// Another run stored the window first: continue from its manifest.
			if sealed, found, err = e.stored(ctx, manifestKey, start, prev, key); err != nil {
				return windowResult{}, err
			}
			if !found {
				return windowResult{}, fmt.Errorf("audit window %s: the manifest's write was refused as existing, and it cannot be read", audittrail.Stamp(start))
			}
			adopted = true
		}
	}
	m := sealed.Manifest
	var records int64
	for _, o := range m.Objects {
		records += o.Records
	}
	// Each chain's last range holds its last record of the window.
	last := map[string]audittrail.ChainRange{}
	var order []string
	for _, r := range m.Chains {
		if _, ok := last[r.Chain]; !ok {
			order = append(order, r.Chain)
		}
		last[r.Chain] = r
	}
	for _, chain := range order {
		r := last[chain]
		if err := e.Outbox.AdvanceExport(ctx, chain, r.LastSeq, r.LastHash); err != nil {
			return windowResult{}, fmt.Errorf("audit window %s: %w", audittrail.Stamp(start), err)
		}
	}
	link := sealed.Link()
	next := auditexports.State{
		Found: true, WindowEnd: m.WindowEnd,
		ManifestKey: link.Key, ManifestSHA256: link.SHA256, Signature: link.Signature, Fingerprint: key.fingerprint,
	}
	d := &events.AuditExported{
		Meta:        events.NewMeta(events.AllPartners, Actor, now),
		WindowStart: m.WindowStart, WindowEnd: m.WindowEnd,
		Bucket: e.Bucket, ManifestKey: link.Key, ManifestSHA256: link.SHA256,
		Objects: int64(len(m.Objects)), Records: records, Chains: int64(len(order)),
	}
	if prev != nil {
		d.PreviousManifestSHA256 = prev.SHA256
	}
	_, err = e.Commit.Commit(ctx, outbox.OpsChain, d, []types.TransactWriteItem{auditexports.Put(e.StateTable, st, next)})
	if _, ok := errors.AsType[*outbox.StateChangeError](err); ok {
		slog.InfoContext(ctx, "audit window recorded by another run", "window", audittrail.Stamp(start))
		return windowResult{lost: true}, nil
	}
	if err != nil {
		return windowResult{}, fmt.Errorf("audit window %s: record Audit Exported: %w", audittrail.Stamp(start), err)
	}
	return windowResult{state: next, records: records, adopted: adopted}, nil
}

// build reads the window's records chain by chain and stores its objects; it returns the
// window sealed.
func (e *Exporter) build(ctx context.Context, start, end time.Time, prev *audittrail.Link, key *signingKey, now time.Time) (audittrail.Sealed, error) {
	chains, err := e.Outbox.PendingExports(ctx)
	if err != nil {
		return audittrail.Sealed{}, err
	}
	cursors, err := e.Outbox.ExportCursors(ctx, chains)
	if err != nil {
		return audittrail.Sealed{}, err
	}
	w := audittrail.NewWindow(start, end, e.Deployment, e.ObjectRecords, e.putObject)
	for _, chain := range chains {
		c, ok := cursors[chain]
		if !ok || c.Seq >= c.Head.Seq {
			continue // exported to its head a moment ago: the index has not caught up
		}
		seq, hash := c.Seq, c.Hash
		err := e.Outbox.ExportRecords(ctx, chain, c.Seq, end, func(r outbox.Record) error {
			if r.Seq != seq+1 || r.PrevHash != hash {
				return fmt.Errorf("outbox chain %s is broken at seq %d: it follows seq %d, want a record linking seq %d (%s)", chain, r.Seq, r.Seq-1, seq, hash)
			}
			if r.ComputeHash() != r.Hash {
				return fmt.Errorf("outbox chain %s is broken at seq %d: its hash does not match its content", chain, r.Seq)
			}
			seq, hash = r.Seq, r.Hash
			return w.Add(ctx, r)
		})
		if err != nil {
			return audittrail.Sealed{}, fmt.Errorf("audit window %s: %w", audittrail.Stamp(start), err)
		}
	}
	return w.Seal(ctx, prev, key.Key, kmsSigner{kms: e.KMS, keyID: e.KeyID}, now)
}

// putObject stores one object, only if its key is free: a key names its content, so an object
// there already is the same one (a run that failed after storing it).
func (e *Exporter) putObject(ctx context.Context, key string, body []byte) error {
	_, err := e.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(e.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType: aws.String(audittrail.ObjectContentType), ContentEncoding: aws.String(audittrail.ObjectContentEncoding),
		IfNoneMatch: aws.String("*"),
	})
	if err != nil && !preconditionFailed(err) {
		return fmt.Errorf("put s3://%s/%s: %w", e.Bucket, key, err)
	}
	return nil
}

// putManifest stores the manifest with its signature, only if its key is free: false when
// another run stored the window's manifest first.
func (e *Exporter) putManifest(ctx context.Context, s audittrail.Sealed, key *signingKey) (bool, error) {
	_, err := e.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(e.Bucket), Key: aws.String(s.Key), Body: bytes.NewReader(s.Body),
		ContentType: aws.String(audittrail.ManifestContentType),
		Metadata:    s.Metadata(),
		IfNoneMatch: aws.String("*"),
	})
	switch {
	case err == nil:
		return true, nil
	case preconditionFailed(err):
		return false, nil
	default:
		return false, fmt.Errorf("put the manifest s3://%s/%s: %w", e.Bucket, s.Key, err)
	}
}

// stored reads the window's manifest when one is stored, and checks it continues the trail:
// it is the window starting at start, links prev (or, first of the trail, anchors the signing
// key), and its signature verifies with the signing key.
func (e *Exporter) stored(ctx context.Context, manifestKey string, start time.Time, prev *audittrail.Link, key *signingKey) (audittrail.Sealed, bool, error) {
	body, metadata, _, err := audittrail.ReadManifest(ctx, e.S3, e.Bucket, manifestKey)
	if errors.Is(err, audittrail.ErrNotFound) {
		return audittrail.Sealed{}, false, nil
	}
	refuse := func(format string, args ...any) (audittrail.Sealed, bool, error) {
		return audittrail.Sealed{}, false, fmt.Errorf("audit window %s: the stored manifest s3://%s/%s does not continue the trail: %s",
			audittrail.Stamp(start), e.Bucket, manifestKey, fmt.Sprintf(format, args...))
	}
	if err != nil {
		return audittrail.Sealed{}, false, err
	}
	m, err := audittrail.ParseManifest(body)
	if err != nil {
		return refuse("%v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(metadata[audittrail.SignatureMetadata])
	digest := audittrail.SigningDigest(body)
	switch {
	case err != nil || len(sig) == 0:
		return refuse("no signature in its metadata")
	case !ecdsa.VerifyASN1(key.pub, digest[:], sig):
		return refuse("its signature does not verify with %s (%s)", key.ID, key.fingerprint)
	case !m.WindowStart.Equal(start) || !m.WindowEnd.After(start):
		return refuse("window %s–%s, want one starting %s", audittrail.Stamp(m.WindowStart), audittrail.Stamp(m.WindowEnd), audittrail.Stamp(start))
	case m.SigningKey.Fingerprint != key.fingerprint:
		return refuse("signed with %s, want %s", m.SigningKey.Fingerprint, key.fingerprint)
	case prev == nil && (m.Previous != nil || m.Anchor == nil || m.Anchor.Fingerprint != key.fingerprint):
		return refuse("the trail's first manifest must anchor %s and link nothing", key.fingerprint)
	case prev != nil && (m.Previous == nil || *m.Previous != *prev || m.Anchor != nil):
		return refuse("it does not link the manifest before (%s)", prev.Key)
	}
	return audittrail.Sealed{Key: manifestKey, Manifest: m, Body: body, Signature: sig}, true, nil
}

// noTrailYet checks, when the state names no window, that the bucket holds no trail the
// first window would fork: its first manifest, if any, must be the one of the window starting
// at start (a first run that stored it and failed before recording it; adopted when it anchors
// the signing key).
func (e *Exporter) noTrailYet(ctx context.Context, start time.Time) error {
	out, err := e.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(e.Bucket), Prefix: aws.String(audittrail.ManifestPrefix), MaxKeys: aws.Int32(1),
	})
	if err != nil {
		return fmt.Errorf("list s3://%s/%s: %w", e.Bucket, audittrail.ManifestPrefix, err)
	}
	if len(out.Contents) == 0 || aws.ToString(out.Contents[0].Key) == audittrail.ManifestKey(start) {
		return nil
	}
	return fmt.Errorf("the audit export state (item %s=%q) is missing, and s3://%s already holds a trail (first manifest %s): "+
		"exporting would start a second one; restore the state item from the trail's last manifest (shared/features/auditexport)",
		auditexports.PartitionKey, auditexports.TrailID, e.Bucket, aws.ToString(out.Contents[0].Key))
}

// signingKey reads the signing key's public key once per cold start.
func (e *Exporter) signingKey(ctx context.Context) (*signingKey, error) {
	if e.key != nil {
		return e.key, nil
	}
	out, err := e.KMS.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(e.KeyID)})
	if err != nil {
		return nil, fmt.Errorf("read the audit signing key %s: %w", e.KeyID, err)
	}
	if out.KeySpec != kmstypes.KeySpecEccNistP256 || out.KeyUsage != kmstypes.KeyUsageTypeSignVerify {
		return nil, fmt.Errorf("the audit signing key %s is %s for %s, want %s for %s", e.KeyID, out.KeySpec, out.KeyUsage, kmstypes.KeySpecEccNistP256, kmstypes.KeyUsageTypeSignVerify)
	}
	parsed, err := x509.ParsePKIXPublicKey(out.PublicKey)
	pub, ok := parsed.(*ecdsa.PublicKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("the audit signing key %s: its public key is not an ECDSA key", e.KeyID)
	}
	id := aws.ToString(out.KeyId)
	if id == "" {
		id = e.KeyID
	}
	e.key = &signingKey{Key: audittrail.Key{ID: id, PublicKey: out.PublicKey}, pub: pub, fingerprint: audittrail.Fingerprint(out.PublicKey)}
	return e.key, nil
}

// kmsSigner signs manifests with the KMS key: the digest, MessageType DIGEST, ECDSA_SHA_256.
type kmsSigner struct {
	kms   KMSAPI
	keyID string
}

func (s kmsSigner) Sign(ctx context.Context, digest [32]byte) ([]byte, error) {
	out, err := s.kms.Sign(ctx, &kms.SignInput{
		KeyId: aws.String(s.keyID), Message: digest[:], MessageType: kmstypes.MessageTypeDigest,
		SigningAlgorithm: kmstypes.SigningAlgorithmSpecEcdsaSha256,
	})
	if err != nil {
		return nil, fmt.Errorf("kms sign with %s: %w", s.keyID, err)
	}
	return out.Signature, nil
}

func preconditionFailed(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "PreconditionFailed"
}
