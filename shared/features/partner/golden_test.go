package partner_test

import (
	"flag"
	"reflect"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/features/partner"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// goldenZone is not UTC: the codec must store times in UTC.
var goldenZone = time.FixedZone("UTC+1", 3600)

func goldenPartners() map[string]partner.Partner {
	invite := partner.Partner{
		PartnerID: "p-abcdefghijklmnopqrstuvwxyz", PartnerName: "Acme Ünïcode", Tier: "standard",
		Scopes: []string{"orders:write", "orders:read"}, Status: partner.StatusActive, KeyID: "kabcdefghijklmnopqrst",
		SecretARN:      "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lanyard/partner/p-abcdefghijklmnopqrstuvwxyz-AbCdEf",
		IdentityMethod: partner.IdentityMethodInvite, InviteID: "inv-abcdefghijklmnopqrstuvwxyz",
		Justification: "within tier", PolicyRevision: 7,
		CreatedAt: time.Date(2026, 3, 14, 10, 26, 53, 589793000, goldenZone),
	}
	sts := invite
	sts.IdentityMethod = partner.IdentityMethodSTS
	sts.InviteID = ""
	sts.AccountID = "123456789012"
	sts.ARN = "arn:aws:iam::123456789012:role/partner"
	sts.Scopes = []string{}
	sts.Justification = ""
	sts.PolicyRevision = 0
	sts.CreatedAt = time.Date(2026, 3, 14, 10, 26, 53, 0, goldenZone)
	return map[string]partner.Partner{"invite": invite, "sts": sts}
}

// TestPartnerItemGolden holds the partner item to its attribute maps in testdata/golden, and
// each golden item reads back as the partner it was made from.
func TestPartnerItemGolden(t *testing.T) {
	for name, p := range goldenPartners() {
		t.Run(name, func(t *testing.T) {
			stored := itemtest.GoldenItem(t, "golden/partner-"+name, p.Item(), *updateGolden)
			back, err := partner.FromItem(stored)
			if err != nil {
				t.Fatal(err)
			}
			want := itemtest.InUTC(p)
			if len(p.Scopes) > 0 {
				want.Scopes = []string{"orders:read", "orders:write"}
			}
			if !reflect.DeepEqual(back, want) {
				t.Errorf("reads back as %+v, want %+v", back, want)
			}
			itemtest.GoldenTransactItems(t, "golden/tx-partner-put-new-"+name, *updateGolden, partner.PutNew("partners", p))
		})
	}
}
