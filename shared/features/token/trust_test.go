package token_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/lanyardhq/lanyard/shared/features/token"
)

// The trust policy admits its principal alone, with the partner tag required and only the
// partner and key tags allowed, none transitive. (infra's construct is held equal to it.)
func TestTrustPolicy(t *testing.T) {
	t.Parallel()
	doc, err := token.TrustPolicy("arn:aws:iam::123456789012:role/token")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Version   string
		Statement []struct {
			Effect    string
			Principal map[string]string
			Action    string
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != "2012-10-17" || len(got.Statement) != 2 {
		t.Fatalf("%s", doc)
	}
	for i, s := range got.Statement {
		if s.Effect != "Allow" || !reflect.DeepEqual(s.Principal, map[string]string{"AWS": "arn:aws:iam::123456789012:role/token"}) {
			t.Errorf("statement %d: %+v", i, s)
		}
		if s.Condition["Null"]["aws:RequestTag/partner"] != "false" {
			t.Errorf("statement %d does not require the partner tag", i)
		}
	}
	if got.Statement[0].Action != "sts:AssumeRole" || got.Statement[1].Action != "sts:TagSession" {
		t.Errorf("actions %s, %s", got.Statement[0].Action, got.Statement[1].Action)
	}
	tagSession := got.Statement[1].Condition
	if !reflect.DeepEqual(tagSession["ForAllValues:StringEquals"]["aws:TagKeys"], []any{"key", "partner"}) || tagSession["Null"]["sts:TransitiveTagKeys"] != "true" {
		t.Errorf("tag conditions %v", tagSession)
	}
}
