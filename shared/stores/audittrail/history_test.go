package audittrail

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// memChains is an outbox read from records held in memory.
type memChains map[string][]outbox.Record

func (m memChains) Chains(_ context.Context, owner string) ([]string, error) {
	var out []string
	for c := range m {
		if outbox.ChainOwner(c) == owner {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (m memChains) ReadChain(_ context.Context, chain string) (outbox.Head, []outbox.Record, error) {
	rs := slices.Clone(m[chain])
	if len(rs) == 0 {
		return outbox.Head{Chain: chain, Hash: outbox.GenesisHash}, nil, nil
	}
	return outbox.Head{Chain: chain, Seq: rs[len(rs)-1].Seq, Hash: rs[len(rs)-1].Hash}, rs, nil
}

// outboxOf is the outbox that exported bt: every record of every window, by chain.
func outboxOf(bt builtTrail) memChains {
	m := memChains{}
	for _, rs := range bt.records {
		for _, r := range rs {
			m[r.Chain] = append(m[r.Chain], r)
		}
	}
	return m
}

// appendRecord commits one more record to chain in m (not exported).
func appendRecord(m memChains, chain string, at time.Time) {
	rs := m[chain]
	r := outbox.Record{Chain: chain, Seq: int64(len(rs)) + 1, EventID: "late", DetailType: "Credential Issued", Time: at, PrevHash: outbox.GenesisHash, Detail: []byte(`{}`)}
	if len(rs) > 0 {
		r.PrevHash = rs[len(rs)-1].Hash
	}
	r.Hash = r.ComputeHash()
	m[chain] = append(rs, r)
}

func TestHistoryMatchesTheOutboxWithTheTrail(t *testing.T) {
	key := newSigningKey(t, "k")
	spec := trailSpec{windows: 3, chains: 3, maxObject: 2, records: func(w, c int) int { return 1 + (w+c)%2 }}
	bt := buildTrail(t, spec, key)
	opts := Options{Now: func() time.Time { return bt.now }, Delay: time.Minute, PublicKey: key.der}
	const partner = "p-01"
	problems := func(h PartnerHistory) string {
		var b []string
		for _, c := range h.Chains {
			if c.Problem != "" {
				b = append(b, c.Chain+": "+c.Problem)
			}
			for _, r := range c.Records {
				if r.Problem != "" {
					b = append(b, r.Problem)
				}
			}
		}
		return strings.Join(b, "\n")
	}

	t.Run("all exported", func(t *testing.T) {
		ob := outboxOf(bt)
		h, err := History(context.Background(), ob, bt.trail, partner, opts)
		if err != nil || !h.OK() {
			t.Fatalf("History = %v, problems:\n%s", err, problems(h))
		}
		if len(h.Chains) != 1 || h.Chains[0].Exported != len(ob[partner]) || h.Chains[0].Records[0].Window != Stamp(trailEpoch) {
			t.Fatalf("history = %+v", h.Chains)
		}
	})
	t.Run("a record not exported yet", func(t *testing.T) {
		ob := outboxOf(bt)
		appendRecord(ob, partner, bt.now)
		h, err := History(context.Background(), ob, bt.trail, partner, opts)
		if err != nil || !h.OK() {
			t.Fatalf("History = %v, problems:\n%s", err, problems(h))
		}
		if c := h.Chains[0]; c.Exported != len(c.Records)-1 || c.Records[len(c.Records)-1].Window != "" {
			t.Fatalf("the late record is shown as exported: %+v", c)
		}
	})
	t.Run("the outbox's record differs from the trail's", func(t *testing.T) {
		ob := outboxOf(bt)
		r := &ob[partner][0]
		r.Detail = []byte(`{"partnerId":"p-01","n":0,"note":"rewritten"}`)
		r.Hash = r.ComputeHash()
		h, err := History(context.Background(), ob, bt.trail, partner, opts)
		if err != nil || h.OK() || !strings.Contains(problems(h), "the trail's copy") {
			t.Fatalf("a rewritten outbox record passed: %v\n%s", err, problems(h))
		}
	})
	t.Run("the outbox lost the chain", func(t *testing.T) {
		ob := outboxOf(bt)
		delete(ob, partner)
		h, err := History(context.Background(), ob, bt.trail, partner, opts)
		if err != nil || h.OK() || len(h.Chains) != 1 || !strings.Contains(problems(h), "not in the outbox") {
			t.Fatalf("a chain the outbox lost passed: %v\n%s", err, problems(h))
		}
	})
	t.Run("the trail's object of the partner tampered", func(t *testing.T) {
		tampered := bt.trail.Clone()
		var obj string
		for _, cr := range bt.sealed[1].Manifest.Chains {
			if cr.Chain == partner {
				obj = bt.sealed[1].Manifest.Objects[cr.Object].Key
			}
		}
		e := mustEntry(t, tampered, obj)
		tampered.Put(obj, regzip(append(gunzip(t, e.Body), '\n')), nil)
		h, err := History(context.Background(), outboxOf(bt), tampered, partner, opts)
		if err != nil || h.OK() || len(h.Windows) != 1 {
			t.Fatalf("a tampered object passed: %v, %d failed windows", err, len(h.Windows))
		}
	})
	t.Run("a manifest of the partner's window signed by another key", func(t *testing.T) {
		tampered := bt.trail.Clone()
		s := bt.sealed[1]
		sig, err := newSigningKey(t, "k2").signer().Sign(context.Background(), SigningDigest(s.Body))
		if err != nil {
			t.Fatal(err)
		}
		s.Signature = sig
		tampered.PutSealed(s)
		h, err := History(context.Background(), outboxOf(bt), tampered, partner, opts)
		if err != nil || h.OK() || !strings.Contains(problems(h), "its window "+Stamp(s.Manifest.WindowStart)+" does not verify") {
			t.Fatalf("records of a window whose manifest fails passed as exported: %v\n%s", err, problems(h))
		}
	})
	t.Run("an unknown partner", func(t *testing.T) {
		_, err := History(context.Background(), outboxOf(bt), bt.trail, "p-99", opts)
		if !errors.Is(err, ErrNoChain) {
			t.Fatalf("History of an unknown partner = %v", err)
		}
	})
}
