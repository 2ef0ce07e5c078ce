package outbox_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/topology"
)

// The vector a verifier in any language can check itself against. The hash was computed
// outside Go, from the encoding the package documentation describes:
//
//	printf '%s' '<canonical below>' | sha256sum
func TestCanonicalEncodingVector(t *testing.T) {
	t.Parallel()
	r := outbox.Record{
		Chain:      "p-acme",
		Seq:        1,
		EventID:    "019ab0c4-1f2e-7d3c-8b4a-5e6f7a8b9c01",
		DetailType: "Partner Onboarded",
		Detail:     json.RawMessage(`{"eventId":"019ab0c4-1f2e-7d3c-8b4a-5e6f7a8b9c01","partnerId":"p-acme","note":"é"}`),
		Time:       time.Date(2026, 11, 23, 13, 0, 0, 500_000_000, time.FixedZone("CET", 3600)),
		PrevHash:   outbox.GenesisHash,
	}
	const canonical = `17:lanyard.outbox.v1,6:p-acme,1:1,36:019ab0c4-1f2e-7d3c-8b4a-5e6f7a8b9c01,17:Partner Onboarded,` +
		`22:2026-11-23T12:00:00.5Z,64:0000000000000000000000000000000000000000000000000000000000000000,` +
		`83:{"eventId":"019ab0c4-1f2e-7d3c-8b4a-5e6f7a8b9c01","partnerId":"p-acme","note":"é"},`
	const hash = "f2abcc56c44fcde3bc61b35f786d0d5eca42933413cbdd1c814e672d978ef982"
	if got := string(r.Canonical()); got != canonical {
		t.Errorf("canonical encoding\n got %s\nwant %s", got, canonical)
	}
	if got := r.ComputeHash(); got != hash {
		t.Errorf("hash %s, want %s", got, hash)
	}
}

// Moving bytes from one field to the next changes the encoding: the length prefixes keep the
// fields apart.
func TestCanonicalEncodingKeepsFieldsApart(t *testing.T) {
	t.Parallel()
	base := outbox.Record{Chain: "p-1", Seq: 1, EventID: "e", DetailType: "d", Detail: json.RawMessage(`{}`), PrevHash: outbox.GenesisHash,
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	shifted := base
	shifted.Chain, shifted.EventID = "p-1e", ""
	if base.ComputeHash() == shifted.ComputeHash() {
		t.Error("moving a byte from eventId into partnerId kept the hash")
	}
	later := base
	later.Seq = 11
	if base.ComputeHash() == later.ComputeHash() {
		t.Error("another seq kept the hash")
	}
	marked := base
	marked.PublishedAt, marked.BusEventID = time.Now(), "bus-1"
	if base.ComputeHash() != marked.ComputeHash() {
		t.Error("the relay's marks changed the hash")
	}
}

func TestFormatTime(t *testing.T) {
	t.Parallel()
	for in, want := range map[time.Time]string{
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC):                             "2026-01-02T03:04:05Z",
		time.Date(2026, 1, 2, 3, 4, 5, 120_000_000, time.UTC):                   "2026-01-02T03:04:05.12Z",
		time.Date(2026, 1, 2, 3, 4, 5, 123_456_789, time.UTC):                   "2026-01-02T03:04:05.123456789Z",
		time.Date(2026, 1, 2, 4, 4, 5, 0, time.FixedZone("", 3600)):             "2026-01-02T03:04:05Z",
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Nanosecond * 1000): "2026-01-02T03:04:05.000001Z",
	} {
		if got := outbox.FormatTime(in); got != want {
			t.Errorf("FormatTime(%v) = %s, want %s", in, got, want)
		}
	}
}

// The package's key names are the production declaration's.
func TestKeysMatchTheDeclaration(t *testing.T) {
	t.Parallel()
	tb, ok := topology.Lanyard().Table("outbox")
	if !ok {
		t.Fatal("the production topology declares no outbox table")
	}
	if tb.PartitionKey != (topology.Attr{Name: outbox.PartitionKey, Type: topology.AttrString}) ||
		tb.SortKey == nil || *tb.SortKey != (topology.Attr{Name: outbox.SortKey, Type: topology.AttrNumber}) {
		t.Errorf("declared keys %+v / %+v, want %s (S) / %s (N)", tb.PartitionKey, tb.SortKey, outbox.PartitionKey, outbox.SortKey)
	}
	if tb.Stream != topology.StreamNewImage {
		t.Errorf("declared stream %q, want NEW_IMAGE", tb.Stream)
	}
}

