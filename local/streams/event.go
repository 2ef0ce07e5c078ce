package streams

import (
	"errors"
	"fmt"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// eventSource and eventVersion are what Lambda puts on every DynamoDB stream record it delivers.
const (
	eventSource  = "aws:dynamodb"
	eventVersion = "1.1"
)

// EventRecord converts one stream record, as GetRecords returns it, into the record a DynamoDB
// event source mapping hands the function: eventSourceARN is the stream's ARN and, when region
// is not empty, awsRegion is region (otherwise the stream record's own, which DynamoDB Local
// reports as "ddblocal"). ApproximateCreationDateTime is whole seconds, as Lambda delivers it.
func EventRecord(r types.Record, streamARN, region string) (lambdaevents.DynamoDBEventRecord, error) {
	if r.Dynamodb == nil {
		return lambdaevents.DynamoDBEventRecord{}, fmt.Errorf("stream record %s has no dynamodb section", aws.ToString(r.EventID))
	}
	d := r.Dynamodb
	seq := aws.ToString(d.SequenceNumber)
	keys, err := Image(d.Keys)
	if err != nil {
		return lambdaevents.DynamoDBEventRecord{}, fmt.Errorf("keys of stream record %s: %w", seq, err)
	}
	newImage, err := Image(d.NewImage)
	if err != nil {
		return lambdaevents.DynamoDBEventRecord{}, fmt.Errorf("new image of stream record %s: %w", seq, err)
	}
	oldImage, err := Image(d.OldImage)
	if err != nil {
		return lambdaevents.DynamoDBEventRecord{}, fmt.Errorf("old image of stream record %s: %w", seq, err)
	}
	if region == "" {
		region = aws.ToString(r.AwsRegion)
	}
	version := aws.ToString(r.EventVersion)
	if version == "" {
		version = eventVersion
	}
	var created time.Time
	if d.ApproximateCreationDateTime != nil {
		created = time.Unix(d.ApproximateCreationDateTime.Unix(), 0).UTC()
	}
	out := lambdaevents.DynamoDBEventRecord{
		AWSRegion: region,
		Change: lambdaevents.DynamoDBStreamRecord{
			ApproximateCreationDateTime: lambdaevents.SecondsEpochTime{Time: created},
			Keys:                        keys,
			NewImage:                    newImage,
			OldImage:                    oldImage,
			SequenceNumber:              seq,
			SizeBytes:                   aws.ToInt64(d.SizeBytes),
			StreamViewType:              string(d.StreamViewType),
		},
		EventID:        aws.ToString(r.EventID),
		EventName:      string(r.EventName),
		EventSource:    eventSource,
		EventVersion:   version,
		EventSourceArn: streamARN,
	}
	if id := r.UserIdentity; id != nil {
		// Time to Live deletions carry the DynamoDB service as the principal.
		out.UserIdentity = &lambdaevents.DynamoDBUserIdentity{Type: aws.ToString(id.Type), PrincipalID: aws.ToString(id.PrincipalId)}
	}
	return out, nil
}

// Image converts an item image (or a key) from the stream's attribute values to the Lambda
// event's. A nil image stays nil, so it is left out of the event as Lambda leaves it out.
func Image(in map[string]types.AttributeValue) (map[string]lambdaevents.DynamoDBAttributeValue, error) {
	if in == nil {
		return nil, nil
	}
	out := make(map[string]lambdaevents.DynamoDBAttributeValue, len(in))
	for name, av := range in {
		v, err := AttributeValue(av)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

// AttributeValue converts one attribute value. Its JSON is DynamoDB's wire form, which is the
// form Lambda delivers: {"S": "…"}, {"N": "12.5"}, {"B": "<base64>"}, {"SS": […]}, {"NS": […]},
// {"BS": [<base64>…]}, {"M": {…}}, {"L": […]}, {"NULL": true}, {"BOOL": true}.
func AttributeValue(av types.AttributeValue) (lambdaevents.DynamoDBAttributeValue, error) {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return lambdaevents.NewStringAttribute(v.Value), nil
	case *types.AttributeValueMemberN:
		return lambdaevents.NewNumberAttribute(v.Value), nil
	case *types.AttributeValueMemberB:
		return lambdaevents.NewBinaryAttribute(nonNil(v.Value)), nil
	case *types.AttributeValueMemberSS:
		return lambdaevents.NewStringSetAttribute(nonNil(v.Value)), nil
	case *types.AttributeValueMemberNS:
		return lambdaevents.NewNumberSetAttribute(nonNil(v.Value)), nil
	case *types.AttributeValueMemberBS:
		return lambdaevents.NewBinarySetAttribute(nonNil(v.Value)), nil
	case *types.AttributeValueMemberBOOL:
		return lambdaevents.NewBooleanAttribute(v.Value), nil
	case *types.AttributeValueMemberNULL:
		return lambdaevents.NewNullAttribute(), nil
	case *types.AttributeValueMemberM:
		m, err := Image(v.Value)
		if err != nil {
			return lambdaevents.DynamoDBAttributeValue{}, err
		}
		if m == nil {
			m = map[string]lambdaevents.DynamoDBAttributeValue{}
		}
		return lambdaevents.NewMapAttribute(m), nil
	case *types.AttributeValueMemberL:
		l := make([]lambdaevents.DynamoDBAttributeValue, 0, len(v.Value))
		for i, item := range v.Value {
			c, err := AttributeValue(item)
			if err != nil {
				return lambdaevents.DynamoDBAttributeValue{}, fmt.Errorf("list element %d: %w", i, err)
			}
			l = append(l, c)
		}
		return lambdaevents.NewListAttribute(l), nil
	case *types.UnknownUnionMember:
		return lambdaevents.DynamoDBAttributeValue{}, fmt.Errorf("attribute type %q is not supported", v.Tag)
	case nil:
		return lambdaevents.DynamoDBAttributeValue{}, errors.New("attribute value is missing")
	default:
		return lambdaevents.DynamoDBAttributeValue{}, fmt.Errorf("attribute value of Go type %T is not supported", av)
	}
}

// nonNil keeps empty values from rendering as JSON null: {"B": ""} and {"SS": []}, never
// {"B": null}.
func nonNil[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}
