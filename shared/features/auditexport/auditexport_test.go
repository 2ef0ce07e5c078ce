package auditexport_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/features/auditexport"
	"github.com/lanyardhq/lanyard/shared/stores/auditexports"
	"github.com/lanyardhq/lanyard/shared/stores/audittrail"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/topology"
)

// bucket is an in-memory S3 bucket: PutObject with If-None-Match: * refuses an existing key
// with 412 PreconditionFailed, as S3 does; GetObject of a missing key is NoSuchKey.
type bucket struct {
	mu      sync.Mutex
	objects map[string]object
	puts    map[string]int
	lists   int
}

type object struct {
	body     []byte
	metadata map[string]string
}

func newBucket() *bucket { return &bucket{objects: map[string]object{}, puts: map[string]int{}} }

func (b *bucket) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	key := aws.ToString(in.Key)
	b.puts[key]++
	if _, ok := b.objects[key]; ok && aws.ToString(in.IfNoneMatch) == "*" {
		return nil, &smithy.GenericAPIError{Code: "PreconditionFailed", Message: "At least one of the pre-conditions you specified did not hold"}
	}
	b.objects[key] = object{body: body, metadata: in.Metadata}
	return &s3.PutObjectOutput{}, nil
}

func (b *bucket) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objects[aws.ToString(in.Key)]
	if !ok {
		return nil, &s3types.NoSuchKey{}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(o.body)), Metadata: o.metadata}, nil
}

// ListObjectsV2 lists the keys under the prefix in order, MaxKeys at most.
func (b *bucket) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lists++
	var keys []string
	for k := range b.objects {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if in.MaxKeys != nil && len(keys) > int(*in.MaxKeys) {
		keys = keys[:*in.MaxKeys]
	}
	out := &s3.ListObjectsV2Output{}
	for _, k := range keys {
		out.Contents = append(out.Contents, s3types.Object{Key: aws.String(k)})
	}
	return out, nil
}

func (b *bucket) manifests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var keys []string
	for k := range b.objects {
		if strings.HasPrefix(k, audittrail.ManifestPrefix) {
			keys = append(keys, k)
		}
	}
	return keys
}

// signingKMS holds one ECC_NIST_P256 key in memory: Sign takes a digest.
type signingKMS struct {
	key *ecdsa.PrivateKey
	der []byte
	// signWith, when set, signs in place of key: a signature that does not verify.
	signWith    *ecdsa.PrivateKey
	signs, pubs int
	mu          sync.Mutex
}

func newKMS(t *testing.T) *signingKMS {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &signingKMS{key: k, der: der}
}

const keyARN = "arn:aws:kms:eu-west-1:123456789012:key/0f0e0d0c-0000-4000-8000-000000000001"

func (k *signingKMS) Sign(_ context.Context, in *kms.SignInput, _ ...func(*kms.Options)) (*kms.SignOutput, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.signs++
	if in.MessageType != kmstypes.MessageTypeDigest || in.SigningAlgorithm != kmstypes.SigningAlgorithmSpecEcdsaSha256 || len(in.Message) != 32 {
		return nil, errors.New("want a SHA-256 digest, MessageType DIGEST, ECDSA_SHA_256")
	}
	key := k.key
	if k.signWith != nil {
		key = k.signWith
	}
	sig, err := ecdsa.SignASN1(rand.Reader, key, in.Message)
	return &kms.SignOutput{Signature: sig, KeyId: aws.String(keyARN)}, err
}

func (k *signingKMS) GetPublicKey(context.Context, *kms.GetPublicKeyInput, ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pubs++
	return &kms.GetPublicKeyOutput{PublicKey: k.der, KeyId: aws.String(keyARN), KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify}, nil
}

// failingCommitter fails its next commit when fail is set: a run that dies after storing the
// window.
type failingCommitter struct {
	auditexport.Committer
	fail bool
}

func (f *failingCommitter) Commit(ctx context.Context, chain string, d events.Detail, sc []types.TransactWriteItem) (outbox.Record, error) {
	if f.fail {
		f.fail = false
		return outbox.Record{}, errors.New("the invocation timed out")
	}
	return f.Committer.Commit(ctx, chain, d, sc)
}

