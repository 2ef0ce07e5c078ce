package authorizer

import (
	"sync"
	"time"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// DefaultCacheSize bounds the key cache when Authorizer.CacheSize is 0: far more keys than one
// instance sees within a TTL, and a few megabytes at most.
const DefaultCacheSize = 10000

// cached is one registry entry as the cache holds it, with what the policy needs precomputed.
type cached struct {
	entry registry.Entry
	grant *grant
}

type cacheSlot struct {
	value   *cached
	expires time.Time
}

// keyCache holds registry entries found by key id for a TTL. It holds only entries that were
// found: an unknown key id is asked again each time, so a key registered a moment ago is
// accepted on its first use and nobody fills the cache with made-up ids. Safe for concurrent
// use; at most size entries.
type keyCache struct {
	mu    sync.Mutex
	slots map[credential.KeyID]cacheSlot
	size  int
}

func newKeyCache(size int) *keyCache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &keyCache{slots: make(map[credential.KeyID]cacheSlot), size: size}
}

// get returns the entry of id when it was stored less than its TTL before now.
func (c *keyCache) get(id credential.KeyID, now time.Time) (*cached, bool) {
	c.mu.Lock()
	s, ok := c.slots[id]
	c.mu.Unlock()
	if !ok || !now.Before(s.expires) {
		return nil, false
	}
	return s.value, true
}

// put stores v under id until expires. When the cache is full it first drops every expired
// entry and then, if it is still full, arbitrary ones (Go's map order) until there is room:
// an evicted key costs one more registry read, never a wrong answer.
func (c *keyCache) put(id credential.KeyID, v *cached, expires, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.slots[id]; !ok && len(c.slots) >= c.size {
		for k, s := range c.slots {
			if !now.Before(s.expires) {
				delete(c.slots, k)
			}
		}
		for k := range c.slots {
			if len(c.slots) < c.size {
				break
			}
			delete(c.slots, k)
		}
	}
	c.slots[id] = cacheSlot{value: v, expires: expires}
}

// len is the number of entries held, expired ones included.
func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.slots)
}
