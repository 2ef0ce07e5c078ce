package audittrail

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

func sampleRecord(chain, detail string) outbox.Record {
	r := outbox.Record{
		Chain: chain, Seq: 7, EventID: "0193a1b2-0000-7000-8000-000000000001",
		DetailType: "Credential Issued", Time: time.Date(2026, 12, 6, 15, 0, 0, 120000000, time.UTC),
		PrevHash: outbox.GenesisHash, Detail: []byte(detail),
	}
	r.Hash = r.ComputeHash()
	return r
}

func TestLineRoundTripsEveryHashedField(t *testing.T) {
	for _, tc := range []struct{ name, chain, detail string }{
		{"plain", "p-01", `{"partnerId":"p-01","n":1}`},
		{"escapes", "p-\"quoted\"\\ <&> \n\t\u2028 é", `{"note":"a \"b\" <c>"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleRecord(tc.chain, tc.detail)
			line := AppendLine(nil, r)
			if strings.Count(string(line), "\n") != 1 || line[len(line)-1] != '\n' {
				t.Fatalf("line %q is not one line", line)
			}
			if !json.Valid(line) {
				t.Fatalf("line %q is not JSON", line)
			}
			got, err := ParseLine(line[:len(line)-1])
			if err != nil {
				t.Fatalf("ParseLine: %v", err)
			}
			if got.ComputeHash() != r.Hash || got.Hash != r.Hash || got.Chain != r.Chain || got.Seq != r.Seq {
				t.Fatalf("round trip changed the record: %+v", got)
			}
		})
	}
}

func TestParseLineRefusesOtherShapes(t *testing.T) {
	r := sampleRecord("p-01", `{"a":1}`)
	good := strings.TrimSuffix(string(AppendLine(nil, r)), "\n")
	for name, line := range map[string]string{
		"spaces":          strings.Replace(good, `"seq":7`, `"seq": 7`, 1),
		"reordered":       strings.Replace(good, `{"chain":"p-01","seq":7`, `{"seq":7,"chain":"p-01"`, 1),
		"leading zero":    strings.Replace(good, `"seq":7`, `"seq":07`, 1),
		"time not canon":  strings.Replace(good, `.12Z`, `.120Z`, 1),
		"no detail":       strings.TrimSuffix(good, `{"a":1}}`) + "}",
		"escape not ours": strings.Replace(good, `"p-01"`, `"p-\u00301"`, 1),
		"empty":           "",
	} {
		if _, err := ParseLine([]byte(line)); err == nil {
			t.Errorf("%s: ParseLine(%q) accepted it", name, line)
		}
	}
}

func TestKeysSortAsWindowsAndParseBack(t *testing.T) {
	a := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	b := a.Add(10 * time.Second)
	if ManifestKey(a) >= ManifestKey(b) {
		t.Fatalf("%s does not sort before %s", ManifestKey(a), ManifestKey(b))
	}
	got, err := WindowOfManifestKey(ManifestKey(b))
	if err != nil || !got.Equal(b) {
		t.Fatalf("WindowOfManifestKey = %v, %v", got, err)
	}
	if _, err := WindowOfManifestKey("objects/x.json"); err == nil {
		t.Fatal("an object key was taken for a manifest key")
	}
	if k := ObjectKey(a, 2, strings.Repeat("a", 64)); k != "objects/20261206T090000Z/0002-"+strings.Repeat("a", 64)+".ndjson.gz" {
		t.Fatalf("ObjectKey = %s", k)
	}
}

func TestManifestRoundTripsAndRefusesUnknownFields(t *testing.T) {
	m := Manifest{Version: ManifestVersion, Deployment: "lanyard-test", WindowStart: time.Unix(0, 0).UTC(), WindowEnd: time.Unix(60, 0).UTC()}
	b, err := MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"objects": []`) || !strings.Contains(string(b), `"previous": null`) {
		t.Fatalf("empty window manifest = %s", b)
	}
	if _, err := ParseManifest(b); err != nil {
		t.Fatalf("ParseManifest: %v", err)
	}
	if _, err := ParseManifest([]byte(strings.Replace(string(b), `"version"`, `"extra": 1, "version"`, 1))); err == nil {
		t.Fatal("a manifest with an unknown field was read")
	}
}

func TestParsePublicKeyTakesPEMDERAndBase64(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for name, in := range map[string][]byte{
		"pem": pemBytes, "der": der, "base64": []byte(base64.StdEncoding.EncodeToString(der) + "\n"),
	} {
		got, err := ParsePublicKey(in)
		if err != nil || Fingerprint(got) != Fingerprint(der) {
			t.Errorf("%s: ParsePublicKey = %v", name, err)
		}
	}
	if _, err := ParsePublicKey([]byte("not a key")); err == nil {
		t.Error("garbage was taken for a key")
	}
}
