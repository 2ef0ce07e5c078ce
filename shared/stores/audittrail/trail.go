package audittrail

import (
	"context"
	"errors"
	"io"
	"strings"
)

// ErrNotFound is what a Trail returns for a key it does not hold.
var ErrNotFound = errors.New("not in the trail")

// Trail is where the exported trail is read back: the audit bucket in AWS or LocalStack, a map
// in tests. Verify reads through it.
type Trail interface {
	// ListManifests returns the keys under ManifestPrefix that sort after after ("" for all),
	// in order. Every key there is returned, manifest key or not: Verify judges them.
	ListManifests(ctx context.Context, after string) ([]string, error)
	// GetManifest returns a manifest's bytes, its metadata (keys in lower case) and the
	// version id of what it read ("" where the store keeps no versions).
	GetManifest(ctx context.Context, key string) (body []byte, metadata map[string]string, versionID string, err error)
	// GetObject opens an object's stored body (its gzip bytes, not decompressed) and returns
	// the version id of what it reads.
	GetObject(ctx context.Context, key string) (body io.ReadCloser, versionID string, err error)
}

// metadataValue reads a metadata value whatever the case its key comes back in.
func metadataValue(md map[string]string, key string) (string, bool) {
	if v, ok := md[key]; ok {
		return v, true
	}
	for k, v := range md {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// ObjectVersion is one version of a key as a versioned bucket keeps it, or a delete marker.
type ObjectVersion struct {
	Key          string
	VersionID    string
	DeleteMarker bool
}

// VersionLister is a trail kept in a versioned bucket, which can list every version of its
// keys: the exporter writes each key once (If-None-Match), so a second version or a delete
// marker is a rewrite after the export. Object Lock keeps the version it hides, so Verify,
// given a VersionLister, names both — a rewrite signed with the deployment's own key included.
type VersionLister interface {
	ListVersions(ctx context.Context, prefix string) ([]ObjectVersion, error)
}