func TestRecordItemRoundTrip(t *testing.T) {
	t.Parallel()
	rec, _, err := outbox.Append("outbox", outbox.Head{Chain: "p-1", Hash: outbox.GenesisHash}, onboarded("p-1", at(0)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := outbox.RecordFromItem(itemtest.Must(rec.Item())(t))
	if err != nil {
		t.Fatal(err)
	}
	if !sameRecord(got, rec) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, rec)
	}
	rec.PublishedAt, rec.BusEventID = at(5*time.Second), "bus-1"
	got, err = outbox.RecordFromItem(itemtest.Must(rec.Item())(t))
	if err != nil || !got.PublishedAt.Equal(rec.PublishedAt) || got.BusEventID != "bus-1" {
		t.Errorf("round trip of a published record: %+v, %v", got, err)
	}
}

func TestRecordFromItemRefusesWhatIsNotARecord(t *testing.T) {
	t.Parallel()
	rec, _, err := outbox.Append("outbox", outbox.Head{Chain: "p-1", Hash: outbox.GenesisHash}, onboarded("p-1", at(0)))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		change func(map[string]types.AttributeValue)
		want   string
	}{
		"the head":         {func(i map[string]types.AttributeValue) { i["seq"] = &types.AttributeValueMemberN{Value: "0"} }, "chain head"},
		"no chain":         {func(i map[string]types.AttributeValue) { delete(i, "chain") }, "chain"},
		"seq not a number": {func(i map[string]types.AttributeValue) { i["seq"] = &types.AttributeValueMemberS{Value: "1"} }, "number seq"},
		"negative seq":     {func(i map[string]types.AttributeValue) { i["seq"] = &types.AttributeValueMemberN{Value: "-1"} }, "from 0 up"},
		"no hash":          {func(i map[string]types.AttributeValue) { delete(i, "hash") }, "hash missing"},
		"time not canonical": {func(i map[string]types.AttributeValue) {
			i["time"] = &types.AttributeValueMemberS{Value: "2026-01-02T03:04:05+00:00"}
		}, "canonical"},
		"detail not a string": {func(i map[string]types.AttributeValue) { i["detail"] = &types.AttributeValueMemberN{Value: "1"} }, "detail"},
	}
	for name, c := range cases {
		item := itemtest.Must(rec.Item())(t)
		c.change(item)
		if _, err := outbox.RecordFromItem(item); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.want)
		}
	}
}

func TestRecordEventDecodesItsOwnEvent(t *testing.T) {
	t.Parallel()
	rec, _, err := outbox.Append("outbox", outbox.Head{Chain: "p-1", Hash: outbox.GenesisHash}, onboarded("p-1", at(0)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := rec.Event()
	if err != nil {
		t.Fatal(err)
	}
	if po, ok := d.(*events.PartnerOnboarded); !ok || po.EventID != rec.EventID || po.PartnerName != "Acme" {
		t.Errorf("decoded %#v", d)
	}
	other := rec
	other.EventID = "another"
	if _, err := other.Event(); err == nil {
		t.Error("a record whose detail is another event decoded")
	}
	unknown := rec
	unknown.DetailType = "Credential Borrowed"
	if _, err := unknown.Event(); !errors.Is(err, events.ErrUnknownDetailType) {
		t.Errorf("unknown detail type: %v", err)
	}
}

// sameRecord compares records, times by instant.
func sameRecord(a, b outbox.Record) bool {
	return a.Chain == b.Chain && a.Seq == b.Seq && a.EventID == b.EventID && a.DetailType == b.DetailType &&
		string(a.Detail) == string(b.Detail) && a.Time.Equal(b.Time) && a.PrevHash == b.PrevHash && a.Hash == b.Hash &&
		a.PublishedAt.Equal(b.PublishedAt) && a.BusEventID == b.BusEventID
}

var epoch = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return epoch.Add(d) }

func onboarded(partner string, now time.Time) *events.PartnerOnboarded {
	return &events.PartnerOnboarded{
		Meta:        events.NewMeta(partner, events.Actor{Kind: events.ActorOps, ID: "arn:aws:iam::123456789012:role/ops"}, now),
		PartnerName: "Acme", Tier: "standard", Scopes: []string{"orders:read"},
		Identity: events.Identity{Method: events.ProofInvite}, Justification: "within tier",
	}
}

func issued(partner string, now time.Time) *events.CredentialIssued {
	return &events.CredentialIssued{
		Meta:  events.NewMeta(partner, events.Actor{Kind: events.ActorSystem, ID: "onboarding"}, now),
		KeyID: "k-" + partner, SecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + partner,
		Scopes: []string{"orders:read"}, NotBefore: now, ExpiresAt: now.Add(90 * 24 * time.Hour),
	}
}
