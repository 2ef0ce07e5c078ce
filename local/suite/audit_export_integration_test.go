//go:build integration

package suite_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
	"github.com/lanyardhq/lanyard/shared/stores/audittrail"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/topology"
)

// exportedWindow is one window of the trail as the bucket holds it.
type exportedWindow struct {
	key      string
	manifest audittrail.Manifest
	versions int
	records  []outbox.Record
}

// readTrail reads every manifest of the bucket through audittrail.S3Trail, checks each one's
// signature with pub itself (not with audittrail.Verify), and reads the records of its objects;
// one ListObjectVersions counts each manifest's versions.
func readTrail(ctx context.Context, t *testing.T, client *s3.Client, bucket string, pub *ecdsa.PublicKey, fingerprint string) ([]exportedWindow, error) {
	t.Helper()
	tr := &audittrail.S3Trail{S3: client, Bucket: bucket}
	keys, err := tr.ListManifests(ctx, "")
	if err != nil {
		return nil, err
	}
	versions, err := tr.ListVersions(ctx, audittrail.ManifestPrefix)
	if err != nil {
		return nil, err
	}
	count := map[string]int{}
	for _, v := range versions {
		if !v.DeleteMarker {
			count[v.Key]++
		}
	}
	var out []exportedWindow
	for _, key := range keys {
		body, metadata, _, err := tr.GetManifest(ctx, key)
		if err != nil {
			return nil, err
		}
		sig, err := base64.StdEncoding.DecodeString(metadata[audittrail.SignatureMetadata])
		digest := audittrail.SigningDigest(body)
		if err != nil || !ecdsa.VerifyASN1(pub, digest[:], sig) {
			t.Errorf("manifest %s: its signature does not verify with the key's public key from KMS", key)
		}
		if metadata[audittrail.FingerprintMetadata] != fingerprint || metadata[audittrail.SigningAlgorithmMetadata] != audittrail.SigningAlgorithm {
			t.Errorf("manifest %s: metadata %v", key, metadata)
		}
		m, err := audittrail.ParseManifest(body)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", key, err)
		}
		if m.SigningKey.Fingerprint != fingerprint {
			t.Errorf("manifest %s signed with %s, want %s", key, m.SigningKey.Fingerprint, fingerprint)
		}
		w := exportedWindow{key: key, manifest: m, versions: count[key]}
		for _, obj := range m.Objects {
			rc, _, err := tr.GetObject(ctx, obj.Key)
			if err != nil {
				return nil, err
			}
			gz, err := gzip.NewReader(rc)
			if err != nil {
				_ = rc.Close()
				return nil, fmt.Errorf("object %s: %w", obj.Key, err)
			}
			sc := bufio.NewScanner(gz)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				r, err := audittrail.ParseLine(bytes.Clone(sc.Bytes()))
				if err != nil {
					_ = rc.Close()
					return nil, fmt.Errorf("object %s: %w", obj.Key, err)
				}
				w.records = append(w.records, r)
			}
			err = sc.Err()
			_ = rc.Close()
			if err != nil {
				return nil, fmt.Errorf("object %s: %w", obj.Key, err)
			}
		}
		out = append(out, w)
	}
	return out, nil
}

