package itemread_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/stores/itemread"
)

func TestReaderNamesEachBadAttribute(t *testing.T) {
	r := itemread.New(map[string]types.AttributeValue{
		"s": &types.AttributeValueMemberS{Value: "v"}, "n": &types.AttributeValueMemberN{Value: "7"},
		"t":    &types.AttributeValueMemberS{Value: "2026-11-24T10:30:00.5+01:00"},
		"notS": &types.AttributeValueMemberN{Value: "1"}, "notN": &types.AttributeValueMemberS{Value: "1"},
		"badN": &types.AttributeValueMemberN{Value: "1.5"}, "badT": &types.AttributeValueMemberS{Value: "yesterday"},
	})
	if got := r.String("s", true); got != "v" {
		t.Errorf("String = %q", got)
	}
	if got := r.Number("n", true); got != 7 {
		t.Errorf("Number = %d", got)
	}
	if got, want := r.Time("t", true), time.Date(2026, 11, 24, 9, 30, 0, 5e8, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("Time = %v, want %v in UTC", got, want)
	}
	if r.Err() != nil {
		t.Fatalf("no error expected yet: %v", r.Err())
	}
	r.String("absent-optional", false)
	r.Number("absent-optional", false)
	r.Time("absent-optional", false)
	if r.Err() != nil {
		t.Fatalf("an absent optional attribute is no error: %v", r.Err())
	}
	r.String("absent", true)
	r.String("notS", false)
	r.Number("notN", false)
	r.Number("badN", true)
	r.Time("badT", true)
	msg := r.Err().Error()
	for _, want := range []string{"attribute absent missing or not a string", "attribute notS missing or not a string",
		"attribute notN missing or not a number", "attribute badN: ", "attribute badT: "} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in %q", want, msg)
		}
	}
	if strings.Index(msg, "absent") > strings.Index(msg, "badT") {
		t.Errorf("errors out of order: %q", msg)
	}
}
