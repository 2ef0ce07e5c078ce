package audittrail

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// ChainReader is what a history reads of the outbox (outbox.Store).
type ChainReader interface {
	Chains(ctx context.Context, owner string) ([]string, error)
	ReadChain(ctx context.Context, chain string) (outbox.Head, []outbox.Record, error)
}

var _ ChainReader = (*outbox.Store)(nil)

// HistoryRecord is one record of a partner's history: the outbox's record, and where the
// exported trail holds it.
type HistoryRecord struct {
	outbox.Record
	// Window is the Stamp of the window whose verified objects hold the record; "" when the
	// trail does not hold it (yet).
	Window string
	// Problem says what does not hold about this record ("" when all does): the outbox chain
	// is broken at it, or the trail's copy differs from it, or the trail holds it and the
	// outbox does not.
	Problem string
}

// ChainHistory is one chain of a partner, record by record in seq order.
type ChainHistory struct {
	Chain   string
	Records []HistoryRecord
	// Exported is how many of its records, from the first, the trail holds.
	Exported int
	// Problem says what does not hold about the chain as a whole ("" when all does).
	Problem string
}

// PartnerHistory is a partner's chains as the outbox and the exported trail hold them.
type PartnerHistory struct {
	Partner string
	Chains  []ChainHistory
	// Trail is the verification of the trail's manifests, and of the objects that hold the
	// partner's records (Options.Keep); Windows are its verdicts that failed.
	Trail   Summary
	Windows []WindowVerdict
}

// OK says every chain verified in the outbox and agrees with the trail, and the trail verified.
func (h PartnerHistory) OK() bool {
	if !h.Trail.OK() || len(h.Windows) > 0 {
		return false
	}
	for _, c := range h.Chains {
		if c.Problem != "" {
			return false
		}
		for _, r := range c.Records {
			if r.Problem != "" {
				return false
			}
		}
	}
	return true
}

// History reads partner's chains from the outbox, each verified against its head, and the
// partner's records from the exported trail, verified as Verify does (opts.Keep is set to
// the partner's chains). Each outbox record is matched with the trail's copy of the same seq:
// the same hash, or a problem named. A chain the trail holds and the outbox does not list is
// a chain of the history too, with the problem said: the outbox lost it.
func History(ctx context.Context, store ChainReader, trail Trail, partner string, opts Options) (PartnerHistory, error) {
	h := PartnerHistory{Partner: partner}
	chains, err := store.Chains(ctx, partner)
	if err != nil {
		return h, err
	}
	exported := map[string][]HistoryRecord{}
	opts.Keep = func(chain string) bool { return outbox.ChainOwner(chain) == partner }
	h.Trail, err = Verify(ctx, trail, opts, func(v WindowVerdict) {
		problem := ""
		if !v.OK() {
			h.Windows = append(h.Windows, v)
			// Its objects that verify hand their records back, but the window's manifest
			// may be what failed: none of its records counts as exported.
			problem = "its window " + Stamp(v.Start) + " does not verify"
		}
		for _, r := range v.Kept {
			exported[r.Chain] = append(exported[r.Chain], HistoryRecord{Record: r, Window: Stamp(v.Start), Problem: problem})
		}
	})
	if err != nil {
		return h, err
	}
	for c := range exported {
		if !slices.Contains(chains, c) {
			chains = append(chains, c)
		}
	}
	if len(chains) == 0 {
		return h, fmt.Errorf("partner %s: %w", partner, ErrNoChain)
	}
	slices.Sort(chains)
	for _, c := range chains {
		ch, err := chainHistory(ctx, store, c, exported[c])
		if err != nil {
			return h, err
		}
		h.Chains = append(h.Chains, ch)
	}
	return h, nil
}

// ErrNoChain: neither the outbox nor the trail holds a chain of the partner.
var ErrNoChain = errors.New("no chain in the outbox or the exported trail")

// chainHistory matches one chain's outbox records with the trail's copies.
func chainHistory(ctx context.Context, store ChainReader, chain string, trail []HistoryRecord) (ChainHistory, error) {
	ch := ChainHistory{Chain: chain}
	head, records, err := store.ReadChain(ctx, chain)
	if err != nil {
		return ch, err
	}
	var broken *outbox.ChainError
	if err := outbox.VerifyHead(head, records); err != nil {
		if !errors.As(err, &broken) {
			return ch, err
		}
		if len(records) == 0 && head.Seq == 0 {
			ch.Problem = "the outbox holds no record of this chain"
		} else {
			ch.Problem = "the outbox chain is broken: " + broken.Reason + fmt.Sprintf(" (seq %d)", broken.Seq)
		}
	}
	bySeq := make(map[int64]HistoryRecord, len(trail))
	for _, t := range trail {
		bySeq[t.Seq] = t
	}
	for _, r := range records {
		hr := HistoryRecord{Record: r}
		if broken != nil && r.Seq == broken.Seq {
			hr.Problem = "the outbox chain is broken here: " + broken.Reason
		}
		if t, ok := bySeq[r.Seq]; ok {
			delete(bySeq, r.Seq)
			hr.Window = t.Window
			hr.Problem = join(hr.Problem, t.Problem)
			if t.Hash != r.Hash {
				hr.Problem = join(hr.Problem, fmt.Sprintf("the trail's copy (window %s) has hash %s, the outbox's %s", t.Window, short(t.Hash), short(r.Hash)))
			}
		}
		ch.Records = append(ch.Records, hr)
	}
	for _, t := range bySeq {
		t.Problem = join(t.Problem, "in the trail (window "+t.Window+"), not in the outbox")
		ch.Records = append(ch.Records, t)
	}
	slices.SortFunc(ch.Records, func(a, b HistoryRecord) int { return int(a.Seq - b.Seq) })
	for _, r := range ch.Records {
		if r.Window == "" {
			break
		}
		ch.Exported++
	}
	for i := ch.Exported; i < len(ch.Records); i++ {
		if r := &ch.Records[i]; r.Window != "" && r.Problem == "" {
			r.Problem = "exported, but a record before it is not"
		}
	}
	return ch, nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