type world struct {
	db     *dynamodbtest.DynamoDB
	store  *outbox.Store
	bucket *bucket
	kms    *signingKMS
	commit *failingCommitter
	now    time.Time
	exp    *auditexport.Exporter
}

const window = time.Minute

// epoch is a window start; records are committed relative to it.
var epoch = time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)

func newWorld(t *testing.T) *world {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	decl, ok := topology.Lanyard().Table("outbox")
	if !ok {
		t.Fatal("no outbox table")
	}
	sk := dynamodbtest.KeyAttr{Name: decl.SortKey.Name, Type: types.ScalarAttributeType(decl.SortKey.Type)}
	db.CreateTable("outbox", dynamodbtest.KeyAttr{Name: decl.PartitionKey.Name, Type: types.ScalarAttributeType(decl.PartitionKey.Type)}, &sk)
	for _, ix := range decl.Indexes {
		var isk *dynamodbtest.KeyAttr
		if ix.SortKey != nil {
			isk = &dynamodbtest.KeyAttr{Name: ix.SortKey.Name, Type: types.ScalarAttributeType(ix.SortKey.Type)}
		}
		db.CreateIndex("outbox", ix.Name, dynamodbtest.KeyAttr{Name: ix.PartitionKey.Name, Type: types.ScalarAttributeType(ix.PartitionKey.Type)}, isk)
	}
	db.CreateTable("audit-exports", dynamodbtest.KeyAttr{Name: auditexports.PartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	w := &world{db: db, store: &outbox.Store{DB: db, Table: "outbox"}, bucket: newBucket(), kms: newKMS(t), now: epoch}
	w.commit = &failingCommitter{Committer: w.store}
	w.coldStart()
	return w
}

// coldStart builds the exporter anew, as a cold start of the function does, with the world's
// KMS key.
func (w *world) coldStart() {
	w.exp = &auditexport.Exporter{
		Outbox: &outbox.Exports{DB: w.db, Table: "outbox"}, Commit: w.commit,
		State: &auditexports.Store{DB: w.db, Table: "audit-exports"}, StateTable: "audit-exports",
		S3: w.bucket, KMS: w.kms, Bucket: "lanyard-audit", KeyID: keyARN, Deployment: "test",
		Window: window, Delay: 10 * time.Second, ObjectRecords: 3,
		Now: func() time.Time { return w.now },
	}
}

func (w *world) commitAt(t *testing.T, partner string, at time.Time) outbox.Record {
	t.Helper()
	d := &events.CredentialIssued{Meta: events.NewMeta(partner, events.Actor{Kind: events.ActorSystem, ID: "test"}, at), KeyID: "k-" + partner, SecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + partner,
		Scopes: []string{"orders:read"}, NotBefore: at, ExpiresAt: at.Add(90 * 24 * time.Hour)}
	r, err := w.store.Commit(t.Context(), partner, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (w *world) run(t *testing.T) auditexport.Report {
	t.Helper()
	rep, err := w.exp.Run(t.Context())
	if err != nil {
		t.Fatalf("run at %s: %v", w.now, err)
	}
	return rep
}

// window reads a window's manifest, checks its signature, and returns it with its records.
func (w *world) window(t *testing.T, start time.Time) (audittrail.Manifest, []outbox.Record) {
	t.Helper()
	o, ok := w.bucket.objects[audittrail.ManifestKey(start)]
	if !ok {
		t.Fatalf("no manifest for the window %s", audittrail.Stamp(start))
	}
	sig, err := base64.StdEncoding.DecodeString(o.metadata[audittrail.SignatureMetadata])
	digest := audittrail.SigningDigest(o.body)
	if err != nil || !ecdsa.VerifyASN1(&w.kms.key.PublicKey, digest[:], sig) {
		t.Errorf("the manifest of %s does not verify", audittrail.Stamp(start))
	}
	if o.metadata[audittrail.FingerprintMetadata] != audittrail.Fingerprint(w.kms.der) || o.metadata[audittrail.SigningKeyMetadata] != keyARN || o.metadata[audittrail.SigningAlgorithmMetadata] != audittrail.SigningAlgorithm {
		t.Errorf("manifest metadata %v", o.metadata)
	}
	m, err := audittrail.ParseManifest(o.body)
	if err != nil {
		t.Fatal(err)
	}
	var recs []outbox.Record
	for _, obj := range m.Objects {
		gz, err := gzip.NewReader(bytes.NewReader(w.bucket.objects[obj.Key].body))
		if err != nil {
			t.Fatalf("object %s: %v", obj.Key, err)
		}
		sc := bufio.NewScanner(gz)
		for sc.Scan() {
			r, err := audittrail.ParseLine(bytes.Clone(sc.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
	}
	return m, recs
}

// exported counts the Audit Exported records on the ops chain, by window start.
func (w *world) exported(t *testing.T) map[time.Time]int {
	t.Helper()
	recs, err := w.store.Records(t.Context(), outbox.OpsChain)
	if err != nil {
		t.Fatal(err)
	}
	n := map[time.Time]int{}
	for _, r := range recs {
		if r.DetailType != events.TypeAuditExported {
			continue
		}
		var ae events.AuditExported
		if err := json.Unmarshal(r.Detail, &ae); err != nil {
			t.Fatal(err)
		}
		n[ae.WindowStart]++
	}
	return n
}

func hashes(recs []outbox.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Chain + "/" + r.Hash
	}
	return out
}

func TestARunTwiceExportsAWindowOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var want []outbox.Record
	for i := range 4 {
		want = append(want, w.commitAt(t, "p-a", epoch.Add(time.Duration(i)*time.Second)))
	}
	want = append(want, w.commitAt(t, "p-b", epoch.Add(5*time.Second)))
	// The window holding the records is not due yet (it ends at epoch+1m, the delay is 10s):
	// the deployment's first run exports the window before, the last one due, empty.
	w.now = epoch.Add(window + 5*time.Second)
	if rep := w.run(t); rep.Windows != 1 || rep.Records != 0 || !rep.Next.Equal(epoch) {
		t.Fatalf("first run %+v, want the empty window before", rep)
	}
	first, _ := w.window(t, epoch.Add(-window))
	if first.Previous != nil || first.Anchor == nil || first.Anchor.Fingerprint != audittrail.Fingerprint(w.kms.der) {
		t.Errorf("the first manifest: previous %+v, anchor %+v", first.Previous, first.Anchor)
	}
	w.now = epoch.Add(window + 10*time.Second)
	if rep := w.run(t); rep.Windows != 1 || rep.Records != 5 {
		t.Fatalf("report %+v, want one window of 5 records", rep)
	}
	if rep := w.run(t); rep.Windows != 0 {
		t.Fatalf("a second run exported again: %+v", rep)
	}
	m, got := w.window(t, epoch)
	if strings.Join(hashes(got), " ") != strings.Join(hashes(want), " ") {
		t.Errorf("window records %v, want %v", hashes(got), hashes(want))
	}
	if m.Previous == nil || m.Previous.Key != audittrail.ManifestKey(epoch.Add(-window)) || m.Anchor != nil {
		t.Errorf("the second manifest: previous %+v, anchor %+v", m.Previous, m.Anchor)
	}
	// 4 records of p-a in objects of 3: two ranges of p-a, then p-b (the ops chain's record
	// of the first window is after this window's end).
	var pa, pb int
	for _, c := range m.Chains {
		switch c.Chain {
		case "p-a":
			pa++
		case "p-b":
			pb++
		}
	}
	if len(m.Objects) != 2 || pa != 2 || pb != 1 {
		t.Errorf("objects %+v chains %+v", m.Objects, m.Chains)
	}
	if n := w.exported(t); len(n) != 2 || n[epoch] != 1 || n[epoch.Add(-window)] != 1 {
		t.Errorf("Audit Exported per window %v, want one each for two windows", n)
	}
	if w.kms.pubs != 1 || w.kms.signs != 2 {
		t.Errorf("KMS GetPublicKey %d and Sign %d times, want once and once a window", w.kms.pubs, w.kms.signs)
	}
	// The exported chains left the export-pending index; the ops chain holds what the next
	// window exports.
	pending, err := (&outbox.Exports{DB: w.db, Table: "outbox"}).PendingExports(t.Context())
	if err != nil || strings.Join(pending, ",") != outbox.OpsChain {
		t.Errorf("pending after the export %v (%v), want the ops chain alone", pending, err)
	}
}

func TestACrashAfterTheManifestIsStoredIsAdopted(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.commitAt(t, "p-a", epoch.Add(time.Second))
	w.now = epoch.Add(window + 10*time.Second)
	w.commit.fail = true
	if _, err := w.exp.Run(t.Context()); err == nil {
		t.Fatal("a run whose record failed succeeded")
	}
	if len(w.bucket.manifests()) != 1 {
		t.Fatalf("manifests %v, want the window's", w.bucket.manifests())
	}
	rep := w.run(t)
	if rep.Windows != 1 || rep.Adopted != 1 {
		t.Fatalf("report %+v, want the stored window adopted", rep)
	}
	if n := w.bucket.puts[audittrail.ManifestKey(epoch)]; n != 1 {
		t.Errorf("the manifest was put %d times, want once", n)
	}
	if n := w.exported(t); n[epoch] != 1 {
		t.Errorf("Audit Exported per window %v, want one", n)
	}
	c, err := (&outbox.Exports{DB: w.db, Table: "outbox"}).ExportCursors(t.Context(), []string{"p-a"})
	if err != nil || c["p-a"].Seq != 1 {
		t.Errorf("cursor %+v (%v), want seq 1", c, err)
	}
}

func TestALateRecordGoesInTheNextWindow(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first := w.commitAt(t, "p-a", epoch.Add(time.Second))
	w.now = epoch.Add(window + 10*time.Second)
	w.run(t)
	// Committed after its window was exported.
	late := w.commitAt(t, "p-a", epoch.Add(30*time.Second))
	w.now = epoch.Add(2*window + 10*time.Second)
	if rep := w.run(t); rep.Windows != 1 {
		t.Fatalf("report %+v", rep)
	}
	w.window(t, epoch)
	m2, got := w.window(t, epoch.Add(window))
	var found bool
	for _, r := range got {
		if r.Hash == late.Hash {
			found = true
		}
	}
	if !found {
		t.Fatalf("the late record is not in the next window: %v", hashes(got))
	}
	for _, cr := range m2.Chains {
		if cr.Chain == "p-a" && (cr.FirstSeq != 2 || cr.FirstPrevHash != first.Hash) {
			t.Errorf("the chain's range in the next window %+v does not continue the first", cr)
		}
	}
	if m2.Previous == nil || m2.Previous.Key != audittrail.ManifestKey(epoch) || m2.Anchor != nil {
		t.Errorf("the second manifest's link %+v", m2.Previous)
	}
}

func TestAnOutageIsCaughtUpInOrderWithEmptyWindows(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.now = epoch.Add(window + 10*time.Second)
	w.run(t) // the first window: no record
	m, recs := w.window(t, epoch)
	if len(recs) != 0 || m.Objects == nil || len(m.Objects) != 0 {
		t.Errorf("an empty window: %+v", m)
	}
	w.now = epoch.Add(5*window + 10*time.Second)
	rep := w.run(t)
	if rep.Windows != 4 || !rep.Next.Equal(epoch.Add(5*window)) {
		t.Fatalf("report %+v, want 4 windows", rep)
	}
	prev := audittrail.ManifestKey(epoch)
	for i := 1; i <= 4; i++ {
		m, _ := w.window(t, epoch.Add(time.Duration(i)*window))
		if m.Previous == nil || m.Previous.Key != prev {
			t.Errorf("window %d links %+v, want %s", i, m.Previous, prev)
		}
		prev = audittrail.ManifestKey(m.WindowStart)
	}
	if n := w.exported(t); len(n) != 5 {
		t.Errorf("Audit Exported per window %v, want 5 windows once each", n)
	}
}

// A stray object at the next window's manifest key halts the exporter: the run stops before
// recording anything, and its error line names the key and the window.
func TestAStoredManifestThatDoesNotContinueTheTrailStopsTheRun(t *testing.T) {
	other := newKMS(t)
	for _, tc := range []struct {
		name  string
		stray func(w *world) object
	}{
		{"garbage", func(*world) object {
			return object{body: []byte("{}"), metadata: map[string]string{audittrail.SignatureMetadata: "AAAA"}}
		}},
		{"no signature", func(*world) object { return object{body: []byte("not json")} }},
		{"signed by another key", func(*world) object {
			body := []byte(`{"windowStart":"2026-12-06T15:00:00Z"}`)
			digest := audittrail.SigningDigest(body)
			sig, err := ecdsa.SignASN1(rand.Reader, other.key, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			return object{body: body, metadata: map[string]string{audittrail.SignatureMetadata: base64.StdEncoding.EncodeToString(sig)}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.commitAt(t, "p-a", epoch.Add(time.Second))
			key := audittrail.ManifestKey(epoch)
			w.bucket.objects[key] = tc.stray(w)
			w.now = epoch.Add(window + 10*time.Second)
			logs := captureLogs(t)
			err := w.exp.Handle(t.Context(), lambdaevents.EventBridgeEvent{Time: w.now})
			if err == nil || !strings.Contains(err.Error(), "does not continue the trail") {
				t.Fatalf("run: %v, want the stored manifest refused", err)
			}
			line := logs.String()
			for _, want := range []string{`"level":"ERROR"`, "s3://lanyard-audit/" + key, "audit window " + audittrail.Stamp(epoch)} {
				if !strings.Contains(line, want) {
					t.Errorf("the run's log %s does not hold %s", line, want)
				}
			}
			if n := w.exported(t); len(n) != 0 {
				t.Errorf("a window was recorded: %v", n)
			}
		})
	}
}

// captureLogs sends the default logger's lines to a buffer until the test ends; a test that
// uses it does not run in parallel.
func captureLogs(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &buf
}

// A signature KMS returns that does not verify with the signing key is never stored: the
// manifest would sit under Object Lock at the window's key and halt every later run.
func TestASignatureThatDoesNotVerifyIsNotStored(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.commitAt(t, "p-a", epoch.Add(time.Second))
	bad, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w.kms.signWith = bad
	w.now = epoch.Add(window + 10*time.Second)
	if _, err := w.exp.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("run: %v, want the signature refused", err)
	}
	if m := w.bucket.manifests(); len(m) != 0 {
		t.Fatalf("manifests stored: %v", m)
	}
	// Once KMS signs right again, the window is exported.
	w.kms.signWith = nil
	if rep := w.run(t); rep.Windows != 1 || rep.Records != 1 {
		t.Fatalf("report %+v, want the window of 1 record", rep)
	}
	w.window(t, epoch)
}

// A signing key other than the trail's (its ARN changed) stops the run before it signs
// anything: every manifest it signed would fail verify against the trail's anchor.
func TestASigningKeyOtherThanTheTrailsStopsTheRun(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.now = epoch.Add(window + 10*time.Second)
	w.run(t) // the first window, anchored on the first key
	w.commitAt(t, "p-a", epoch.Add(window+time.Second))
	w.kms = newKMS(t)
	w.coldStart()
	w.now = epoch.Add(2*window + 10*time.Second)
	_, err := w.exp.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "is not the trail's") || !strings.Contains(err.Error(), audittrail.Fingerprint(w.kms.der)) {
		t.Fatalf("run with another key: %v, want it refused naming the key", err)
	}
	if m := w.bucket.manifests(); len(m) != 1 || w.kms.signs != 0 {
		t.Errorf("manifests %v, %d signatures with the new key; want the first alone and none", m, w.kms.signs)
	}
}

// A bucket that holds a trail while the state is missing is not forked by a second anchor;
// the state put back from the newest manifest, as the package documentation says, continues
// the trail.
func TestAMissingStateOverAnExistingTrailStopsTheRun(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.now = epoch.Add(window + 10*time.Second)
	w.run(t)
	w.commitAt(t, "p-a", epoch.Add(window+time.Second))
	w.now = epoch.Add(2*window + 10*time.Second)
	w.run(t)
	if _, err := w.db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Delete: &types.Delete{
		TableName: aws.String("audit-exports"),
		Key:       map[string]types.AttributeValue{auditexports.PartitionKey: &types.AttributeValueMemberS{Value: auditexports.TrailID}},
	}}}}); err != nil {
		t.Fatal(err)
	}
	w.coldStart()
	w.now = epoch.Add(3*window + 10*time.Second)
	_, err := w.exp.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "already holds a trail") || !strings.Contains(err.Error(), audittrail.ManifestKey(epoch)) {
		t.Fatalf("run without state: %v, want it refused naming the trail's first manifest", err)
	}
	if m := w.bucket.manifests(); len(m) != 2 {
		t.Fatalf("manifests %v, want the trail's two", m)
	}
	newest, _ := w.window(t, epoch.Add(window))
	restored := auditexports.State{
		Found: true, WindowEnd: newest.WindowStart, ManifestKey: newest.Previous.Key, ManifestSHA256: newest.Previous.SHA256,
		Signature: newest.Previous.Signature, Fingerprint: newest.SigningKey.Fingerprint,
	}
	if _, err := w.db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{auditexports.Put("audit-exports", auditexports.State{}, restored)},
	}); err != nil {
		t.Fatal(err)
	}
	rep := w.run(t)
	if rep.Windows != 2 || rep.Adopted != 1 || !rep.Next.Equal(epoch.Add(3*window)) {
		t.Fatalf("report %+v, want the newest window adopted and the next exported", rep)
	}
	if m, _ := w.window(t, epoch.Add(2*window)); m.Previous == nil || m.Previous.Key != audittrail.ManifestKey(epoch.Add(window)) {
		t.Errorf("the next manifest links %+v, want the newest before", m.Previous)
	}
}

