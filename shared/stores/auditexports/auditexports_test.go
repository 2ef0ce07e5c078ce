package auditexports_test

import (
	"testing"

	"github.com/lanyardhq/lanyard/shared/stores/auditexports"
	"github.com/lanyardhq/lanyard/topology"
)

func TestTableDeclarationMatchesTheStore(t *testing.T) {
	t.Parallel()
	tb, ok := topology.Lanyard().Table("audit-exports")
	if !ok {
		t.Fatal("the production topology declares no audit-exports table")
	}
	if tb.PartitionKey.Name != auditexports.PartitionKey || tb.PartitionKey.Type != topology.AttrString || tb.SortKey != nil {
		t.Errorf("audit-exports keyed by %+v / %+v, want %s (S) alone", tb.PartitionKey, tb.SortKey, auditexports.PartitionKey)
	}
}
