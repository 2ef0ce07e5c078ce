// Package attrtime is the time every table stores: an S attribute holding RFC 3339 in UTC with
// Go's RFC3339Nano fraction, as the stores' attributevalue codecs marshal and unmarshal it.
package attrtime

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Time is a time.Time stored as an S of RFC 3339 in UTC (RFC3339Nano); read back in UTC.
type Time struct{ time.Time }

var (
	_ attributevalue.Marshaler   = Time{}
	_ attributevalue.Unmarshaler = (*Time)(nil)
)

// Format renders t as the tables store it.
func Format(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// MarshalDynamoDBAttributeValue writes t as an S of RFC 3339 in UTC; the zero time as NULL,
// which MarshalMap leaves out of an item where the field is tagged omitempty.
func (t Time) MarshalDynamoDBAttributeValue() (types.AttributeValue, error) {
	if t.IsZero() {
		return &types.AttributeValueMemberNULL{Value: true}, nil
	}
	return &types.AttributeValueMemberS{Value: Format(t.Time)}, nil
}

// MarshalMap renders v, a struct with dynamodbav tags, as an item: attributevalue.MarshalMap,
// leaving out a zero Time tagged omitempty (a struct is never empty to the encoder).
func MarshalMap(v any) (map[string]types.AttributeValue, error) {
	return attributevalue.MarshalMapWithOptions(v, func(o *attributevalue.EncoderOptions) {
		o.OmitNullAttributeValues = true
	})
}

// UnmarshalDynamoDBAttributeValue reads an S of RFC 3339 into t, in UTC.
func (t *Time) UnmarshalDynamoDBAttributeValue(av types.AttributeValue) error {
	s, ok := av.(*types.AttributeValueMemberS)
	if !ok {
		return fmt.Errorf("a time is an S attribute, not %T", av)
	}
	v, err := time.Parse(time.RFC3339Nano, s.Value)
	if err != nil {
		return err
	}
	t.Time = v.UTC()
	return nil
}