// A partner's life through `lanyard local` — invited, onboarded, a token exchange, its key
// revoked and the revocation enforced — is exported by the audit exporter, reached through its
// schedule (LocalStack's clock; nobody invokes it): the windows' objects in LocalStack's S3
// hold exactly the partner's outbox records, each once, as the outbox holds them; every
// manifest's signature verifies with the signing key's public key from KMS GetPublicKey; each
// window is recorded by one Audit Exported event on the ops chain, and stays so after later
// runs, its manifest written once. Its own deployment: the export window is 10 s.
func TestPartnerLifeIsExportedToTheAuditBucket(t *testing.T) {
	canary := secrettest.Plant(t)
	tp := topology.Lanyard()
	for i := range tp.Functions {
		if f := &tp.Functions[i]; f.Name == "audit-exporter" {
			f.Env = maps.Clone(f.Env)
			f.Env[lambdastart.AuditExportWindowVar] = topology.Literal("10s")
			f.Env[lambdastart.AuditExportDelayVar] = topology.Literal("2s")
		}
	}
	s, prefix := start(t, tp, canary.Logger())
	t.Parallel() // a deployment of its own, waiting on the clock
	logsOnFailure(t, s)
	ctx := t.Context()
	bucket := s.Provisioned.AuditBucket
	if bucket != topology.AuditBucketLocalName(prefix) || s.Provisioned.AuditSigningKeyARN == "" {
		t.Fatalf("audit bucket %q and signing key %q provisioned", bucket, s.Provisioned.AuditSigningKeyARN)
	}

	api := partnerAPI{t: t, s: s, canary: canary}
	ob := api.onboardNew("Exported Freight "+harness.Name("t"), "standard", "orders:read")
	if tok := send(t, s, http.MethodPost, "/v1/token", "Bearer "+ob.APIKey, ""); tok.status != http.StatusOK {
		t.Fatalf("POST /v1/token: %d", tok.status)
	}
	if r := revokeWith(t, s, ob.APIKey, "application/x-www-form-urlencoded", revokeForm(ob.APIKey)); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, api.redacted(r.body))
	}
	waitCompleted(t, s, ob.PartnerID, lastRevocationID(t, s, ob.PartnerID), enforcementWait(t)+120*time.Second) // its own deployment, beside the suite: margin on a loaded machine

	store := &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}
	chains, err := store.Chains(ctx, ob.PartnerID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]outbox.Record{} // by chain/seq
	for _, c := range chains {
		recs, err := store.Records(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			want[fmt.Sprintf("%s/%d", r.Chain, r.Seq)] = r
		}
	}
	if len(chains) < 2 || len(want) < 5 {
		t.Fatalf("the partner's chains %v hold %d records", chains, len(want))
	}

	pk, err := env.KMS.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(s.Provisioned.AuditSigningKeyARN)})
	if err != nil {
		t.Fatalf("GetPublicKey: %v", err)
	}
	parsed, err := x509.ParsePKIXPublicKey(pk.PublicKey)
	pub, ok := parsed.(*ecdsa.PublicKey)
	if err != nil || !ok {
		t.Fatalf("the signing key's public key: %v", err)
	}
	fingerprint := audittrail.Fingerprint(pk.PublicKey)
	client := s3.NewFromConfig(env.Config, func(o *s3.Options) { o.UsePathStyle = true })

	// The partner's records, exported: every one, each once.
	var trail []exportedWindow
	harness.Eventually(t, 4*time.Minute, func() (bool, string) {
		trail, err = readTrail(ctx, t, client, bucket, pub, fingerprint)
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, w := range trail {
			for _, r := range w.records {
				if _, ok := want[fmt.Sprintf("%s/%d", r.Chain, r.Seq)]; ok {
					n++
				}
			}
		}
		return n >= len(want), fmt.Sprintf("%d of the partner's %d records exported in %d windows", n, len(want), len(trail))
	})
	got := map[string]int{}
	for _, w := range trail {
		for _, r := range w.records {
			if outbox.ChainOwner(r.Chain) != ob.PartnerID {
				continue
			}
			k := fmt.Sprintf("%s/%d", r.Chain, r.Seq)
			got[k]++
			o, ok := want[k]
			if !ok || o.Hash != r.Hash || o.PrevHash != r.PrevHash || o.EventID != r.EventID || string(o.Detail) != string(r.Detail) || !o.Time.Equal(r.Time) {
				t.Errorf("exported %s in %s is not the outbox's record", k, w.key)
			}
			if r.ComputeHash() != r.Hash {
				t.Errorf("exported %s: its hash does not recompute", k)
			}
		}
	}
	for k := range want {
		if got[k] != 1 {
			t.Errorf("record %s exported %d times, want once", k, got[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d of the partner's records exported, the outbox holds %d", len(got), len(want))
	}
	if first := trail[0].manifest; first.Anchor == nil || first.Anchor.Fingerprint != fingerprint || first.Previous != nil {
		t.Errorf("the first manifest anchors %+v, links %+v", first.Anchor, first.Previous)
	}

	// One Audit Exported per window, and still one after the runs that follow.
	exported := func() map[string]int {
		recs, err := store.Records(ctx, outbox.OpsChain)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, r := range recs {
			if r.DetailType != events.TypeAuditExported {
				continue
			}
			var d events.AuditExported
			if err := json.Unmarshal(r.Detail, &d); err != nil {
				t.Fatal(err)
			}
			if d.Bucket != bucket {
				t.Errorf("Audit Exported of %s names bucket %s", d.ManifestKey, d.Bucket)
			}
			n[d.ManifestKey]++
		}
		return n
	}
	before := exported()
	harness.Eventually(t, 3*time.Minute, func() (bool, string) {
		n := exported()
		return len(n) > len(before), fmt.Sprintf("no run since: %d windows recorded", len(n))
	})
	after := exported()
	trail, err = readTrail(ctx, t, client, bucket, pub, fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range trail {
		if n := after[w.key]; n != 1 && (n != 0 || w.key != trail[len(trail)-1].key) {
			t.Errorf("window %s recorded by %d Audit Exported events, want 1", w.key, n)
		}
		if w.versions != 1 {
			t.Errorf("manifest %s has %d versions, want 1", w.key, w.versions)
		}
	}
	for key, n := range after {
		if n != 1 {
			t.Errorf("window %s recorded %d times", key, n)
		}
		if !slices.ContainsFunc(trail, func(w exportedWindow) bool { return w.key == key }) {
			t.Errorf("Audit Exported names %s, which the bucket does not hold", key)
		}
	}
	// No key, token or credential in the exported trail, nor in any function's log.
	var all strings.Builder
	for _, w := range trail {
		for _, r := range w.records {
			all.Write(audittrail.AppendLine(nil, r))
		}
	}
	canary.CheckText("the exported trail", all.String())

	// The auditor's tools, the built CLI: the trail verifies, pinned to the signing key's
	// public key as KMS gives it, and the partner's history matches the outbox record by
	// record, each in the window that exported it.
	run := lanyardCLIRun(t)
	keyFile := filepath.Join(t.TempDir(), "audit-signing-key.b64")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(pk.PublicKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v := run("audit", "verify", "--prefix", prefix, "--public-key", keyFile); v.code != 0 || !strings.Contains(v.stdout, "verified: ") || !strings.Contains(v.stdout, fingerprint+" (pinned") {
		t.Fatalf("lanyard audit verify: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	h := run("audit", "history", "--partner", ob.PartnerID, "--prefix", prefix, "--public-key", keyFile, "-o", "json")
	var history struct {
		OK     bool `json:"ok"`
		Chains []struct {
			Chain   string `json:"chain"`
			Records []struct {
				Seq     int64  `json:"seq"`
				Hash    string `json:"hash"`
				Window  string `json:"window"`
				Problem string `json:"problem"`
			} `json:"records"`
		} `json:"chains"`
	}
	if err := json.Unmarshal([]byte(h.stdout), &history); err != nil || h.code != 0 || !history.OK {
		t.Fatalf("lanyard audit history: exit %d, %v\n%s%s", h.code, err, h.stdout, h.stderr)
	}
	shown := 0
	for _, c := range history.Chains {
		for _, r := range c.Records {
			k := fmt.Sprintf("%s/%d", c.Chain, r.Seq)
			if o, ok := want[k]; !ok || o.Hash != r.Hash || r.Window == "" || r.Problem != "" {
				t.Errorf("lanyard audit history shows %s (hash %s, window %q, problem %q), the outbox holds %v", k, r.Hash, r.Window, r.Problem, ok)
			}
			shown++
		}
	}
	if shown != len(want) {
		t.Errorf("lanyard audit history shows %d records, the outbox holds %d", shown, len(want))
	}

	// Tampering, as an administrator of the bucket could: a new version of one object of the
	// partner's, its last line dropped, fails that window and names the object; a window's
	// manifest deleted (a delete marker) is caught too.
	var tampered exportedWindow
	for _, w := range trail {
		if slices.ContainsFunc(w.records, func(r outbox.Record) bool { return outbox.ChainOwner(r.Chain) == ob.PartnerID }) && len(w.manifest.Objects) > 0 {
			tampered = w
			break
		}
	}
	obj := tampered.manifest.Objects[0].Key
	g, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(obj)})
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(g.Body)
	if err != nil {
		t.Fatal(err)
	}
	content, err := io.ReadAll(zr)
	_ = g.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(content, []byte("\n"))
	var shorter bytes.Buffer
	zw := gzip.NewWriter(&shorter)
	_, _ = zw.Write(bytes.Join(lines[:len(lines)-2], nil)) // the last line and the empty tail
	_ = zw.Close()
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(obj), Body: bytes.NewReader(shorter.Bytes())}); err != nil {
		t.Fatalf("put a new version of %s: %v", obj, err)
	}
	stamp := audittrail.Stamp(tampered.manifest.WindowStart)
	v := run("audit", "verify", "--prefix", prefix, "--public-key", keyFile)
	if v.code != 1 || !strings.Contains(v.stderr, obj) || !slices.ContainsFunc(strings.Split(v.stdout, "\n"), func(l string) bool {
		return strings.Contains(l, "FAILED") && strings.Contains(l, obj) && strings.Contains(l, stamp)
	}) {
		t.Fatalf("lanyard audit verify after a new version of %s: exit %d, want 1 naming the object on window %s's line\n%s%s", obj, v.code, stamp, v.stdout, v.stderr)
	}
	if h := run("audit", "history", "--partner", ob.PartnerID, "--prefix", prefix); h.code != 1 || !strings.Contains(h.stderr, obj) {
		t.Errorf("lanyard audit history after a new version of %s: exit %d, want 1 naming it\n%s%s", obj, h.code, h.stdout, h.stderr)
	}

	if len(trail) < 2 {
		t.Fatalf("%d windows exported: no manifest to delete before the last", len(trail))
	}
	gone := trail[len(trail)-2].key
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(gone)}); err != nil {
		t.Fatalf("delete %s: %v", gone, err)
	}
	if v := run("audit", "verify", "--prefix", prefix, "--from", trail[len(trail)-1].manifest.WindowStart.Format(time.RFC3339)); v.code != 1 || !strings.Contains(v.stdout+v.stderr, gone) {
		t.Fatalf("lanyard audit verify after %s was deleted: exit %d, want 1 naming it\n%s%s", gone, v.code, v.stdout, v.stderr)
	}
	checkCanaries(t, s, canary)
}
