package partners_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// StillKeys, and Reissue's condition, hold exactly while the partner's item names the keys
// given: current, previous and pending, "" meaning the attribute is absent.
func TestStillKeys(t *testing.T) {
	t.Parallel()
	const (
		pid             = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa"
		cur, prev, pend = credential.KeyID("kaaaaaaaaaaaaaaaaaaaa"), credential.KeyID("kbbbbbbbbbbbbbbbbbbbb"), credential.KeyID("kcccccccccccccccccccc")
		other           = credential.KeyID("kdddddddddddddddddddd")
	)
	for _, tc := range []struct {
		name                       string
		stored                     [2]credential.KeyID // previous, pending on the item
		current, previous, pending credential.KeyID    // as checked
		holds                      bool
	}{
		{"all three as read", [2]credential.KeyID{prev, pend}, cur, prev, pend, true},
		{"none but the current, as read", [2]credential.KeyID{}, cur, "", "", true},
		{"another current", [2]credential.KeyID{prev, pend}, other, prev, pend, false},
		{"a pending key registered meanwhile", [2]credential.KeyID{prev, pend}, cur, prev, "", false},
		{"the pending key gone meanwhile", [2]credential.KeyID{prev, ""}, cur, prev, pend, false},
		{"another previous", [2]credential.KeyID{other, pend}, cur, prev, pend, false},
		{"a previous key appeared", [2]credential.KeyID{prev, ""}, cur, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := newDB(t)
			item := itemtest.Must(partners.Partner{PartnerID: pid, PartnerName: "Acme", Tier: "standard", Scopes: []string{"orders:read"},
				Status: partners.StatusActive, KeyID: string(cur), SecretARN: "arn:aws:secretsmanager:us-east-1:000000000000:secret:x",
				IdentityMethod: partners.IdentityMethodInvite, CreatedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}.Item())(t)
			for i, name := range []string{partners.AttrPreviousKeyID, partners.AttrPendingKeyID} {
				if tc.stored[i] != "" {
					item[name] = &types.AttributeValueMemberS{Value: string(tc.stored[i])}
				}
			}
			if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(partnersTable), Item: item}); err != nil {
				t.Fatal(err)
			}
			_, err := db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				partners.StillKeys(partnersTable, pid, tc.current, tc.previous, tc.pending)}})
			if got := err == nil; got != tc.holds {
				t.Errorf("holds %t (%v), want %t", got, err, tc.holds)
			}
			// Reissue carries the same condition, and names the replacement alone.
			const secretARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:x/g2-AbCdEf"
			_, err = db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				partners.Reissue(partnersTable, pid, tc.current, tc.previous, tc.pending, other, secretARN)}})
			if got := err == nil; got != tc.holds {
				t.Fatalf("reissue holds %t (%v), want %t", got, err, tc.holds)
			}
			if !tc.holds {
				return
			}
			st, err := (&partners.Store{DB: db, Table: partnersTable}).GetState(t.Context(), pid)
			if err != nil {
				t.Fatal(err)
			}
			if st.KeyID != string(other) || st.SecretARN != secretARN || st.PreviousKeyID != "" || st.PendingKeyID != "" || st.PartnerName != "Acme" {
				t.Errorf("after the reissue: %+v", st)
			}
		})
	}
}