func TestWindowStartIsAlignedToTheEpoch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		t    time.Time
		w    time.Duration
		want time.Time
	}{
		{epoch.Add(59 * time.Second), time.Minute, epoch},
		{time.Unix(7*60+3, 0), 7 * time.Minute, time.Unix(7*60, 0)},
		{time.Unix(-1, 0), time.Hour, time.Unix(-3600, 0)},
	} {
		if got := auditexport.WindowStart(tc.t, tc.w); !got.Equal(tc.want) {
			t.Errorf("WindowStart(%s, %s) = %s, want %s", tc.t, tc.w, got, tc.want)
		}
	}
}

// The package documentation's count of AWS calls: one GetItem when nothing is due; a window
// with C chains and O objects, 21 + 2C + ⌈C/100⌉ + O, after the run's GetItem of the state.
func TestAWSCallsPerWindow(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	calls := func() int {
		n := 0
		for _, op := range []string{"GetItem", "Query", "BatchGetItem", "UpdateItem", "TransactWriteItems", "PutItem"} {
			n += w.db.Calls(op)
		}
		puts := 0
		for _, p := range w.bucket.puts {
			puts += p
		}
		return n + puts + w.bucket.lists + w.kms.signs + w.kms.pubs
	}
	gets := 0
	getObject := w.exp.S3
	w.exp.S3 = countingGets{S3API: getObject, n: &gets}
	perWindow := func(c, o int) int { return 21 + 2*c + (c+99)/100 + o }

	// The first run: the bucket's manifests listed, the empty window before (C 0, O 0), and
	// GetPublicKey once.
	w.now = epoch.Add(15 * time.Second)
	before := calls()
	w.run(t)
	if got, want := calls()+gets-before, 1+1+1+perWindow(0, 0); got != want {
		t.Errorf("an empty first window: %d calls, want %d", got, want)
	}
	// Nothing due: one GetItem.
	before, gets = calls(), 0
	w.run(t)
	if got := calls() + gets - before; got != 1 {
		t.Errorf("a run with nothing due: %d calls, want 1", got)
	}
	// The ops chain's record of the window before, p-a's 4 and p-b's 1: C 3; 6 records in
	// objects of 3: O 2.
	for i := range 4 {
		w.commitAt(t, "p-a", epoch.Add(time.Duration(i)*time.Second))
	}
	w.commitAt(t, "p-b", epoch.Add(5*time.Second))
	w.now = epoch.Add(window + 10*time.Second)
	before, gets = calls(), 0
	if rep := w.run(t); rep.Records != 6 {
		t.Fatalf("report %+v, want 6 records", rep)
	}
	if got, want := calls()+gets-before, 1+perWindow(3, 2); got != want {
		t.Errorf("a window of 3 chains and 2 objects: %d calls, want %d", got, want)
	}
}

type countingGets struct {
	auditexport.S3API
	n *int
}

func (c countingGets) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	*c.n++
	return c.S3API.GetObject(ctx, in, opts...)
}
