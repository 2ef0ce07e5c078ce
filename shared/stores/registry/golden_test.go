package registry_test

import (
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// goldenZone is not UTC: the codec must store times in UTC.
var goldenZone = time.FixedZone("UTC+1", 3600)

func goldenTime(d time.Duration) time.Time {
	return time.Date(2026, 3, 14, 10, 26, 53, 589793000, goldenZone).Add(d)
}

const goldenKeyID credential.KeyID = "kabcdefghijklmnopqrst"

func goldenEntries(t *testing.T) map[string]registry.Entry {
	t.Helper()
	v, err := credential.ParseVerifier("sha256:" + strings.Repeat("0123456789abcdef", 4))
	if err != nil {
		t.Fatal(err)
	}
	active := registry.Entry{
		KeyID: goldenKeyID, PartnerID: "p-abcdefghijklmnopqrstuvwxyz", Verifier: v,
		Scopes: []string{"orders:write", "orders:read"}, Tier: "standard", Status: registry.StatusActive,
		NotBefore: goldenTime(0), NotAfter: goldenTime(90 * 24 * time.Hour),
		SecretARN:       "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lanyard/partner/p-abcdefghijklmnopqrstuvwxyz-AbCdEf",
		SecretVersionID: "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8", CreatedAt: goldenTime(-time.Second),
	}
	previous := active
	previous.Scopes = []string{}
	previous.Status = registry.StatusPrevious
	previous.GraceUntil = goldenTime(7 * 24 * time.Hour)
	previous.AcknowledgedAt = goldenTime(time.Hour)
	previous.RetireAt = goldenTime(2 * time.Hour)
	previous.GraceWarnedAt = goldenTime(30 * time.Minute)
	retired := previous
	retired.Status = registry.StatusRetired
	retired.RetiredAt = goldenTime(3 * time.Hour).Truncate(time.Second)
	retired.FlushPending = true
	pending := active
	pending.Status = registry.StatusPending
	pending.NotBefore = goldenTime(0).Truncate(time.Second)
	revoked := previous
	revoked.Status = registry.StatusRevoked
	revoked.RevokedAt = goldenTime(90 * time.Minute)
	return map[string]registry.Entry{"active": active, "previous": previous, "retired": retired, "pending": pending, "revoked": revoked}
}

// TestEntryItemGolden holds each shape of a registry item to its attribute map in
// testdata/golden, and each golden item reads back as the entry it was made from.
func TestEntryItemGolden(t *testing.T) {
	for name, e := range goldenEntries(t) {
		t.Run(name, func(t *testing.T) {
			stored := itemtest.GoldenItem(t, "golden/entry-"+name, itemtest.Must(e.Item())(t), *updateGolden)
			back, err := registry.EntryFromItem(stored)
			if err != nil {
				t.Fatal(err)
			}
			want := itemtest.InUTC(e)
			want.Scopes = []string{"orders:read", "orders:write"}
			if len(e.Scopes) == 0 {
				want.Scopes = []string{}
			}
			if !reflect.DeepEqual(back, want) {
				t.Errorf("reads back as %+v, want %+v", back, want)
			}
		})
	}
}

// TestTransitionItemsGolden holds the transaction items that write the registry to
// testdata/golden.
func TestTransitionItemsGolden(t *testing.T) {
	e := goldenEntries(t)["active"]
	flush := registry.FlushDone("credentials", goldenKeyID)
	for name, item := range map[string]types.TransactWriteItem{
		"put-new":           itemtest.Must(registry.PutNew("credentials", e))(t),
		"activate":          registry.Activate("credentials", goldenKeyID),
		"supersede":         registry.Supersede("credentials", goldenKeyID, goldenTime(time.Hour)),
		"retire":            registry.Retire("credentials", goldenKeyID, registry.StatusPending, goldenTime(time.Hour)),
		"acknowledge":       registry.Acknowledge("credentials", goldenKeyID, goldenTime(time.Hour), goldenTime(2*time.Hour)),
		"warn-grace-ending": registry.WarnGraceEnding("credentials", goldenKeyID, goldenTime(time.Hour)),
		"revoke":            itemtest.Must(registry.Revoke("credentials", goldenKeyID, registry.StatusPrevious, goldenTime(time.Hour)))(t),
		"still-status":      registry.StillStatus("credentials", goldenKeyID, registry.StatusActive),
		"retire-due":        registry.RetireDue("credentials", goldenKeyID, goldenTime(time.Hour)),
		"flush-done": {Update: &types.Update{
			TableName: flush.TableName, Key: flush.Key, UpdateExpression: flush.UpdateExpression,
			ConditionExpression: flush.ConditionExpression, ExpressionAttributeNames: flush.ExpressionAttributeNames,
			ExpressionAttributeValues: flush.ExpressionAttributeValues,
		}},
	} {
		t.Run(name, func(t *testing.T) {
			itemtest.GoldenTransactItems(t, "golden/tx-"+name, *updateGolden, item)
		})
	}
}
