package audittrail

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
)

func TestMemTrailListsManifestsInOrderAndVersionsEachPut(t *testing.T) {
	ctx := context.Background()
	tr := NewMemTrail()
	for _, k := range []string{"manifests/20261206T160000Z.json", "objects/x/0001-a.ndjson.gz", "manifests/20261206T150000Z.json"} {
		tr.Put(k, []byte(k), map[string]string{"Signature": "s"})
	}
	keys, err := tr.ListManifests(ctx, "")
	if err != nil || !slices.Equal(keys, []string{"manifests/20261206T150000Z.json", "manifests/20261206T160000Z.json"}) {
		t.Fatalf("ListManifests = %v, %v", keys, err)
	}
	if keys, _ := tr.ListManifests(ctx, "manifests/20261206T150000Z.json"); len(keys) != 1 {
		t.Fatalf("ListManifests after the first = %v", keys)
	}
	_, _, v1, _ := tr.GetManifest(ctx, keys[0])
	tr.Put(keys[0], []byte("new"), nil)
	body, md, v2, err := tr.GetManifest(ctx, keys[0])
	if err != nil || string(body) != "new" || v1 == v2 || md != nil {
		t.Fatalf("GetManifest after a new version = %q %v %q %v", body, md, v2, err)
	}
	rc, _, err := tr.GetObject(ctx, "objects/x/0001-a.ndjson.gz")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(rc); string(b) != "objects/x/0001-a.ndjson.gz" {
		t.Fatalf("GetObject = %q", b)
	}
	tr.Delete("objects/x/0001-a.ndjson.gz")
	if _, _, err := tr.GetObject(ctx, "objects/x/0001-a.ndjson.gz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetObject of a deleted key = %v, want ErrNotFound", err)
	}
	if v, ok := metadataValue(map[string]string{"Signature": "s"}, SignatureMetadata); !ok || v != "s" {
		t.Fatal("metadata is not read whatever its case")
	}
}
