package outbox_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// goldenZone is not UTC: the codec must store times in UTC.
var goldenZone = time.FixedZone("UTC+1", 3600)

// TestRecordItemGolden holds the outbox item of a record of each detail type (the events'
// fixtures), unpublished and published, and the head's transaction items, to the attribute
// maps in testdata/golden: the hash chain covers stored values, so the representation never
// changes. Each golden item reads back as the record it was made from.
func TestRecordItemGolden(t *testing.T) {
	fixtures, err := filepath.Glob(filepath.Join("..", "..", "..", "events", "testdata", "*.json"))
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("events fixtures: %v (%d)", err, len(fixtures))
	}
	for _, f := range fixtures {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, d, err := events.Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			head := outbox.Head{Chain: d.Header().PartnerID, Seq: 0, Hash: outbox.GenesisHash}
			r, items, err := outbox.Append("outbox", head, d)
			if err != nil {
				t.Fatal(err)
			}
			checkRecordGolden(t, "golden/record-"+name, r)
			itemtest.GoldenTransactItems(t, "golden/append-first-"+name, *updateGolden, items...)
		})
	}
}

func TestPublishedRecordAndNextHeadGolden(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "testdata", "credential-rotated.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, d, err := events.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	head := outbox.Head{Chain: d.Header().PartnerID, Seq: 41, Hash: strings.Repeat("ab", 32)}
	r, items, err := outbox.Append("outbox", head, d)
	if err != nil {
		t.Fatal(err)
	}
	itemtest.GoldenTransactItems(t, "golden/append-next", *updateGolden, items...)
	r.PublishedAt = time.Date(2026, 3, 14, 10, 26, 53, 589793000, goldenZone)
	r.BusEventID = "9f1c2b4e-7d1a-4c1e-8a6b-3e2f1d0c9b8a"
	checkRecordGolden(t, "golden/record-published", r)
	r.PublishedAt = time.Date(2026, 3, 14, 10, 26, 53, 0, goldenZone)
	checkRecordGolden(t, "golden/record-published-whole-second", r)
}

func checkRecordGolden(t *testing.T, name string, r outbox.Record) {
	t.Helper()
	stored := itemtest.GoldenItem(t, name, itemtest.Must(r.Item())(t), *updateGolden)
	back, err := outbox.RecordFromItem(stored)
	if err != nil {
		t.Fatalf("%s: read back: %v", name, err)
	}
	if !sameRecord(back, r) {
		t.Errorf("%s reads back as %+v, want %+v", name, back, r)
	}
}

// TestMarkPublishedGolden holds the relay's update marking a record published.
func TestMarkPublishedGolden(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 30, 0, 123456789, goldenZone)
	itemtest.GoldenWrites(t, "golden/mark-published", *updateGolden,
		outbox.MarkPublished("outbox", "p-d4xq7m2kf5hb3nz6w2yr7tcvae", 3, at, "bus-event-1"))
}
