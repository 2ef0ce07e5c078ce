package registry_test

import (
	"errors"
	"testing"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// GetEntries reads the entries asked for in one call, or one call per batch DynamoDB answers
// when it leaves keys unprocessed; ids with no entry are absent, and the result is a Lookup
// that says so as Store.Get does.
func TestGetEntries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		limit     int // the fake's BatchGetLimit: 0 answers every key at once
		wantCalls int
	}{
		{"answered at once", 0, 1},
		{"keys left unprocessed are asked again", 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := newDB(t)
			db.BatchGetLimit = tc.limit
			a, _ := newEntry(t)
			b, _ := newEntry(t)
			for _, e := range []registry.Entry{a, b} {
				if err := putNew(t, db, e); err != nil {
					t.Fatal(err)
				}
			}
			_, unknown := newEntry(t)
			got, err := registry.GetEntries(t.Context(), db, table, a.KeyID, "", b.KeyID, a.KeyID, unknown.ID())
			if err != nil {
				t.Fatal(err)
			}
			if n := db.Calls("BatchGetItem"); n != tc.wantCalls {
				t.Errorf("%d BatchGetItem calls, want %d", n, tc.wantCalls)
			}
			for _, want := range []registry.Entry{a, b} {
				e, err := got.Get(t.Context(), want.KeyID)
				if err != nil || e.KeyID != want.KeyID || e.PartnerID != want.PartnerID || e.Status != want.Status {
					t.Errorf("entry %s: %+v, %v", want.KeyID, e, err)
				}
			}
			if _, err := got.Get(t.Context(), unknown.ID()); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("an id with no entry: %v, want ErrNotFound", err)
			}
			if len(got) != 2 {
				t.Errorf("%d entries, want 2", len(got))
			}
		})
	}
	none, err := registry.GetEntries(t.Context(), newDB(t), table, credential.KeyID(""))
	if err != nil || len(none) != 0 {
		t.Errorf("no id: %v, %v", none, err)
	}
}
