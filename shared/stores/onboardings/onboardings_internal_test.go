package onboardings

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
)

var start = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestOnboardingItemRoundTrip(t *testing.T) {
	t.Parallel()
	base := Onboarding{
		ID: "onb-abcdefghijklmnopqrstuvwxyz", PartnerID: "p-x", SecretVersionID: "v", PartnerName: "Acme", Tier: "premium",
		Scopes: []string{"orders:read", "shipments:write"}, IdentityMethod: events.ProofSTS, AccountID: "111122223333",
		ARN: "arn:aws:iam::111122223333:root", PickupTokenHash: "sha256:ab", Status: StatusApproved, Justification: "j",
		PolicyRevision: 2, CreatedAt: start, ExpiresAt: start.Add(7 * 24 * time.Hour), DecidedBy: "arn:aws:iam::123456789012:role/ops",
		DecidedAt: start.Add(time.Hour), Reason: "ok",
	}
	got, err := FromItem(mustItem(t, base))
	if err != nil || fmt.Sprint(got) != fmt.Sprint(base) {
		t.Fatalf("round trip: %+v, %v\nwant %+v", got, err, base)
	}
	if purge := mustItem(t, base)[TTLAttribute].(*types.AttributeValueMemberN).Value; purge != fmt.Sprint(base.ExpiresAt.Add(PurgeAfter).Unix()) {
		t.Errorf("purgeAt %s", purge)
	}
	for name, mutate := range map[string]func(map[string]types.AttributeValue){
		"unknown status":          func(m map[string]types.AttributeValue) { m[attrOnbStatus] = str("maybe") },
		"no token hash":           func(m map[string]types.AttributeValue) { delete(m, attrOnbTokenHash) },
		"epoch disagrees":         func(m map[string]types.AttributeValue) { m[attrOnbExpiresAtEpoch] = num(1) },
		"sts without account":     func(m map[string]types.AttributeValue) { delete(m, attrOnbAccountID) },
		"invite without invite":   func(m map[string]types.AttributeValue) { m[attrOnbIdentityMethod] = str(events.ProofInvite) },
		"unknown identity method": func(m map[string]types.AttributeValue) { m[attrOnbIdentityMethod] = str("oidc") },
		"scopes not a list":       func(m map[string]types.AttributeValue) { m[attrOnbScopes] = str("orders:read") },
	} {
		item := mustItem(t, base)
		mutate(item)
		if _, err := FromItem(item); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func mustItem(t *testing.T, o Onboarding) map[string]types.AttributeValue {
	t.Helper()
	item, err := o.Item()
	if err != nil {
		t.Fatal(err)
	}
	return item
}

func mustPutPending(t *testing.T, table string, o Onboarding) types.TransactWriteItem {
	t.Helper()
	put, err := PutPending(table, o)
	if err != nil {
		t.Fatal(err)
	}
	return put
}
