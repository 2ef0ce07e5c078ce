package outbox_test

import (
	"slices"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// exportScenarios run on the fake and on DynamoDB Local with the others (scenarios).
func exportScenarios() []scenario {
	return []scenario{
		{"the export-pending index holds a chain until its export cursor reaches the head", func(t *testing.T, b backend) {
			ctx := t.Context()
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			x := &outbox.Exports{DB: b.db, Table: b.outbox}
			p := newPartner()
			recs, err := s.CommitAll(ctx, p, []events.Detail{onboarded(p, at(0)), issued(p, at(time.Second))}, nil)
			if err != nil {
				t.Fatal(err)
			}
			third, err := s.Commit(ctx, p, issued(p, at(time.Hour)), nil)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, third)
			pending := func() bool {
				chains, err := x.PendingExports(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return slices.Contains(chains, p)
			}
			cursor := func() outbox.ExportCursor {
				c, err := x.ExportCursors(ctx, []string{p, p + "-no-such-chain"})
				if err != nil {
					t.Fatal(err)
				}
				if len(c) != 1 {
					t.Fatalf("cursors %+v, want the one chain that exists", c)
				}
				return c[p]
			}
			if !pending() {
				t.Error("a chain with records is not pending export")
			}
			if c := cursor(); c.Seq != 0 || c.Hash != outbox.GenesisHash || c.Head.Seq != 3 || c.Head.Hash != third.Hash {
				t.Errorf("cursor of a chain never exported %+v", c)
			}
			read := func(after int64, before time.Time) []outbox.Record {
				var got []outbox.Record
				if err := x.ExportRecords(ctx, p, after, before, func(r outbox.Record) error {
					got = append(got, r)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				return got
			}
			// The window ends before the third record: the first two, and no further.
			if got := read(0, at(time.Minute)); len(got) != 2 || got[0].Hash != recs[0].Hash || got[1].Hash != recs[1].Hash {
				t.Errorf("records before the window's end: %+v", got)
			}
			advance := func(seq int64, hash string) {
				if err := x.AdvanceExport(ctx, p, seq, hash); err != nil {
					t.Fatalf("advance to %d: %v", seq, err)
				}
			}
			advance(2, recs[1].Hash)
			advance(2, recs[1].Hash) // a run repeated: harmless
			advance(1, recs[0].Hash) // behind: the cursor never moves back
			if c := cursor(); c.Seq != 2 || c.Hash != recs[1].Hash {
				t.Errorf("cursor %+v, want seq 2", c)
			}
			if !pending() {
				t.Error("a chain whose head is past its cursor left the export-pending index")
			}
			if got := read(2, at(2*time.Hour)); len(got) != 1 || got[0].Seq != 3 {
				t.Errorf("records after seq 2: %+v", got)
			}
			advance(3, third.Hash)
			if pending() {
				t.Error("a chain exported to its head is still pending export")
			}
			if got := read(3, at(48*time.Hour)); len(got) != 0 {
				t.Errorf("records after the head: %+v", got)
			}
			if _, err := s.Commit(ctx, p, issued(p, at(2*time.Hour)), nil); err != nil {
				t.Fatal(err)
			}
			if !pending() {
				t.Error("a new record did not put the chain back in the export-pending index")
			}
			if c := cursor(); c.Seq != 3 || c.Head.Seq != 4 {
				t.Errorf("cursor after a new record %+v, want seq 3 of head 4", c)
			}
			// A cursor past the head, or on a chain that does not exist, is refused.
			if err := x.AdvanceExport(ctx, p, 9, third.Hash); err == nil {
				t.Error("advancing past the head succeeded")
			}
			if err := x.AdvanceExport(ctx, p+"-no-such-chain", 1, third.Hash); err == nil {
				t.Error("advancing a chain that does not exist succeeded")
			}
			if err := x.AdvanceExport(ctx, p, 4, "not-a-hash"); err == nil {
				t.Error("advancing to a malformed hash succeeded")
			}
		}},
	}
}
