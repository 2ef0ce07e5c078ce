package revocations_test

import (
	"flag"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// goldenZone is not UTC: the codec must store times in UTC.
var goldenZone = time.FixedZone("UTC+1", 3600)

func goldenTime(d time.Duration) time.Time {
	return time.Date(2026, 3, 14, 10, 26, 53, 589793000, goldenZone).Add(d)
}

const goldenID = "rev-0195f3a2-7c4e-7d1a-9b2c-3d4e5f607182"

func goldenRevocations() map[string]revocations.Revocation {
	pending := revocations.Revocation{
		ID: goldenID, PartnerID: "p-abcdefghijklmnopqrstuvwxyz", KeyIDs: []string{"kabcdefghijklmnopqrst", "kbcdefghijklmnopqrstu"},
		Reason: events.RevocationCompromised, Note: "found in a public repository",
		Actor:     events.Actor{Kind: events.ActorOps, ID: "arn:aws:iam::123456789012:role/ops"},
		RevokedAt: goldenTime(0), Status: revocations.StatusPending,
	}
	stalled := pending
	stalled.Note = ""
	stalled.Status = revocations.StatusStalled
	stalled.StalledAt = goldenTime(2 * time.Minute)
	completed := stalled
	completed.Status = revocations.StatusCompleted
	completed.CompletedAt = goldenTime(3 * time.Minute)
	completed.TimeToEnforceMS = 175250
	return map[string]revocations.Revocation{"pending": pending, "stalled": stalled, "completed": completed}
}

func goldenReport() revocations.Report {
	return revocations.Report{RevocationID: goldenID, Enforcer: events.EnforcerGateway, PartnerID: "p-abcdefghijklmnopqrstuvwxyz",
		EventID: "0195f3a2-7c4e-7d1a-9b2c-3d4e5f607183", EnforcedAt: goldenTime(36 * time.Second), LatencyMS: 36000}
}

// TestItemsGolden holds each shape of a revocation item and the report item to their attribute
// maps in testdata/golden, and each golden item reads back as what it was made from.
func TestItemsGolden(t *testing.T) {
	t.Parallel()
	for name, r := range goldenRevocations() {
		t.Run(name, func(t *testing.T) {
			stored := itemtest.GoldenItem(t, "golden/revocation-"+name, itemtest.Must(r.Item())(t), *updateGolden)
			back, err := revocations.RevocationFromItem(stored)
			if err != nil {
				t.Fatal(err)
			}
			if want := itemtest.InUTC(r); !reflect.DeepEqual(back, want) {
				t.Errorf("reads back as %+v, want %+v", back, want)
			}
		})
	}
	t.Run("report", func(t *testing.T) {
		r := goldenReport()
		stored := itemtest.GoldenItem(t, "golden/report", itemtest.Must(r.Item())(t), *updateGolden)
		back, err := revocations.ReportFromItem(stored)
		if err != nil {
			t.Fatal(err)
		}
		if want := itemtest.InUTC(r); !reflect.DeepEqual(back, want) {
			t.Errorf("reads back as %+v, want %+v", back, want)
		}
	})
}

// TestTransactItemsGolden holds the transaction items that write the table to testdata/golden.
func TestTransactItemsGolden(t *testing.T) {
	t.Parallel()
	for name, item := range map[string]types.TransactWriteItem{
		"open":     itemtest.Must(revocations.Open("revocations", goldenRevocations()["pending"]))(t),
		"reported": itemtest.Must(revocations.Reported("revocations", goldenReport()))(t),
		"stall":    revocations.Stall("revocations", goldenID, goldenTime(2*time.Minute)),
		"complete": revocations.Complete("revocations", goldenID, revocations.StatusStalled, goldenTime(3*time.Minute), 175250),
	} {
		t.Run(name, func(t *testing.T) {
			itemtest.GoldenTransactItems(t, "golden/tx-"+name, *updateGolden, item)
		})
	}
}
