package invite_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// inviteCodeRE is the InviteCode schema of shared/domain/openapi/openapi.json, with its length bounds.
var inviteCodeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)

func TestNewCodeShape(t *testing.T) {
	t.Parallel()
	if invite.CodeLength != 52 {
		t.Errorf("CodeLength %d, want 52", invite.CodeLength)
	}
	seen := map[string]bool{}
	counts := map[byte]int{}
	for range 2000 {
		code := invite.NewCode()
		s := code.Reveal()
		if !strings.HasPrefix(s, invite.CodePrefix) || len(s) != 52 {
			t.Fatalf("a code of length %d does not have the invite code shape", len(s))
		}
		if !inviteCodeRE.MatchString(s) || !invite.WellFormed(code) {
			t.Fatal("a new code does not match the InviteCode schema or WellFormed")
		}
		if seen[s] {
			t.Fatal("two codes alike")
		}
		seen[s] = true
		for i := len(invite.CodePrefix); i < len(s); i++ {
			counts[s[i]]++
		}
	}
	// 2000·43 characters over 62 symbols: about 1387 each. Every symbol shows up, none twice
	// as often as it should (a modulo bias or a short alphabet would).
	if len(counts) != 62 {
		t.Errorf("%d distinct characters, want 62", len(counts))
	}
	for c, n := range counts {
		if n < 1000 || n > 1800 {
			t.Errorf("character %q appears %d times, want about 1387", c, n)
		}
	}
}

func TestWellFormed(t *testing.T) {
	t.Parallel()
	good := invite.NewCode().Reveal()
	cases := []struct {
		name string
		code string
		want bool
	}{
		{"new", good, true},
		{"empty", "", false},
		{"prefix only", invite.CodePrefix, false},
		{"one short", good[:len(good)-1], false},
		{"one long", good + "a", false},
		{"wrong prefix", "lnyd_inx_" + good[len(invite.CodePrefix):], false},
		{"dash in the body", good[:20] + "-" + good[21:], false},
		{"underscore in the body", good[:20] + "_" + good[21:], false},
		{"multibyte", good[:20] + "é" + good[22:], false},
	}
	for _, c := range cases {
		if got := invite.WellFormed(secret.New(c.code)); got != c.want {
			t.Errorf("%s: WellFormed = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	// SHA-256("abc"), FIPS 180-2 appendix B.1.
	if got := invite.Hash(secret.New("abc")); got != "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Hash(abc) = %s", got)
	}
	code := invite.NewCode()
	if invite.Hash(code) != invite.Hash(secret.New(code.Reveal())) || invite.Hash(code) == invite.Hash(invite.NewCode()) {
		t.Error("Hash is not a function of the code alone")
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^inv-[a-z2-7]{26}$`)
	a, b := invite.NewID(), invite.NewID()
	if !re.MatchString(a) || !re.MatchString(b) || a == b {
		t.Errorf("ids %q %q", a, b)
	}
}

func sample() invite.Invite {
	return invite.Invite{
		Hash:        invite.Hash(secret.New("lnyd_inv_sample")),
		ID:          "inv-abcdefghijklmnopqrstuvwxyz",
		PartnerName: "Acme Logistics",
		Tier:        "standard",
		Status:      invite.StatusIssued,
		ExpiresAt:   time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		CreatedAt:   time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC),
		CreatedBy:   "arn:aws:iam::123456789012:user/ops",
	}
}

func TestItemRoundTrip(t *testing.T) {
	t.Parallel()
	issued := sample()
	redeemed := sample()
	redeemed.Status = invite.StatusRedeemed
	redeemed.RedeemedBy = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	redeemed.RedeemedAt = time.Date(2026, 11, 24, 8, 30, 0, 5, time.UTC)
	for _, inv := range []invite.Invite{issued, redeemed} {
		item := inv.Item()
		got, err := invite.FromItem(item)
		if err != nil {
			t.Fatalf("%s: %v", inv.Status, err)
		}
		if got != inv {
			t.Errorf("round trip gave %+v, want %+v", got, inv)
		}
	}
	item := issued.Item()
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
		item := sample().Item()
		delete(item, name)
		return item
	}
	with := func(name string, v types.AttributeValue) map[string]types.AttributeValue {
		item := sample().Item()
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
		_, err := invite.FromItem(c.item)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestUsable(t *testing.T) {
	t.Parallel()
	inv := sample()
	redeemed := sample()
	redeemed.Status = invite.StatusRedeemed
	odd := sample()
	odd.Status = "revoked"
	cases := []struct {
		name   string
		inv    invite.Invite
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
