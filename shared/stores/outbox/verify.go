package outbox

import "fmt"

// ChainError says where a chain is broken: Seq is the first seq that does not hold.
type ChainError struct {
	Chain  string
	Seq    int64
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("outbox chain %s broken at seq %d: %s", e.Chain, e.Seq, e.Reason)
}

// Verify checks one chain, records in seq order: every record is the chain's, seq
// runs 1, 2, 3 … without a gap or a repeat, each hash recomputes from the record's canonical
// encoding, and each prevHash is the hash of the record before (GenesisHash for the first).
// It returns a *ChainError naming the first broken seq, or nil. An empty chain is valid; a
// chain cut short at its end is not visible here (Store.VerifyPartner compares the head).
func Verify(records []Record) error {
	if len(records) == 0 {
		return nil
	}
	chain := records[0].Chain
	prev := GenesisHash
	for i, r := range records {
		want := int64(i) + 1
		broken := func(seq int64, format string, args ...any) error {
			return &ChainError{Chain: chain, Seq: seq, Reason: fmt.Sprintf(format, args...)}
		}
		switch {
		case r.Chain != chain:
			return broken(want, "the record in its place belongs to chain %q", r.Chain)
		case r.Seq > want:
			return broken(want, "missing (the next record is seq %d)", r.Seq)
		case r.Seq < want:
			return broken(want, "seq %d appears again in its place", r.Seq)
		case r.ComputeHash() != r.Hash:
			return broken(r.Seq, "its hash does not recompute from its contents")
		case r.PrevHash != prev:
			if i == 0 {
				return broken(r.Seq, "the first record's prevHash is not the genesis hash")
			}
			return broken(r.Seq, "its prevHash is not the hash of seq %d", r.Seq-1)
		}
		prev = r.Hash
	}
	return nil
}

// VerifyHead checks a chain (Verify) and that head points at its last record, which exposes
// records missing at the end.
func VerifyHead(head Head, records []Record) error {
	if err := Verify(records); err != nil {
		return err
	}
	n := int64(len(records))
	last := GenesisHash
	if n > 0 {
		last = records[n-1].Hash
		if records[0].Chain != head.Chain {
			return &ChainError{Chain: head.Chain, Seq: 1, Reason: fmt.Sprintf("the records belong to chain %q", records[0].Chain)}
		}
	}
	switch {
	case head.Seq > n:
		return &ChainError{Chain: head.Chain, Seq: n + 1, Reason: fmt.Sprintf("missing (the head is at seq %d)", head.Seq)}
	case head.Seq < n:
		return &ChainError{Chain: head.Chain, Seq: head.Seq + 1, Reason: fmt.Sprintf("the record is past the head (at seq %d)", head.Seq)}
	case head.Hash != last:
		return &ChainError{Chain: head.Chain, Seq: n, Reason: "the head's hash is not the hash of the last record"}
	}
	return nil
}
