package invite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/ddbfault"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/invites"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

const (
	invitesTable  = "invites"
	partnersTable = "partners"
	opsARN        = "arn:aws:iam::123456789012:role/ops"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 250_000_000, time.UTC)

const outboxTable = "outbox"

// clock is a settable Now.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newStore(t *testing.T) (*invite.Store, *dynamodbtest.DynamoDB, *clock) {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable(invitesTable, dynamodbtest.KeyAttr{Name: "inviteHash", Type: types.ScalarAttributeTypeS}, nil)
	db.CreateTable(partnersTable, dynamodbtest.KeyAttr{Name: "partnerId", Type: types.ScalarAttributeTypeS}, nil)
	db.CreateTable(outboxTable, dynamodbtest.KeyAttr{Name: outbox.PartitionKey, Type: types.ScalarAttributeTypeS},
		&dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: types.ScalarAttributeTypeN})
	c := &clock{now: t0}
	return &invite.Store{DB: db, Table: invitesTable, Outbox: &outbox.Store{DB: db, Table: outboxTable}, Now: c.Now}, db, c
}

func issue(t *testing.T, s *invite.Store) (secret.Value, invite.Invite) {
	t.Helper()
	code, inv, err := s.Issue(t.Context(), "Acme Logistics", "standard", 7*24*time.Hour, opsARN)
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	return code, inv
}

// The table holds the code's hash and nothing from which the code could be read back.
func TestIssueStoresOnlyTheHash(t *testing.T) {
	c := secrettest.Plant(t)
	s, db, _ := newStore(t)
	code, inv := issue(t, s)
	c.Add("invite code", code.Reveal())
	if !invite.WellFormed(code) {
		t.Fatal("Issue returned a malformed code")
	}
	items := db.Items(invitesTable)
	if len(items) != 1 {
		t.Fatalf("%d items, want 1", len(items))
	}
	c.CheckText("the invites table", fmt.Sprintf("%#v", items))
	for name, v := range items[0] {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			c.CheckText("attribute "+name, s.Value)
		}
	}
	c.CheckText("the invite", fmt.Sprintf("%+v", inv))
	if h := items[0]["inviteHash"].(*types.AttributeValueMemberS).Value; h != invite.Hash(code) {
		t.Error("the item is not keyed by the code's hash")
	}
	got, err := invites.FromItem(items[0])
	if err != nil || got != inv {
		t.Errorf("stored %+v (%v), Issue returned %+v", got, err, inv)
	}
	want := invite.Invite{
		Hash: invite.Hash(code), ID: inv.ID, PartnerName: "Acme Logistics", Tier: "standard",
		Status: invite.StatusIssued, ExpiresAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		CreatedAt: t0, CreatedBy: opsARN,
	}
	if inv != want {
		t.Errorf("invite %+v, want %+v", inv, want)
	}
}

func TestIssueIsConditional(t *testing.T) {
	t.Parallel()
	s, db, _ := newStore(t)
	var put *types.Put
	db.Intercept = func(op string, in any) error {
		if op == "TransactWriteItems" {
			for _, it := range in.(*dynamodb.TransactWriteItemsInput).TransactItems {
				if it.Put != nil && aws.ToString(it.Put.TableName) == invitesTable {
					put = it.Put
				}
			}
		}
		return nil
	}
	issue(t, s)
	if put == nil || aws.ToString(put.ConditionExpression) != "attribute_not_exists(#pk)" || put.ExpressionAttributeNames["#pk"] != "inviteHash" {
		t.Errorf("put %+v, want one conditioned on attribute_not_exists(inviteHash)", put)
	}
	// The condition holds: an item already at the hash is not overwritten.
	db.Intercept = nil
	_, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{
		TableName: put.TableName, Item: put.Item,
		ConditionExpression: put.ConditionExpression, ExpressionAttributeNames: put.ExpressionAttributeNames,
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Errorf("putting the same invite again: %v, want a failed condition", err)
	}
}

