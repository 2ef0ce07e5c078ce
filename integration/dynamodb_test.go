//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/lanyardhq/lanyard/integration/harness"
)

func TestDynamoDBConditionsTransactionsAndStreams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	table := harness.Name("lanyard-it-table")

	created, err := env.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []dbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: dbtypes.ScalarAttributeTypeS}},
		KeySchema:            []dbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: dbtypes.KeyTypeHash}},
		BillingMode:          dbtypes.BillingModePayPerRequest,
		StreamSpecification: &dbtypes.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: dbtypes.StreamViewTypeNewAndOldImages,
		},
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		_, _ = env.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	if err := dynamodb.NewTableExistsWaiter(env.DynamoDB).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 30*time.Second); err != nil {
		t.Fatalf("table never became active: %v", err)
	}
	streamARN := aws.ToString(created.TableDescription.LatestStreamArn)
	if streamARN == "" {
		t.Fatal("CreateTable with a stream answered no LatestStreamArn")
	}

	item := map[string]dbtypes.AttributeValue{
		"pk":      &dbtypes.AttributeValueMemberS{Value: "partner#p-1"},
		"name":    &dbtypes.AttributeValueMemberS{Value: "Acme"},
		"credits": &dbtypes.AttributeValueMemberN{Value: "3"},
	}
	putNew := func(item map[string]dbtypes.AttributeValue) error {
		_, err := env.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                           aws.String(table),
			Item:                                item,
			ConditionExpression:                 aws.String("attribute_not_exists(pk)"),
			ReturnValuesOnConditionCheckFailure: dbtypes.ReturnValuesOnConditionCheckFailureAllOld,
		})
		return err
	}

	// A conditional put creates the item once and is refused on the duplicate.
	if err := putNew(item); err != nil {
		t.Fatalf("first conditional put: %v", err)
	}
	dup := map[string]dbtypes.AttributeValue{
		"pk":   &dbtypes.AttributeValueMemberS{Value: "partner#p-1"},
		"name": &dbtypes.AttributeValueMemberS{Value: "Impostor"},
	}
	err = putNew(dup)
	var condFailed *dbtypes.ConditionalCheckFailedException
	if !errors.As(err, &condFailed) {
		t.Fatalf("duplicate conditional put: %v, want ConditionalCheckFailedException", err)
	}
	if got := attrS(condFailed.Item, "name"); got != "Acme" {
		t.Errorf("the refusal's item (ReturnValuesOnConditionCheckFailure ALL_OLD) has name %q, want Acme", got)
	}
	if got := getItem(t, table, "partner#p-1"); attrS(got, "name") != "Acme" {
		t.Errorf("after the refused put the item is %v, want the original", got)
	}

	// A transaction is all or nothing: its ConditionCheck fails, so its Put is not applied.
	_, err = env.DynamoDB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []dbtypes.TransactWriteItem{
			{Put: &dbtypes.Put{
				TableName: aws.String(table),
				Item: map[string]dbtypes.AttributeValue{
					"pk":   &dbtypes.AttributeValueMemberS{Value: "invite#i-1"},
					"used": &dbtypes.AttributeValueMemberBOOL{Value: false},
				},
			}},
			{ConditionCheck: &dbtypes.ConditionCheck{
				TableName:           aws.String(table),
				Key:                 map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: "partner#p-1"}},
				ConditionExpression: aws.String("attribute_not_exists(pk)"),
			}},
		},
	})
	var canceled *dbtypes.TransactionCanceledException
	if !errors.As(err, &canceled) {
		t.Fatalf("transaction: %v, want TransactionCanceledException", err)
	}
	if reasons := canceled.CancellationReasons; len(reasons) != 2 || aws.ToString(reasons[0].Code) != "None" || aws.ToString(reasons[1].Code) != "ConditionalCheckFailed" {
		t.Errorf("cancellation reasons %s, want [None ConditionalCheckFailed]", reasonCodes(reasons))
	}
	if got := getItem(t, table, "invite#i-1"); got != nil {
		t.Errorf("the cancelled transaction's Put is visible: %v", got)
	}

	// A write after the refused ones, on the same item: the stream orders records per item, so
	// once this MODIFY is read, any record of the refused put would have come before it.
	if _, err := env.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: "partner#p-1"}},
		UpdateExpression:          aws.String("SET credits = credits + :one"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":one": &dbtypes.AttributeValueMemberN{Value: "1"}},
	}); err != nil {
		t.Fatalf("update item: %v", err)
	}

	// The stream carries the INSERT with its new image, then the MODIFY with both images.
	var mine []streamtypes.Record
	var seen []string
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		records, err := readStream(ctx, streamARN)
		if err != nil {
			return false, "read stream: " + err.Error()
		}
		mine, seen = mine[:0], seen[:0]
		for _, r := range records {
			key := ""
			if r.Dynamodb != nil {
				if k, ok := r.Dynamodb.Keys["pk"].(*streamtypes.AttributeValueMemberS); ok {
					key = k.Value
				}
			}
			seen = append(seen, string(r.EventName)+" "+key)
			if key == "partner#p-1" {
				mine = append(mine, r)
			}
		}
		for _, r := range mine {
			if r.EventName == streamtypes.OperationTypeModify {
				return true, ""
			}
		}
		return false, fmt.Sprintf("no MODIFY of partner#p-1 yet; records: %v", seen)
	})
	if len(seen) != 2 || len(mine) != 2 || mine[0].EventName != streamtypes.OperationTypeInsert {
		t.Fatalf("stream records %v, want INSERT and MODIFY of partner#p-1 only (nothing from the refused put or the cancelled transaction)", seen)
	}
	insert, modify := mine[0].Dynamodb, mine[1].Dynamodb
	if insert.StreamViewType != streamtypes.StreamViewTypeNewAndOldImages {
		t.Errorf("record StreamViewType %s, want NEW_AND_OLD_IMAGES", insert.StreamViewType)
	}
	if img := insert.NewImage; len(img) != 3 || streamS(img, "name") != "Acme" || streamN(img, "credits") != "3" {
		t.Errorf("INSERT NewImage %v, want pk, name Acme, credits 3", img)
	}
	if insert.OldImage != nil {
		t.Errorf("INSERT has an OldImage: %v", insert.OldImage)
	}
	if streamN(modify.OldImage, "credits") != "3" || streamN(modify.NewImage, "credits") != "4" || streamS(modify.NewImage, "name") != "Acme" {
		t.Errorf("MODIFY images old %v new %v, want credits 3 then 4", modify.OldImage, modify.NewImage)
	}
	if aws.ToString(insert.SequenceNumber) == "" || aws.ToString(insert.SequenceNumber) == aws.ToString(modify.SequenceNumber) {
		t.Errorf("sequence numbers %q and %q, want two distinct ones", aws.ToString(insert.SequenceNumber), aws.ToString(modify.SequenceNumber))
	}
}

