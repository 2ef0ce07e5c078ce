package rollover

import (
	"flag"
	"testing"

	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// TestPartnerTransactionItemsGolden holds rollover's items on the partners table to
// testdata/golden.
func TestPartnerTransactionItemsGolden(t *testing.T) {
	const p = "p-abcdefghijklmnopqrstuvwxyz"
	itemtest.GoldenTransactItems(t, "golden/tx-partner-clear-previous", *updateGolden, clearPrevious("partners", p, "kpreviouspreviousprev"))
	itemtest.GoldenTransactItems(t, "golden/tx-partner-still-pair", *updateGolden, stillPair("partners", p, "kcurrentcurrentcurren", "kpreviouspreviousprev"))
}
