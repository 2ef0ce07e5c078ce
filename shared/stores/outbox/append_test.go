package outbox_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

func TestAppendFirstRecord(t *testing.T) {
	t.Parallel()
	d := onboarded("p-1", at(0))
	rec, items, err := outbox.Append("tbl", outbox.Head{Chain: "p-1", Seq: 0, Hash: outbox.GenesisHash}, d)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Seq != 1 || rec.PrevHash != outbox.GenesisHash || rec.EventID != d.EventID || rec.DetailType != events.TypePartnerOnboarded ||
		!rec.Time.Equal(d.Time) || rec.Hash != rec.ComputeHash() {
		t.Errorf("record %+v", rec)
	}
	_, detail, _ := events.Marshal(d)
	if string(rec.Detail) != string(detail) {
		t.Errorf("detail %s, want events.Marshal's %s", rec.Detail, detail)
	}
	if len(items) != outbox.OutboxItems || items[0].Put == nil || items[1].Update == nil {
		t.Fatalf("items %+v, want a Put then an Update", items)
	}
	put, upd := items[0].Put, items[1].Update
	if aws.ToString(put.TableName) != "tbl" || aws.ToString(put.ConditionExpression) != "attribute_not_exists(#pk)" || put.ExpressionAttributeNames["#pk"] != "chain" {
		t.Errorf("put %+v", put)
	}
	if got, err := outbox.RecordFromItem(put.Item); err != nil || !sameRecord(got, rec) {
		t.Errorf("the put's item is %+v (%v), want the record", got, err)
	}
	if p, s, _ := outbox.KeyOf(upd.Key); p != "p-1" || s != outbox.HeadSeq {
		t.Errorf("update key %v, want the head", upd.Key)
	}
	if aws.ToString(upd.ConditionExpression) != "attribute_not_exists(#pk)" {
		t.Errorf("first record's head condition %q", aws.ToString(upd.ConditionExpression))
	}
	if n := upd.ExpressionAttributeValues[":seq"].(*types.AttributeValueMemberN).Value; n != "1" {
		t.Errorf("head moves to seq %s", n)
	}
}

func TestAppendNextRecordIsGuardedByTheHeadRead(t *testing.T) {
	t.Parallel()
	head := outbox.Head{Chain: "p-1", Seq: 41, Hash: strings.Repeat("ab", 32)}
	rec, items, err := outbox.Append("tbl", head, issued("p-1", at(0)))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Seq != 42 || rec.PrevHash != head.Hash {
		t.Errorf("record seq %d prevHash %s", rec.Seq, rec.PrevHash)
	}
	upd := items[1].Update
	if aws.ToString(upd.ConditionExpression) != "#headSeq = :prevSeq AND #headHash = :prevHash" {
		t.Errorf("head condition %q", aws.ToString(upd.ConditionExpression))
	}
	v := upd.ExpressionAttributeValues
	if v[":prevSeq"].(*types.AttributeValueMemberN).Value != "41" || v[":prevHash"].(*types.AttributeValueMemberS).Value != head.Hash ||
		v[":seq"].(*types.AttributeValueMemberN).Value != "42" || v[":hash"].(*types.AttributeValueMemberS).Value != rec.Hash {
		t.Errorf("head values %v", v)
	}
}

func TestAppendRefuses(t *testing.T) {
	t.Parallel()
	genesis := outbox.Head{Chain: "p-1", Hash: outbox.GenesisHash}
	noID := onboarded("p-1", at(0))
	noID.EventID = ""
	noTime := onboarded("p-1", at(0))
	noTime.Time = time.Time{}
	cases := []struct {
		name string
		head outbox.Head
		d    events.Detail
		want string
	}{
		{"no event", genesis, nil, "no event"},
		{"another partner's event", genesis, onboarded("p-2", at(0)), `for partner "p-2"`},
		{"no event id", genesis, noID, "no eventId"},
		{"no time", genesis, noTime, "no time"},
		{"head without partner", outbox.Head{Hash: outbox.GenesisHash}, onboarded("", at(0)), "names no chain"},
		{"head at 0 with a hash", outbox.Head{Chain: "p-1", Hash: strings.Repeat("a", 64)}, onboarded("p-1", at(0)), "malformed head"},
		{"head past 0 with the genesis hash", outbox.Head{Chain: "p-1", Seq: 3, Hash: outbox.GenesisHash}, onboarded("p-1", at(0)), "malformed head"},
		{"head hash not hex", outbox.Head{Chain: "p-1", Seq: 3, Hash: strings.Repeat("G", 64)}, onboarded("p-1", at(0)), "malformed head"},
	}
	for _, c := range cases {
		_, _, err := outbox.Append("tbl", c.head, c.d)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	_, _, err := outbox.Append("tbl", genesis, borrowed{onboarded("p-1", at(0))})
	if !errors.Is(err, events.ErrUnknownDetailType) {
		t.Errorf("unknown detail type: %v", err)
	}
}

// borrowed is an event type events/ does not define.
type borrowed struct{ *events.PartnerOnboarded }

func (borrowed) DetailType() string { return "Credential Borrowed" }