func TestIssueRefuses(t *testing.T) {
	t.Parallel()
	s, db, _ := newStore(t)
	cases := []struct {
		name, partner, tier, by string
		in                      time.Duration
		want                    string
	}{
		{"no partner", "", "standard", opsARN, time.Hour, "required"},
		{"no tier", "Acme", "", opsARN, time.Hour, "required"},
		{"no creator", "Acme", "standard", "", time.Hour, "required"},
		{"no expiry", "Acme", "standard", opsARN, 0, "under a second"},
		{"hostile name", "Acme \u202eGPJ.exe", "standard", opsARN, time.Hour, "partnername.Normalize"},
		{"name not in NFC", "Cafe\u0301", "standard", opsARN, time.Hour, "partnername.Normalize"},
	}
	for _, c := range cases {
		code, _, err := s.Issue(t.Context(), c.partner, c.tier, c.in, c.by)
		if err == nil || !strings.Contains(err.Error(), c.want) || !code.IsZero() {
			t.Errorf("%s: error %v, want one containing %q and no code", c.name, err, c.want)
		}
	}
	boom := errors.New("throttled")
	db.Intercept = func(string, any) error { return boom }
	code, _, err := s.Issue(t.Context(), "Acme", "standard", time.Hour, opsARN)
	if !errors.Is(err, boom) || !code.IsZero() {
		t.Errorf("a failed put: %v, want it wrapped and no code", err)
	}
	if n := len(db.Items(invitesTable)); n != 0 {
		t.Errorf("%d invites written", n)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	s, db, clk := newStore(t)
	code, inv := issue(t, s)
	redeemedCode, redeemedInv := issue(t, s)
	if _, err := db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{invites.Redeem(invitesTable, redeemedInv, "p-1", t0)},
	}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		code   secret.Value
		now    time.Time
		reason string // "" for a usable invite
		reads  int
	}{
		{"issued", code, t0, "", 1},
		{"issued, the last second", code, inv.ExpiresAt.Add(-time.Millisecond), "", 1},
		{"expired", code, inv.ExpiresAt, "expired", 1},
		{"redeemed", redeemedCode, t0, "redeemed", 1},
		{"unknown", invite.NewCode(), t0, "unknown", 1},
		{"malformed", secret.New("lnyd_inv_short"), t0, "malformed", 0},
		{"empty", secret.Value{}, t0, "malformed", 0},
	}
	for _, c := range cases {
		clk.now = c.now
		before := db.Calls("GetItem")
		got, err := s.Lookup(t.Context(), c.code)
		if n := db.Calls("GetItem") - before; n != c.reads {
			t.Errorf("%s: %d reads, want %d", c.name, n, c.reads)
		}
		if c.reason == "" {
			if err != nil || got != inv {
				t.Errorf("%s: %+v, %v; want the invite", c.name, got, err)
			}
			continue
		}
		var ie *invite.InvalidError
		if !errors.Is(err, invite.ErrInvalid) || !errors.As(err, &ie) || ie.Reason != c.reason || got != (invite.Invite{}) {
			t.Errorf("%s: %+v, %v; want ErrInvalid for %q", c.name, got, err, c.reason)
		}
	}
}

func TestLookupReadsConsistently(t *testing.T) {
	t.Parallel()
	s, db, _ := newStore(t)
	code, _ := issue(t, s)
	var get *dynamodb.GetItemInput
	db.Intercept = func(op string, in any) error {
		if op == "GetItem" {
			get = in.(*dynamodb.GetItemInput)
		}
		return nil
	}
	if _, err := s.Lookup(t.Context(), code); err != nil {
		t.Fatal(err)
	}
	if get == nil || !aws.ToBool(get.ConsistentRead) {
		t.Errorf("get %+v, want a consistent read", get)
	}
	boom := errors.New("throttled")
	db.Intercept = func(string, any) error { return boom }
	if _, err := s.Lookup(t.Context(), code); !errors.Is(err, boom) || errors.Is(err, invite.ErrInvalid) {
		t.Errorf("a failed read: %v, want it wrapped and not ErrInvalid", err)
	}
}

// The code, a canary, appears in no error Lookup returns, whatever the outcome.
func TestLookupErrorsHoldNoCode(t *testing.T) {
	c := secrettest.Plant(t)
	s, db, clk := newStore(t)
	code, _ := issue(t, s)
	c.Add("invite code", code.Reveal())
	canary := c.New("malformed-code")
	for _, now := range []time.Time{t0, t0.Add(30 * 24 * time.Hour)} {
		clk.now = now
		_, err := s.Lookup(t.Context(), code)
		c.CheckError(err)
	}
	_, err := s.Lookup(t.Context(), canary)
	c.CheckError(err)
	db.Intercept = func(string, any) error { return errors.New("throttled") }
	_, err = s.Lookup(t.Context(), code)
	c.CheckError(err)
}

// partnerPut is a state change standing in for onboarding's own: the partner it creates.
func partnerPut(id string) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                aws.String(partnersTable),
		Item:                     map[string]types.AttributeValue{"partnerId": &types.AttributeValueMemberS{Value: id}},
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": "partnerId"},
	}}
}

func redeemTx(ctx context.Context, db *dynamodbtest.DynamoDB, inv invite.Invite, partnerID string, now time.Time) error {
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		partnerPut(partnerID), invites.Redeem(invitesTable, inv, partnerID, now),
	}})
	return err
}

