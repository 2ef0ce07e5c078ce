package partners_test

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

const (
	partnersTable    = "partners"
	credentialsTable = "credentials"
)

func newDB(t *testing.T) *dynamodbtest.DynamoDB {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable(partnersTable, dynamodbtest.KeyAttr{Name: "partnerId", Type: types.ScalarAttributeTypeS}, nil)
	db.CreateTable(credentialsTable, dynamodbtest.KeyAttr{Name: "keyId", Type: types.ScalarAttributeTypeS}, nil)
	return db
}

func acme() partners.Partner {
	return partners.Partner{
		PartnerID:      "p-aaaaaaaaaaaaaaaaaaaaaaaaaa",
		PartnerName:    "Acme Logistics",
		Tier:           "standard",
		Scopes:         []string{"orders:read", "orders:write"},
		Status:         partners.StatusActive,
		KeyID:          "ku36uznzhc225sgjotcsh",
		SecretARN:      "arn:aws:secretsmanager:us-east-1:123456789012:secret:lanyard/partners/p-aaaaaaaaaaaaaaaaaaaaaaaaaa-AbCdEf",
		IdentityMethod: partners.IdentityMethodInvite,
		InviteID:       "inv-bbbbbbbbbbbbbbbbbbbbbbbbbb",
		Justification:  "all 2 requested scopes are allowed for tier standard (policy revision 3)",
		PolicyRevision: 3,
		CreatedAt:      time.Date(2026, 11, 23, 12, 0, 0, 5000, time.UTC),
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^p-[a-z2-7]{26}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := partners.NewID()
		if !re.MatchString(id) || !partners.ValidID(id) || seen[id] {
			t.Fatalf("id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "p-", "p-AAAAAAAAAAAAAAAAAAAAAAAAAA", "p-aaaaaaaaaaaaaaaaaaaaaaaaa", "q-aaaaaaaaaaaaaaaaaaaaaaaaaa", "p-aaaaaaaaaaaaaaaaaaaaaaaaa1"} {
		if partners.ValidID(bad) {
			t.Errorf("ValidID(%q)", bad)
		}
	}
}

func TestItemRoundTrip(t *testing.T) {
	t.Parallel()
	p := acme()
	p.Scopes = []string{"orders:write", "inventory:read", "orders:read"}
	item := itemtest.Must(p.Item())(t)
	got, err := partners.FromItem(item)
	if err != nil {
		t.Fatal(err)
	}
	want := p
	want.Scopes = []string{"inventory:read", "orders:read", "orders:write"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip %+v, want %+v", got, want)
	}
	if !reflect.DeepEqual(p.Scopes, []string{"orders:write", "inventory:read", "orders:read"}) {
		t.Error("Item sorted the caller's slice in place")
	}
	strs := map[string]string{
		"partnerId": p.PartnerID, "partnerName": p.PartnerName, "tier": "standard", "status": "active",
		"keyId": p.KeyID, "secretArn": p.SecretARN, "identityMethod": "invite", "inviteId": p.InviteID,
		"justification": p.Justification, "createdAt": "2026-11-23T12:00:00.000005Z",
	}
	for k, v := range strs {
		if s, ok := item[k].(*types.AttributeValueMemberS); !ok || s.Value != v {
			t.Errorf("attribute %s = %#v, want %q", k, item[k], v)
		}
	}
	if n, ok := item["policyRevision"].(*types.AttributeValueMemberN); !ok || n.Value != "3" {
		t.Errorf("policyRevision = %#v", item["policyRevision"])
	}
	if l, ok := item["scopes"].(*types.AttributeValueMemberL); !ok || len(l.Value) != 3 ||
		l.Value[0].(*types.AttributeValueMemberS).Value != "inventory:read" {
		t.Errorf("scopes = %#v, want a sorted list of strings", item["scopes"])
	}
	if len(item) != len(strs)+2 {
		t.Errorf("%d attributes, want %d", len(item), len(strs)+2)
	}
}

func TestFromItemRefuses(t *testing.T) {
	t.Parallel()
	with := func(name string, v types.AttributeValue) map[string]types.AttributeValue {
		item := itemtest.Must(acme().Item())(t)
		if v == nil {
			delete(item, name)
		} else {
			item[name] = v
		}
		return item
	}
	cases := []struct {
		name string
		item map[string]types.AttributeValue
		want string
	}{
		{"no tier", with("tier", nil), "attribute tier missing"},
		{"no scopes", with("scopes", nil), "attribute scopes missing or not a list"},
		{"scope not a string", with("scopes", &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberN{Value: "1"}}}), "scopes[0] is not a string"},
		{"revision not a number", with("policyRevision", &types.AttributeValueMemberS{Value: "3"}), "attribute policyRevision missing or not a number"},
		{"revision not an integer", with("policyRevision", &types.AttributeValueMemberN{Value: "3.5"}), "attribute policyRevision:"},
		{"bad time", with("createdAt", &types.AttributeValueMemberS{Value: "yesterday"}), "attribute createdAt:"},
	}
	for _, c := range cases {
		_, err := partners.FromItem(c.item)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestPutNewAndGet(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	s := &partners.Store{DB: db, Table: partnersTable}
	p := acme()
	put := itemtest.Must(partners.PutNew(partnersTable, p))(t)
	if put.Put == nil || aws.ToString(put.Put.ConditionExpression) != "attribute_not_exists(#pk)" || put.Put.ExpressionAttributeNames["#pk"] != "partnerId" {
		t.Fatalf("PutNew %+v", put)
	}
	if _, err := db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{put}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(t.Context(), p.PartnerID)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("Get = %+v, %v; want %+v", got, err, p)
	}

	// A second partner with the same id is refused, and the first stays as it was.
	again := acme()
	again.PartnerName = "Impostor"
	_, err = db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{itemtest.Must(partners.PutNew(partnersTable, again))(t)}})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || aws.ToString(tce.CancellationReasons[0].Code) != "ConditionalCheckFailed" {
		t.Errorf("second PutNew: %v, want a failed condition", err)
	}
	if got, _ := s.Get(t.Context(), p.PartnerID); got.PartnerName != p.PartnerName {
		t.Errorf("the partner was overwritten: %q", got.PartnerName)
	}

	if _, err := s.Get(t.Context(), partners.NewID()); !errors.Is(err, partners.ErrNotFound) {
		t.Errorf("Get of an unknown partner: %v, want ErrNotFound", err)
	}
	boom := errors.New("throttled")
	db.Intercept = func(string, any) error { return boom }
	if _, err := s.Get(t.Context(), p.PartnerID); !errors.Is(err, boom) || errors.Is(err, partners.ErrNotFound) {
		t.Errorf("Get on a failing table: %v", err)
	}
}

