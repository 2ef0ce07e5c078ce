package invites_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/stores/invites"
)

func sample() invites.Invite {
	return invites.Invite{
		Hash:        "sha256:" + strings.Repeat("ab", 32),
		ID:          "inv-abcdefghijklmnopqrstuvwxyz",
		PartnerName: "Acme Logistics",
		Tier:        "standard",
		Status:      invites.StatusIssued,
		ExpiresAt:   time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		CreatedAt:   time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC),
		CreatedBy:   "arn:aws:iam::123456789012:user/ops",
	}
}

func TestItemRoundTrip(t *testing.T) {
	t.Parallel()
	issued := sample()
	redeemed := sample()
	redeemed.Status = invites.StatusRedeemed
	redeemed.RedeemedBy = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	redeemed.RedeemedAt = time.Date(2026, 11, 24, 8, 30, 0, 5, time.UTC)
	for _, inv := range []invites.Invite{issued, redeemed} {
		item := mustItem(t, inv)
		got, err := invites.FromItem(item)
		if err != nil {
			t.Fatalf("%s: %v", inv.Status, err)
		}
		if got != inv {
			t.Errorf("round trip gave %+v, want %+v", got, inv)
		}
	}
	item := mustItem(t, issued)
	want := map[string]string{
		"inviteHash": issued.Hash, "inviteId": issued.ID, "partnerName": "Acme Logistics", "tier": "standard",
		"status": "issued", "expiresAt": "2026-11-30T12:00:00Z", "createdAt": "2026-11-23T12:00:00.123456Z",
		"createdBy": issued.CreatedBy,
	}
	for k, v := range want {
		if s, ok := item[k].(*types.AttributeValueMemberS); !ok || s.Value != v {
			t.Errorf("attribute %s = %#v, want %q", k, item[k], v)
		}
	}
	for k, v := range map[string]string{"expiresAtEpoch": "1796040000", "purgeAt": "1798632000"} {
		if n, ok := item[k].(*types.AttributeValueMemberN); !ok || n.Value != v {
			t.Errorf("attribute %s = %#v, want %s", k, item[k], v)
		}
	}
	if len(item) != len(want)+2 {
		t.Errorf("issued item has %d attributes, want %d (no redeemedBy/redeemedAt)", len(item), len(want)+2)
	}
}

func TestFromItemRefuses(t *testing.T) {
	t.Parallel()
	without := func(name string) map[string]types.AttributeValue {
		item := mustItem(t, sample())
		delete(item, name)
		return item
	}
	with := func(name string, v types.AttributeValue) map[string]types.AttributeValue {
		item := mustItem(t, sample())
		item[name] = v
		return item
	}
	cases := []struct {
		name string
		item map[string]types.AttributeValue
		want string
	}{
		{"no status", without("status"), "attribute status missing"},
		{"no epoch", without("expiresAtEpoch"), "attribute expiresAtEpoch missing"},
		{"epoch disagrees", with("expiresAtEpoch", &types.AttributeValueMemberN{Value: "1796040001"}), "expiresAtEpoch is 1796040001"},
		{"bad time", with("expiresAt", &types.AttributeValueMemberS{Value: "tomorrow"}), "attribute expiresAt:"},
		{"tier not a string", with("tier", &types.AttributeValueMemberN{Value: "1"}), "attribute tier missing or not a string"},
		{"redeemedAt not a string", with("redeemedAt", &types.AttributeValueMemberN{Value: "1"}), "attribute redeemedAt missing or not a string"},
	}
	for _, c := range cases {
		_, err := invites.FromItem(c.item)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestUsable(t *testing.T) {
	t.Parallel()
	inv := sample()
	redeemed := sample()
	redeemed.Status = invites.StatusRedeemed
	odd := sample()
	odd.Status = "revoked"
	cases := []struct {
		name   string
		inv    invites.Invite
		now    time.Time
		ok     bool
		reason string
	}{
		{"issued, a second before expiry", inv, inv.ExpiresAt.Add(-time.Second), true, ""},
		{"issued, within the last second", inv, inv.ExpiresAt.Add(-time.Millisecond), true, ""},
		{"issued, at expiry", inv, inv.ExpiresAt, false, "expired"},
		{"issued, after expiry", inv, inv.ExpiresAt.Add(time.Hour), false, "expired"},
		{"redeemed", redeemed, inv.CreatedAt, false, "redeemed"},
		{"unknown status", odd, inv.CreatedAt, false, `status "revoked"`},
	}
	for _, c := range cases {
		ok, reason := c.inv.Usable(c.now)
		if ok != c.ok || reason != c.reason {
			t.Errorf("%s: Usable = %v %q, want %v %q", c.name, ok, reason, c.ok, c.reason)
		}
	}
}

func mustItem(t *testing.T, inv invites.Invite) map[string]types.AttributeValue {
	t.Helper()
	item, err := inv.Item()
	if err != nil {
		t.Fatal(err)
	}
	return item
}

func mustPutNew(t *testing.T, table string, inv invites.Invite) *dynamodb.PutItemInput {
	t.Helper()
	put, err := invites.PutNew(table, inv)
	if err != nil {
		t.Fatal(err)
	}
	return put
}