// Redeem's condition lets an invite be used once, before it expires; otherwise the whole
// transaction is cancelled, naming the invite's item.
func TestRedeemInATransaction(t *testing.T) {
	t.Parallel()
	s, db, _ := newStore(t)
	_, inv := issue(t, s)
	_, other := issue(t, s)
	unknown := inv
	unknown.Hash = invite.Hash(invite.NewCode())

	redeemAt := t0.Add(time.Hour)
	if err := redeemTx(t.Context(), db, inv, "p-first", redeemAt); err != nil {
		t.Fatalf("first redemption: %v", err)
	}
	var stored invite.Invite
	for _, item := range db.Items(invitesTable) {
		if got, _ := invites.FromItem(item); got.ID == inv.ID {
			stored = got
		}
	}
	want := inv
	want.Status, want.RedeemedBy, want.RedeemedAt = invite.StatusRedeemed, "p-first", redeemAt
	if stored != want {
		t.Errorf("redeemed invite %+v, want %+v", stored, want)
	}

	cases := []struct {
		name    string
		inv     invite.Invite
		partner string
		now     time.Time
	}{
		{"redeemed already", inv, "p-second", redeemAt},
		{"expired", other, "p-late", other.ExpiresAt},
		{"expired long ago", other, "p-later", other.ExpiresAt.Add(48 * time.Hour)},
		{"unknown", unknown, "p-stranger", t0},
	}
	for _, c := range cases {
		err := redeemTx(t.Context(), db, c.inv, c.partner, c.now)
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) || len(tce.CancellationReasons) != 2 ||
			aws.ToString(tce.CancellationReasons[0].Code) != "None" ||
			aws.ToString(tce.CancellationReasons[1].Code) != "ConditionalCheckFailed" {
			t.Errorf("%s: %v, want the transaction cancelled on the invite's condition", c.name, err)
		}
	}
	if n := len(db.Items(partnersTable)); n != 1 {
		t.Errorf("%d partners, want only the first redemption's", n)
	}
	if n := len(db.Items(invitesTable)); n != 2 {
		t.Errorf("%d invites, want 2 (Redeem of an unknown invite creates none)", n)
	}
	// The other invite is still usable a second before it expires.
	if err := redeemTx(t.Context(), db, other, "p-just-in-time", other.ExpiresAt.Add(-time.Second)); err != nil {
		t.Errorf("redeeming before expiry: %v", err)
	}
}

// An invite is written in one transaction with Invite Issued on the ops chain: its id, partner
// name, tier, expiry and issuer; never its code or the code's hash.
func TestIssueIsRecordedOnTheOpsChain(t *testing.T) {
	t.Parallel()
	s, db, _ := newStore(t)
	code, inv := issue(t, s)
	recs, err := s.Outbox.Records(t.Context(), outbox.OpsChain)
	if err != nil || len(recs) != 1 || recs[0].DetailType != events.TypeInviteIssued {
		t.Fatalf("ops chain %+v, %v: want one Invite Issued", recs, err)
	}
	var got events.InviteIssued
	if err := json.Unmarshal(recs[0].Detail, &got); err != nil {
		t.Fatal(err)
	}
	want := events.InviteIssued{Meta: got.Meta, InviteID: inv.ID, PartnerName: inv.PartnerName, Tier: inv.Tier, ExpiresAt: inv.ExpiresAt}
	if got != want || got.PartnerID != events.AllPartners || got.Actor != (events.Actor{Kind: events.ActorOps, ID: opsARN}) || !got.Time.Equal(t0) {
		t.Errorf("recorded %+v, want %+v by %s", got, want, opsARN)
	}
	if strings.Contains(string(recs[0].Detail), code.Reveal()) || strings.Contains(string(recs[0].Detail), invite.Hash(code)) {
		t.Error("the record holds the invite code or its hash")
	}
	if n := db.Calls("TransactWriteItems"); n != 1 || db.Calls("PutItem") != 0 {
		t.Errorf("%d transactions, %d puts: want the invite and its record in one transaction", n, db.Calls("PutItem"))
	}
	if err := s.Outbox.VerifyChain(t.Context(), outbox.OpsChain); err != nil {
		t.Error(err)
	}
}

// An invite whose record does not commit is not issued: no invite, no record, no code.
func TestIssueFailsClosed(t *testing.T) {
	t.Parallel()
	for _, f := range ddbfault.Faults() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			s, db, _ := newStore(t)
			failing := &ddbfault.Fake{DynamoDB: db, Fault: &f}
			s.DB, s.Outbox.DB = failing, failing
			code, _, err := s.Issue(t.Context(), "Acme", "standard", time.Hour, opsARN)
			if err == nil || !code.IsZero() || failing.Calls.Load() != 1 {
				t.Errorf("issue: %v, code %t, %d failed transactions: want an error, no code", err, !code.IsZero(), failing.Calls.Load())
			}
			if n, m := len(db.Items(invitesTable)), len(db.Items(outboxTable)); n != 0 || m != 0 {
				t.Errorf("%d invites and %d outbox items after a failed commit", n, m)
			}

			// Through the route: a 500 without a code.
			pol, err := policy.Default()
			if err != nil {
				t.Fatal(err)
			}
			resp, _ := (&invite.Handler{Invites: s, Policy: pol}).Handle(t.Context(), lambdaevents.APIGatewayProxyRequest{
				HTTPMethod: "POST", Headers: map[string]string{"Content-Type": "application/json"},
				Body: `{"partnerName":"Acme","tier":"standard"}`,
			})
			if resp.StatusCode != 500 || strings.Contains(resp.Body, "inviteCode") || strings.Contains(resp.Body, invite.CodePrefix) {
				t.Errorf("route: %d %s, want a 500 without a code", resp.StatusCode, resp.Body)
			}
		})
	}
}