func streamS(img map[string]streamtypes.AttributeValue, k string) string {
	if v, ok := img[k].(*streamtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func streamN(img map[string]streamtypes.AttributeValue, k string) string {
	if v, ok := img[k].(*streamtypes.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}

func getItem(t *testing.T, table, pk string) map[string]dbtypes.AttributeValue {
	t.Helper()
	out, err := env.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: pk}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("get item %s: %v", pk, err)
	}
	return out.Item
}

func attrS(item map[string]dbtypes.AttributeValue, k string) string {
	if v, ok := item[k].(*dbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func reasonCodes(reasons []dbtypes.CancellationReason) []string {
	codes := make([]string, len(reasons))
	for i, r := range reasons {
		codes[i] = aws.ToString(r.Code)
	}
	return codes
}

// readStream reads every record of the stream from the start of each shard (TRIM_HORIZON),
// following each shard's iterator until it yields no more records.
func readStream(ctx context.Context, streamARN string) ([]streamtypes.Record, error) {
	var records []streamtypes.Record
	var shards []streamtypes.Shard
	var start *string
	for {
		desc, err := env.Streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(streamARN), ExclusiveStartShardId: start})
		if err != nil {
			return nil, fmt.Errorf("describe stream: %w", err)
		}
		shards = append(shards, desc.StreamDescription.Shards...)
		start = desc.StreamDescription.LastEvaluatedShardId
		if start == nil {
			break
		}
	}
	for _, shard := range shards {
		it, err := env.Streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: aws.String(streamARN), ShardId: shard.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			return nil, fmt.Errorf("shard iterator of %s: %w", aws.ToString(shard.ShardId), err)
		}
		iter := it.ShardIterator
		// An open shard always hands back a next iterator; stop at the first empty page.
		for iter != nil {
			page, err := env.Streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				return nil, fmt.Errorf("get records of %s: %w", aws.ToString(shard.ShardId), err)
			}
			records = append(records, page.Records...)
			if len(page.Records) == 0 {
				break
			}
			iter = page.NextShardIterator
		}
	}
	return records, nil
}
