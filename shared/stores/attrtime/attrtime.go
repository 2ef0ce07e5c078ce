// Package attrtime is the time every table stores: an S attribute holding RFC 3339 in UTC with
// Go's RFC3339Nano fraction, as the stores' attributevalue codecs marshal and unmarshal it.
package attrtime

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Time is a time.Time stored as an S of RFC 3339 in UTC (RFC3339Nano); read back in UTC. An
// attribute present only once its time is set is a *Time tagged omitempty (see Opt): the
// encoder never counts a struct as empty.
type Time struct{ time.Time }

var (
	_ attributevalue.Marshaler   = Time{}
	_ attributevalue.Unmarshaler = (*Time)(nil)
)

// Of is t as a Time.
func Of(t time.Time) Time { return Time{Time: t} }

// Opt is t as a *Time, nil for the zero time: a field of this type tagged omitempty is left
// out of the item until its time is set.
func Opt(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	return &Time{Time: t}
}

// Get is the time t holds; the zero time for nil.
func (t *Time) Get() time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// Format renders t as the tables store it.
func Format(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// MarshalDynamoDBAttributeValue writes t as an S of RFC 3339 in UTC.
func (t Time) MarshalDynamoDBAttributeValue() (types.AttributeValue, error) {
	return &types.AttributeValueMemberS{Value: Format(t.Time)}, nil
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
