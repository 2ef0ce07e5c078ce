package flushes_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/stores/flushes"
	"github.com/lanyardhq/lanyard/topology"
)

func TestTableDeclarationMatchesTheStore(t *testing.T) {
	t.Parallel()
	tb, ok := topology.Lanyard().Table("flushes")
	if !ok {
		t.Fatal("no flushes table declared")
	}
	if tb.PartitionKey != (topology.Attr{Name: flushes.PartitionKey, Type: topology.AttrString}) || tb.SortKey != nil {
		t.Errorf("declared key %+v / %+v, want %s (S) alone", tb.PartitionKey, tb.SortKey, flushes.PartitionKey)
	}
}

func TestStateFromItem(t *testing.T) {
	t.Parallel()
	claimed := time.Date(2026, 3, 14, 10, 26, 53, 589793238, time.UTC)
	cases := []struct {
		name    string
		item    map[string]types.AttributeValue
		want    flushes.State
		wantErr bool
	}{
		{"no item", nil, flushes.State{Stage: "api/live"}, false},
		{"claimed, never flushed", map[string]types.AttributeValue{
			"stage": &types.AttributeValueMemberS{Value: "api/live"}, "claimedAt": &types.AttributeValueMemberN{Value: "1773484013589793238"},
		}, flushes.State{Stage: "api/live", ClaimedAt: claimed}, false},
		{"claimed and flushed", map[string]types.AttributeValue{
			"stage":     &types.AttributeValueMemberS{Value: "api/live"},
			"claimedAt": &types.AttributeValueMemberN{Value: "1773484013589793238"}, "flushedAt": &types.AttributeValueMemberN{Value: "1773484013589793238"},
		}, flushes.State{Stage: "api/live", ClaimedAt: claimed, FlushedAt: claimed}, false},
		{"claim not a number", map[string]types.AttributeValue{
			"stage": &types.AttributeValueMemberS{Value: "api/live"}, "claimedAt": &types.AttributeValueMemberS{Value: "soon"},
		}, flushes.State{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := flushes.StateFromItem("api/live", c.item)
			if (err != nil) != c.wantErr || !got.ClaimedAt.Equal(c.want.ClaimedAt) || !got.FlushedAt.Equal(c.want.FlushedAt) || got.Stage != c.want.Stage {
				t.Errorf("StateFromItem: %+v, %v; want %+v (error %t)", got, err, c.want, c.wantErr)
			}
		})
	}
}

// A claim is conditioned on the claim read; the first on there being none.
func TestClaimIsConditionedOnTheClaimRead(t *testing.T) {
	t.Parallel()
	at := time.Unix(0, 2000)
	first := flushes.ClaimInput("t", flushes.State{Stage: "api/live"}, at)
	if got := aws.ToString(first.ConditionExpression); got != "attribute_not_exists(#claimed)" {
		t.Errorf("first claim's condition %q", got)
	}
	next := flushes.ClaimInput("t", flushes.State{Stage: "api/live", ClaimedAt: time.Unix(0, 1000)}, at)
	prev, ok := next.ExpressionAttributeValues[":prev"].(*types.AttributeValueMemberN)
	if got := aws.ToString(next.ConditionExpression); got != "#claimed = :prev" || !ok || prev.Value != "1000" {
		t.Errorf("next claim's condition %q with :prev %v", got, next.ExpressionAttributeValues[":prev"])
	}
}
