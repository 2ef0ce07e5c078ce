package audittrail

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
)

// MemTrail is a trail held in memory, as a versioned bucket holds it: each Put is a new
// version of its key. Tests and benchmarks write it through Window and read it through Verify.
type MemTrail struct {
	mu      sync.Mutex
	entries map[string]MemEntry
	version int
	// history is every version of each key, delete markers included, oldest first.
	history map[string][]ObjectVersion
}

// MemEntry is the current version of one key.
type MemEntry struct {
	Body      []byte
	Metadata  map[string]string
	VersionID string
}

var _ Trail = (*MemTrail)(nil)

// NewMemTrail returns an empty trail.
func NewMemTrail() *MemTrail {
	return &MemTrail{entries: map[string]MemEntry{}, history: map[string][]ObjectVersion{}}
}

// Versions returns every version of the keys under prefix, delete markers included, as a
// versioned bucket lists them. MemTrail is no VersionLister itself, so Verify over it checks
// what the objects and manifests hold alone (a trail copied out of its bucket); VersionsOf
// makes one that is.
func (t *MemTrail) Versions(prefix string) []ObjectVersion {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []ObjectVersion
	for k, vs := range t.history {
		if strings.HasPrefix(k, prefix) {
			out = append(out, vs...)
		}
	}
	slices.SortFunc(out, func(a, b ObjectVersion) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// VersionsOf is t read as a versioned bucket: a Trail that is also a VersionLister.
func VersionsOf(t *MemTrail) interface {
	Trail
	VersionLister
} {
	return memVersions{t}
}

type memVersions struct{ *MemTrail }

func (m memVersions) ListVersions(_ context.Context, prefix string) ([]ObjectVersion, error) {
	return m.Versions(prefix), nil
}

// Put stores a new version of key and returns its version id.
func (t *MemTrail) Put(key string, body []byte, metadata map[string]string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.version++
	v := fmt.Sprintf("v%d", t.version)
	t.entries[key] = MemEntry{Body: bytes.Clone(body), Metadata: maps.Clone(metadata), VersionID: v}
	t.history[key] = append(slices.Clip(t.history[key]), ObjectVersion{Key: key, VersionID: v})
	return v
}

// PutObject is the PutFunc of a Window writing to t.
func (t *MemTrail) PutObject(_ context.Context, key string, body []byte) error {
	t.Put(key, body, nil)
	return nil
}

// PutSealed stores a sealed window's manifest with its metadata.
func (t *MemTrail) PutSealed(s Sealed) string { return t.Put(s.Key, s.Body, s.Metadata()) }

// Delete removes key (as a delete marker hides it).
func (t *MemTrail) Delete(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
	t.version++
	t.history[key] = append(slices.Clip(t.history[key]), ObjectVersion{Key: key, VersionID: fmt.Sprintf("v%d", t.version), DeleteMarker: true})
}

// Entry returns the current version of key.
func (t *MemTrail) Entry(key string) (MemEntry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[key]
	return e, ok
}

// Keys returns every key under prefix, in order.
func (t *MemTrail) Keys(prefix string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var keys []string
	for k := range t.entries {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Clone returns a copy of t that shares no state with it (bodies are never changed in place).
func (t *MemTrail) Clone() *MemTrail {
	t.mu.Lock()
	defer t.mu.Unlock()
	return &MemTrail{entries: maps.Clone(t.entries), version: t.version, history: maps.Clone(t.history)}
}

// ListManifests implements Trail.
func (t *MemTrail) ListManifests(_ context.Context, after string) ([]string, error) {
	var keys []string
	for _, k := range t.Keys(ManifestPrefix) {
		if k > after {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// GetManifest implements Trail.
func (t *MemTrail) GetManifest(_ context.Context, key string) ([]byte, map[string]string, string, error) {
	e, ok := t.Entry(key)
	if !ok {
		return nil, nil, "", fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return bytes.Clone(e.Body), maps.Clone(e.Metadata), e.VersionID, nil
}

// GetObject implements Trail.
func (t *MemTrail) GetObject(_ context.Context, key string) (io.ReadCloser, string, error) {
	e, ok := t.Entry(key)
	if !ok {
		return nil, "", fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(e.Body)), e.VersionID, nil
}
