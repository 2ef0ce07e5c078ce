package outboxtest

import (
	"fmt"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
)

// StreamARN is the stream the fake's events say they come from.
const StreamARN = "arn:aws:dynamodb:us-east-1:000000000000:table/outbox/stream/2026-01-01T00:00:00.000"

// StreamEvent renders changes as the event a DynamoDB event source mapping delivers from a
// NEW_IMAGE stream: keys and new image, no old image, sequence numbers in order.
func StreamEvent(changes []dynamodbtest.Change) lambdaevents.DynamoDBEvent {
	ev := lambdaevents.DynamoDBEvent{Records: make([]lambdaevents.DynamoDBEventRecord, 0, len(changes))}
	for i, c := range changes {
		seq := fmt.Sprintf("%021d", i+1)
		ev.Records = append(ev.Records, lambdaevents.DynamoDBEventRecord{
			AWSRegion: "us-east-1",
			Change: lambdaevents.DynamoDBStreamRecord{
				Keys:           Image(c.Keys),
				NewImage:       Image(c.NewImage),
				SequenceNumber: seq,
				StreamViewType: string(lambdaevents.DynamoDBStreamViewTypeNewImage),
			},
			EventID:        fmt.Sprintf("event-%s", seq),
			EventName:      c.EventName,
			EventSource:    "aws:dynamodb",
			EventVersion:   "1.1",
			EventSourceArn: StreamARN,
		})
	}
	return ev
}

// InsertEvent renders items as the INSERT records their first write puts on a NEW_IMAGE stream;
// keys are the items' attributes named in keyNames.
func InsertEvent(keyNames []string, items ...dynamodbtest.Item) lambdaevents.DynamoDBEvent {
	changes := make([]dynamodbtest.Change, 0, len(items))
	for _, it := range items {
		keys := dynamodbtest.Item{}
		for _, k := range keyNames {
			keys[k] = it[k]
		}
		changes = append(changes, dynamodbtest.Change{EventName: "INSERT", Keys: keys, NewImage: it})
	}
	return StreamEvent(changes)
}

// Image converts an item to the attribute values of a Lambda stream event (nil stays nil).
func Image(it dynamodbtest.Item) map[string]lambdaevents.DynamoDBAttributeValue {
	if it == nil {
		return nil
	}
	out := make(map[string]lambdaevents.DynamoDBAttributeValue, len(it))
	for k, v := range it {
		out[k] = value(v)
	}
	return out
}

func value(v types.AttributeValue) lambdaevents.DynamoDBAttributeValue {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return lambdaevents.NewStringAttribute(x.Value)
	case *types.AttributeValueMemberN:
		return lambdaevents.NewNumberAttribute(x.Value)
	case *types.AttributeValueMemberB:
		return lambdaevents.NewBinaryAttribute(x.Value)
	case *types.AttributeValueMemberBOOL:
		return lambdaevents.NewBooleanAttribute(x.Value)
	case *types.AttributeValueMemberSS:
		return lambdaevents.NewStringSetAttribute(x.Value)
	case *types.AttributeValueMemberNS:
		return lambdaevents.NewNumberSetAttribute(x.Value)
	case *types.AttributeValueMemberBS:
		return lambdaevents.NewBinarySetAttribute(x.Value)
	case *types.AttributeValueMemberM:
		return lambdaevents.NewMapAttribute(Image(x.Value))
	case *types.AttributeValueMemberL:
		l := make([]lambdaevents.DynamoDBAttributeValue, len(x.Value))
		for i, e := range x.Value {
			l[i] = value(e)
		}
		return lambdaevents.NewListAttribute(l)
	}
	return lambdaevents.NewNullAttribute()
}
