package outbox_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// chain builds n records of a partner by appending, as Commit would.
func chain(t *testing.T, partner string, n int) []outbox.Record {
	t.Helper()
	head := outbox.Head{Chain: partner, Hash: outbox.GenesisHash}
	var out []outbox.Record
	for i := range n {
		rec, _, err := outbox.Append("tbl", head, issued(partner, at(time.Duration(i)*time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
		head = outbox.Head{Chain: partner, Seq: rec.Seq, Hash: rec.Hash}
	}
	return out
}

func TestVerify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		change  func([]outbox.Record) []outbox.Record
		seq     int64 // the first broken seq; 0 for a valid chain
		because string
	}{
		{"valid", func(r []outbox.Record) []outbox.Record { return r }, 0, ""},
		{"empty", func([]outbox.Record) []outbox.Record { return nil }, 0, ""},
		{"a gap", func(r []outbox.Record) []outbox.Record { return slices.Delete(r, 2, 3) }, 3, "missing (the next record is seq 4)"},
		{"the first missing", func(r []outbox.Record) []outbox.Record { return r[1:] }, 1, "missing"},
		{"a repeat", func(r []outbox.Record) []outbox.Record { return slices.Insert(r, 2, r[1]) }, 3, "seq 2 appears again"},
		{"detail changed", func(r []outbox.Record) []outbox.Record {
			r[2].Detail = json.RawMessage(strings.Replace(string(r[2].Detail), "orders:read", "orders:write", 1))
			return r
		}, 3, "does not recompute"},
		{"detail changed and rehashed", func(r []outbox.Record) []outbox.Record {
			r[2].Detail = json.RawMessage(strings.Replace(string(r[2].Detail), "orders:read", "orders:write", 1))
			r[2].Hash = r[2].ComputeHash()
			return r
		}, 4, "prevHash is not the hash of seq 3"},
		{"time changed", func(r []outbox.Record) []outbox.Record { r[1].Time = r[1].Time.Add(time.Nanosecond); return r }, 2, "does not recompute"},
		{"first not from genesis", func(r []outbox.Record) []outbox.Record {
			r[0].PrevHash = strings.Repeat("1", 64)
			r[0].Hash = r[0].ComputeHash()
			return r
		}, 1, "genesis"},
		{"another partner's record", func(r []outbox.Record) []outbox.Record {
			r[3].Chain = "p-2"
			return r
		}, 4, `belongs to chain "p-2"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := outbox.Verify(c.change(chain(t, "p-1", 5)))
			if c.seq == 0 {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			var ce *outbox.ChainError
			if !errors.As(err, &ce) || ce.Seq != c.seq || ce.Chain != "p-1" || !strings.Contains(ce.Reason, c.because) {
				t.Fatalf("Verify: %v, want broken at seq %d because %q", err, c.seq, c.because)
			}
		})
	}
}

func TestVerifyHead(t *testing.T) {
	t.Parallel()
	recs := chain(t, "p-1", 3)
	head := outbox.Head{Chain: "p-1", Seq: 3, Hash: recs[2].Hash}
	if err := outbox.VerifyHead(head, recs); err != nil {
		t.Fatalf("VerifyHead: %v", err)
	}
	if err := outbox.VerifyHead(outbox.Head{Chain: "p-1", Hash: outbox.GenesisHash}, nil); err != nil {
		t.Fatalf("VerifyHead of an empty chain: %v", err)
	}
	cases := []struct {
		name string
		head outbox.Head
		recs []outbox.Record
		seq  int64
	}{
		{"the last record missing", head, recs[:2], 3},
		{"every record missing", head, nil, 1},
		{"a record past the head", outbox.Head{Chain: "p-1", Seq: 2, Hash: recs[1].Hash}, recs, 3},
		{"the head's hash is another", outbox.Head{Chain: "p-1", Seq: 3, Hash: recs[1].Hash}, recs, 3},
		{"another partner's head", outbox.Head{Chain: "p-2", Seq: 3, Hash: recs[2].Hash}, recs, 1},
	}
	for _, c := range cases {
		var ce *outbox.ChainError
		if err := outbox.VerifyHead(c.head, c.recs); !errors.As(err, &ce) || ce.Seq != c.seq {
			t.Errorf("%s: %v, want broken at seq %d", c.name, err, c.seq)
		}
	}
}