func TestGetReadsConsistently(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	var get *dynamodb.GetItemInput
	db.Intercept = func(op string, in any) error {
		if op == "GetItem" {
			get = in.(*dynamodb.GetItemInput)
		}
		return nil
	}
	_, _ = (&partners.Store{DB: db, Table: partnersTable}).Get(t.Context(), "p-1")
	if get == nil || !aws.ToBool(get.ConsistentRead) || aws.ToString(get.TableName) != partnersTable {
		t.Errorf("get %+v", get)
	}
}

// A partner that proved an AWS identity keeps its account and principal; an invited one has
// neither attribute.
func TestItemRoundTripWithAWSIdentity(t *testing.T) {
	t.Parallel()
	p := acme()
	p.IdentityMethod, p.InviteID = partners.IdentityMethodSTS, ""
	p.AccountID, p.ARN = "123456789012", "arn:aws:iam::123456789012:role/acme-onboarding"
	item := itemtest.Must(p.Item())(t)
	got, err := partners.FromItem(item)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("round trip %+v (%v), want %+v", got, err, p)
	}
	if s, ok := item["accountId"].(*types.AttributeValueMemberS); !ok || s.Value != p.AccountID {
		t.Errorf("accountId = %#v", item["accountId"])
	}
	if _, ok := itemtest.Must(acme().Item())(t)["accountId"]; ok {
		t.Error("an invited partner's item has an accountId")
	}
}
