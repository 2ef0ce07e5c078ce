package harness

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Delivery is one item the recorder test function (integration/functions/recorder) wrote: one
// record of one invocation.
type Delivery struct {
	ID             string // SQS message id, EventBridge event id or stream event id
	Invocation     string // the invocation's request id
	Source         string // aws:sqs, aws:events or aws:dynamodb
	BatchSize      int
	Body           string // SQS: the message body
	ReceiveCount   int    // SQS
	DetailType     string // EventBridge
	Envelope       string // EventBridge: the envelope as received
	EventName      string // stream: INSERT, MODIFY, REMOVE
	Keys           string // stream: the keys, as JSON
	NewImage       string // stream: the new image, as JSON
	EventSourceARN string // stream: the stream ARN
}

// Deliveries reads every item of a recorder's table.
func (e *Env) Deliveries(ctx context.Context, table string) ([]Delivery, error) {
	var out []Delivery
	p := dynamodb.NewScanPaginator(e.DynamoDB, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", table, err)
		}
		for _, item := range page.Items {
			s := func(k string) string {
				if v, ok := item[k].(*dynamotypes.AttributeValueMemberS); ok {
					return v.Value
				}
				return ""
			}
			n := func(k string) int {
				if v, ok := item[k].(*dynamotypes.AttributeValueMemberN); ok {
					i, _ := strconv.Atoi(v.Value)
					return i
				}
				return 0
			}
			out = append(out, Delivery{
				ID: s("pk"), Invocation: s("sk"), Source: s("source"), BatchSize: n("batchSize"),
				Body: s("body"), ReceiveCount: n("receiveCount"), DetailType: s("detailType"), Envelope: s("envelope"),
				EventName: s("eventName"), Keys: s("keys"), NewImage: s("newImage"), EventSourceARN: s("eventSourceArn"),
			})
		}
	}
	return out, nil
}

// CreateTable creates an on-demand table in DynamoDB Local keyed pk (string) and sk (of type
// sortKey), waits until it is active, and deletes it when the test ends. Test functions such as
// the recorder and the rotator write to tables of this shape.
func (e *Env) CreateTable(t testing.TB, prefix string, sortKey dynamotypes.ScalarAttributeType) string {
	t.Helper()
	ctx := context.Background()
	name := Name(prefix)
	_, err := e.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []dynamotypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: dynamotypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: sortKey},
		},
		KeySchema: []dynamotypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: dynamotypes.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: dynamotypes.KeyTypeRange},
		},
		BillingMode: dynamotypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := e.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			t.Errorf("delete table %s: %v", name, err)
		}
	})
	if err := dynamodb.NewTableExistsWaiter(e.DynamoDB).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("table %s never became active: %v", name, err)
	}
	return name
}
