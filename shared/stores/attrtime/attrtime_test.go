package attrtime_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/stores/attrtime"
)

func TestTimeRoundTrip(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("UTC+1", 3600)
	for _, tt := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 3, 14, 10, 26, 53, 589793000, zone), "2026-03-14T09:26:53.589793Z"},
		{time.Date(2026, 3, 14, 10, 26, 53, 0, zone), "2026-03-14T09:26:53Z"},
		{time.Date(2026, 3, 14, 10, 26, 53, 120000000, time.UTC), "2026-03-14T10:26:53.12Z"},
	} {
		av, err := attributevalue.Marshal(attrtime.Time{Time: tt.in})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(av, &types.AttributeValueMemberS{Value: tt.want}) {
			t.Errorf("%s stored as %#v, want S %q", tt.in, av, tt.want)
		}
		var back attrtime.Time
		if err := attributevalue.Unmarshal(av, &back); err != nil || !back.Equal(tt.in) || back.Location() != time.UTC {
			t.Errorf("%q read back as %s, %v", tt.want, back, err)
		}
	}
	var back attrtime.Time
	if err := attributevalue.Unmarshal(&types.AttributeValueMemberN{Value: "1"}, &back); err == nil {
		t.Error("an N read as a time")
	}
	type item struct {
		At *attrtime.Time `dynamodbav:"at,omitempty"`
	}
	if m, err := attributevalue.MarshalMap(item{At: attrtime.Opt(time.Time{})}); err != nil || len(m) != 0 {
		t.Errorf("a zero optional time stored as %v, %v", m, err)
	}
	at := time.Date(2026, 3, 14, 10, 26, 53, 0, time.UTC)
	if m, err := attributevalue.MarshalMap(item{At: attrtime.Opt(at)}); err != nil || !reflect.DeepEqual(m["at"], &types.AttributeValueMemberS{Value: "2026-03-14T10:26:53Z"}) {
		t.Errorf("an optional time stored as %v, %v", m, err)
	}
	if got := attrtime.Opt(at).Get(); !got.Equal(at) {
		t.Errorf("Get %s", got)
	}
	if got := (*attrtime.Time)(nil).Get(); !got.IsZero() {
		t.Errorf("nil Get %s", got)
	}
}
