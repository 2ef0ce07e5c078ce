package streams_test

import (
	"encoding/json"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/lanyardhq/lanyard/local/streams"
)

func TestAttributeValueConversion(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   types.AttributeValue
		want string
	}{
		{"string", &types.AttributeValueMemberS{Value: "partner-1"}, `{"S":"partner-1"}`},
		{"empty string", &types.AttributeValueMemberS{Value: ""}, `{"S":""}`},
		{"number", &types.AttributeValueMemberN{Value: "-12.50"}, `{"N":"-12.50"}`},
		{"big number keeps its digits", &types.AttributeValueMemberN{Value: "123456789012345678901234567890"}, `{"N":"123456789012345678901234567890"}`},
		{"binary is base64", &types.AttributeValueMemberB{Value: []byte{0x00, 0xff, 0x10, 'a'}}, `{"B":"AP8QYQ=="}`},
		{"empty binary", &types.AttributeValueMemberB{}, `{"B":""}`},
		{"string set", &types.AttributeValueMemberSS{Value: []string{"read", "write"}}, `{"SS":["read","write"]}`},
		{"number set", &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}}, `{"NS":["1","2.5"]}`},
		{"binary set", &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}}, `{"BS":["AQ==","AgM="]}`},
		{"null", &types.AttributeValueMemberNULL{Value: true}, `{"NULL":true}`},
		{"bool true", &types.AttributeValueMemberBOOL{Value: true}, `{"BOOL":true}`},
		{"bool false", &types.AttributeValueMemberBOOL{Value: false}, `{"BOOL":false}`},
		{"empty list", &types.AttributeValueMemberL{}, `{"L":[]}`},
		{"empty map", &types.AttributeValueMemberM{}, `{"M":{}}`},
		{"nested", &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"scopes": &types.AttributeValueMemberL{Value: []types.AttributeValue{
				&types.AttributeValueMemberS{Value: "audit:read"},
				&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"n": &types.AttributeValueMemberN{Value: "1"}}},
				&types.AttributeValueMemberNULL{Value: true},
			}},
			"key": &types.AttributeValueMemberB{Value: []byte("k")},
		}}, `{"M":{"key":{"B":"aw=="},"scopes":{"L":[{"S":"audit:read"},{"M":{"n":{"N":"1"}}},{"NULL":true}]}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := streams.AttributeValue(tc.in)
			if err != nil {
				t.Fatalf("AttributeValue: %v", err)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if string(b) != tc.want {
				t.Errorf("got %s, want %s", b, tc.want)
			}
			// The consumer reads the event with aws-lambda-go: the value must come back whole.
			var back lambdaevents.DynamoDBAttributeValue
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("aws-lambda-go cannot read %s: %v", b, err)
			}
			again, _ := json.Marshal(back)
			if string(again) != tc.want {
				t.Errorf("round trip through aws-lambda-go gave %s, want %s", again, tc.want)
			}
		})
	}
}

func TestAttributeValueRejectsUnknownTypes(t *testing.T) {
	for _, in := range []types.AttributeValue{
		&types.UnknownUnionMember{Tag: "VECTOR"},
		nil,
		&types.AttributeValueMemberL{Value: []types.AttributeValue{&types.UnknownUnionMember{Tag: "X"}}},
	} {
		if _, err := streams.AttributeValue(in); err == nil {
			t.Errorf("AttributeValue(%#v) accepted it", in)
		}
	}
}

func TestEventRecord(t *testing.T) {
	created := time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)
	rec := types.Record{
		AwsRegion:    aws.String("ddblocal"),
		EventID:      aws.String("e-1"),
		EventName:    types.OperationTypeRemove,
		EventSource:  aws.String("aws:dynamodb"),
		EventVersion: aws.String("1.1"),
		UserIdentity: &types.Identity{Type: aws.String("Service"), PrincipalId: aws.String("dynamodb.amazonaws.com")},
		Dynamodb: &types.StreamRecord{
			ApproximateCreationDateTime: &created,
			Keys:                        map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "p"}},
			OldImage:                    map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "p"}},
			SequenceNumber:              aws.String("000000000000000000042"),
			SizeBytes:                   aws.Int64(9),
			StreamViewType:              types.StreamViewTypeNewAndOldImages,
		},
	}
	for _, tc := range []struct{ region, want string }{{"", "ddblocal"}, {"eu-west-1", "eu-west-1"}} {
		got, err := streams.EventRecord(rec, testStreamARN, tc.region)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(got)
		want := `{"awsRegion":"` + tc.want + `","dynamodb":{"ApproximateCreationDateTime":1772600767,` +
			`"Keys":{"pk":{"S":"p"}},"OldImage":{"pk":{"S":"p"}},"SequenceNumber":"000000000000000000042",` +
			`"SizeBytes":9,"StreamViewType":"NEW_AND_OLD_IMAGES"},"eventID":"e-1","eventName":"REMOVE",` +
			`"eventSource":"aws:dynamodb","eventVersion":"1.1","eventSourceARN":"` + testStreamARN + `",` +
			`"userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"}}`
		if string(b) != want {
			t.Errorf("got  %s\nwant %s", b, want)
		}
	}
	if _, err := streams.EventRecord(types.Record{EventID: aws.String("x")}, testStreamARN, ""); err == nil {
		t.Error("a record without its dynamodb section was accepted")
	}
}
