package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/stores/audittrail"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

var trailStart = time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)

// exportedTrail writes three one-minute windows of two chains (the second window empty), signed
// with a new key; it returns the trail, the key's PEM and the first window's first object.
func exportedTrail(t *testing.T) (*audittrail.MemTrail, []byte, string) {
	t.Helper()
	ctx := context.Background()
	key, signer, err := audittrail.NewMemoryKey("arn:aws:kms:us-east-1:000000000000:key/k")
	if err != nil {
		t.Fatal(err)
	}
	tr := audittrail.NewMemTrail()
	heads := map[string]outbox.Head{}
	var prev *audittrail.Link
	var firstObject string
	for w := range 3 {
		start := trailStart.Add(time.Duration(w) * time.Minute)
		win := audittrail.NewWindow(start, start.Add(time.Minute), "lanyard-test", 2, tr.PutObject)
		for _, chain := range []string{"p-a", "ops"} {
			n := 3 // records a chain
			if w == 1 {
				n = 0 // an empty window
			}
			for range n {
				h := heads[chain]
				if h.Hash == "" {
					h.Hash = outbox.GenesisHash
				}
				r := outbox.Record{Chain: chain, Seq: h.Seq + 1, EventID: fmt.Sprintf("e-%s-%d", chain, h.Seq+1), DetailType: "Credential Issued",
					Time: start.Add(time.Second), PrevHash: h.Hash, Detail: []byte(`{"n":1}`)}
				r.Hash = r.ComputeHash()
				heads[chain] = outbox.Head{Chain: chain, Seq: r.Seq, Hash: r.Hash}
				if err := win.Add(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
		}
		s, err := win.Seal(ctx, prev, key, signer, start.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		tr.PutSealed(s)
		if firstObject == "" && len(s.Manifest.Objects) > 0 {
			firstObject = s.Manifest.Objects[0].Key
		}
		prev = new(s.Link())
	}
	return tr, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: key.PublicKey}), firstObject
}

func runAuditVerifyCmd(tr audittrail.Trail, now time.Time, args ...string) (code int, stdout, stderr string, target trailTarget) {
	code, stdout, stderr = runAuditSub(func(out *output) *cobra.Command {
		return newAuditVerifyCmd(out, func(_ context.Context, t trailTarget) (audittrail.Trail, error) {
			target = t
			return tr, nil
		}, func() time.Time { return now })
	}, append([]string{"audit", "verify"}, args...)...)
	return code, stdout, stderr, target
}

func TestAuditVerify(t *testing.T) {
	dir := t.TempDir()
	_, otherPEM, _ := exportedTrail(t)
	otherFile := filepath.Join(dir, "other.pem")
	if err := os.WriteFile(otherFile, otherPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	now := trailStart.Add(3*time.Minute + 30*time.Second)
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, tr *audittrail.MemTrail, object string)
		args   func(keyFile string) []string
		now    time.Time
		code   int
		stdout []string // each in stdout
		stderr []string // each in stderr
		lines  int      // stdout's lines, when not 0
	}{
		{name: "an untouched trail, its anchor not pinned", args: func(string) []string { return []string{"--prefix", "lanyard"} },
			code: 0, lines: 4, stdout: []string{"2026-12-06T15:00:00Z  ok      manifests/20261206T150000Z.json  3 objects, 6 records", "2026-12-06T15:01:00Z  ok", "verified: 3 windows", "not pinned"}},
		{name: "pinned", args: func(k string) []string { return []string{"--bucket", "b", "--public-key", k} },
			code: 0, stdout: []string{"verified: 3 windows", "(pinned: --public-key)"}},
		{name: "pinned to another key", args: func(string) []string { return []string{"--bucket", "b", "--public-key", otherFile} },
			code: 1, stdout: []string{"FAILED  window 20261206T150000Z: manifest manifests/20261206T150000Z.json (version v"}, stderr: []string{"is not the pinned public key"}},
		{name: "only the last window's objects", args: func(string) []string { return []string{"--bucket", "b", "--from", "2026-12-06T15:02:00Z"} },
			code: 0, lines: 2, stdout: []string{"2026-12-06T15:02:00Z  ok", "3 windows from 2026-12-06T15:00:00Z to 2026-12-06T15:03:00Z, 1 with their objects"}},
		{name: "an object replaced", tamper: func(t *testing.T, tr *audittrail.MemTrail, object string) {
			tr.Put(object, gzipOf(t, "{}\n"), nil)
		}, args: func(string) []string { return []string{"--bucket", "b"} },
			code: 1, stdout: []string{"2026-12-06T15:00:00Z  FAILED  window 20261206T150000Z: object objects/20261206T150000Z/0001-", "2026-12-06T15:01:00Z  ok"},
			stderr: []string{"lanyard: audit trail does not verify: 1 of 3 windows failed; first: window 20261206T150000Z: object objects/20261206T150000Z/0001-"}},
		{name: "a manifest removed", tamper: func(t *testing.T, tr *audittrail.MemTrail, _ string) {
			tr.Delete("manifests/20261206T150100Z.json")
		}, args: func(string) []string { return []string{"--bucket", "b"} },
			code: 1, stdout: []string{"links to manifest manifests/20261206T150100Z.json, but the manifest before is manifests/20261206T150000Z.json"}},
		{name: "the tail cut", args: func(string) []string { return []string{"--bucket", "b", "--delay", "1m", "--slack", "1m"} }, now: trailStart.Add(10 * time.Minute),
			code: 1, stdout: []string{"trail  FAILED  manifest manifests/20261206T150200Z.json: the trail is cut short"}, stderr: []string{"1 failures of the trail"}},
		{name: "json", args: func(string) []string { return []string{"--bucket", "b", "-o", "json"} }, code: 0, stdout: []string{`"ok": true`, `"windows": [`}},
		{name: "no bucket", args: func(string) []string { return nil }, code: 2, stderr: []string{"--bucket is required"}},
		{name: "from after to", args: func(string) []string { return []string{"--bucket", "b", "--from", "1h", "--to", "2h"} }, code: 2, stderr: []string{"is not before --to"}},
		{name: "not a key", args: func(string) []string {
			return []string{"--bucket", "b", "--public-key", filepath.Join(dir, "missing.pem")}
		}, code: 2, stderr: []string{"--public-key: open"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, pemKey, object := exportedTrail(t)
			keyFile := filepath.Join(t.TempDir(), "key.pem")
			if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.tamper != nil {
				tc.tamper(t, tr, object)
			}
			at := now
			if !tc.now.IsZero() {
				at = tc.now
			}
			code, stdout, stderr, target := runAuditVerifyCmd(tr, at, tc.args(keyFile)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout does not say %q:\n%s", w, stdout)
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr)
				}
			}
			if tc.lines != 0 && strings.Count(stdout, "\n") != tc.lines {
				t.Errorf("stdout has %d lines, want %d:\n%s", strings.Count(stdout, "\n"), tc.lines, stdout)
			}
			if strings.Count(stderr, "\n") > 1 {
				t.Errorf("stderr is more than one line:\n%s", stderr)
			}
			if tc.name == "json" {
				var v verifyView
				if err := json.Unmarshal([]byte(stdout), &v); err != nil || !v.OK || len(v.Windows) != 3 || v.Summary.Records != 12 {
					t.Errorf("JSON answer %+v, %v", v, err)
				}
			}
			if tc.name == "an untouched trail, its anchor not pinned" && (target.Bucket != "lanyard-audit" || !target.Local) {
				t.Errorf("--prefix lanyard opened %+v", target)
			}
		})
	}
}

func gzipOf(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
