package dynamodbtest

import (
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// An index holds only the items with its keys, in index key order; DynamoDB refuses a
// consistent read of it and an index the table does not have. The revocations store's
// scenarios hold the rest of it to DynamoDB Local.
func TestQueryOnAnIndex(t *testing.T) {
	t.Parallel()
	d := NewDynamoDB()
	d.CreateTable("t", KeyAttr{Name: "pk", Type: types.ScalarAttributeTypeS}, nil)
	d.CreateIndex("t", "by-g", KeyAttr{Name: "g", Type: types.ScalarAttributeTypeS}, &KeyAttr{Name: "at", Type: types.ScalarAttributeTypeN})
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	for _, it := range []Item{
		{"pk": s("a"), "g": s("x"), "at": n("10")},
		{"pk": s("b"), "g": s("x"), "at": n("9")},
		{"pk": s("c"), "g": s("x")},               // no sort key: not in the index
		{"pk": s("d"), "g": s("y"), "at": n("1")}, // another partition
		{"pk": s("e"), "g": n("1"), "at": n("1")}, // a key of another type: not in the index
	} {
		if _, err := d.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("t"), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	q := func(index string, consistent bool) (*dynamodb.QueryOutput, error) {
		return d.Query(t.Context(), &dynamodb.QueryInput{TableName: aws.String("t"), IndexName: aws.String(index),
			KeyConditionExpression: aws.String("g = :g AND #at > :min"), ExpressionAttributeNames: map[string]string{"#at": "at"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":g": s("x"), ":min": n("0")}, ConsistentRead: aws.Bool(consistent)})
	}
	out, err := q("by-g", false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range out.Items {
		got = append(got, it["pk"].(*types.AttributeValueMemberS).Value)
	}
	if !slices.Equal(got, []string{"b", "a"}) {
		t.Errorf("items %v, want b (at 9) then a (at 10)", got)
	}
	for name, consistent := range map[string]bool{"by-g": true, "nope": false} {
		var api smithy.APIError
		if _, err := q(name, consistent); !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
			t.Errorf("index %s, consistent %v: %v, want a ValidationException", name, consistent, err)
		}
	}
}
