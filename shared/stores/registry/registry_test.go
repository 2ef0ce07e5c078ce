package registry_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

const table = "credentials"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func newDB(t *testing.T) *dynamodbtest.DynamoDB {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable(table, dynamodbtest.KeyAttr{Name: registry.PartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	return db
}

// newEntry returns an active entry for a fresh key, and the key.
func newEntry(t *testing.T) (registry.Entry, credential.Key) {
	t.Helper()
	k, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		t.Fatal(err)
	}
	return registry.Entry{
		KeyID:           k.ID(),
		PartnerID:       "p-abcdefghijklmnopqrstuvwxyz",
		Verifier:        credential.NewVerifier(k),
		Scopes:          []string{"partners:read", "audit:read"},
		Tier:            "standard",
		Status:          registry.StatusActive,
		NotBefore:       t0,
		NotAfter:        t0.Add(90 * 24 * time.Hour),
		SecretARN:       "arn:aws:secretsmanager:eu-west-1:000000000000:secret:lanyard/partners/p-x-AbCdEf",
		SecretVersionID: "0b6a4a4e-6f4f-4c62-9a53-4f0d3b1e3f10",
		CreatedAt:       t0.Add(-time.Second),
	}, k
}

func putNew(t *testing.T, db *dynamodbtest.DynamoDB, e registry.Entry) error {
	t.Helper()
	_, err := db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{itemtest.Must(registry.PutNew(table, e))(t)},
	})
	return err
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	active, _ := newEntry(t)
	previous, _ := newEntry(t)
	previous.Status = registry.StatusPrevious
	previous.GraceUntil = t0.Add(7 * 24 * time.Hour)
	noScopes, _ := newEntry(t)
	noScopes.Scopes = []string{}
	nonUTC, _ := newEntry(t)
	nonUTC.NotBefore = t0.In(time.FixedZone("CEST", 2*3600))
	for _, tc := range []struct {
		name string
		e    registry.Entry
		want registry.Entry
	}{
		{"active", active, withSortedScopes(active)},
		{"previous with grace", previous, withSortedScopes(previous)},
		{"no scopes", noScopes, noScopes},
		{"times are stored in UTC", nonUTC, func() registry.Entry { w := withSortedScopes(nonUTC); w.NotBefore = t0; return w }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := newDB(t)
			if err := putNew(t, db, tc.e); err != nil {
				t.Fatalf("put: %v", err)
			}
			got, err := (&registry.Store{DB: db, Table: table}).Get(t.Context(), tc.e.KeyID)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("read back\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func withSortedScopes(e registry.Entry) registry.Entry {
	e.Scopes = []string{"audit:read", "partners:read"}
	return e
}

// The item has the documented shape: attribute names, types, sorted scopes, UTC times, and no
// graceUntil on a key without one.
func TestItemShape(t *testing.T) {
	t.Parallel()
	e, k := newEntry(t)
	item := itemtest.Must(e.Item())(t)
	want := map[string]types.AttributeValue{
		"keyId":     &types.AttributeValueMemberS{Value: string(k.ID())},
		"partnerId": &types.AttributeValueMemberS{Value: "p-abcdefghijklmnopqrstuvwxyz"},
		"verifier":  &types.AttributeValueMemberS{Value: credential.NewVerifier(k).Encode()},
		"scopes": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberS{Value: "audit:read"}, &types.AttributeValueMemberS{Value: "partners:read"},
		}},
		"tier":            &types.AttributeValueMemberS{Value: "standard"},
		"status":          &types.AttributeValueMemberS{Value: "active"},
		"notBefore":       &types.AttributeValueMemberS{Value: "2026-03-01T12:00:00.123456789Z"},
		"notAfter":        &types.AttributeValueMemberS{Value: "2026-05-30T12:00:00.123456789Z"},
		"secretArn":       &types.AttributeValueMemberS{Value: e.SecretARN},
		"secretVersionId": &types.AttributeValueMemberS{Value: e.SecretVersionID},
		"createdAt":       &types.AttributeValueMemberS{Value: "2026-03-01T11:59:59.123456789Z"},
	}
	if !reflect.DeepEqual(item, want) {
		// Compare by attribute so the failure names it; values other than the verifier are
		// printed, the verifier never.
		for name := range want {
			if !reflect.DeepEqual(item[name], want[name]) {
				t.Errorf("attribute %s differs", name)
			}
		}
		for name := range item {
			if _, ok := want[name]; !ok {
				t.Errorf("unexpected attribute %s", name)
			}
		}
	}
	if got := e.Scopes; got[0] != "partners:read" {
		t.Errorf("Item sorted the entry's own scopes slice: %v", got)
	}
}

func TestPutNewRefusesAnExistingKeyID(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	first, _ := newEntry(t)
	if err := putNew(t, db, first); err != nil {
		t.Fatalf("first put: %v", err)
	}
	second, _ := newEntry(t)
	second.KeyID = first.KeyID
	second.PartnerID = "p-zzzzzzzzzzzzzzzzzzzzzzzzzz"
	err := putNew(t, db, second)
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		t.Fatalf("second put: %v, want a transaction cancellation", err)
	}
	if len(canceled.CancellationReasons) != 1 || canceled.CancellationReasons[0].Code == nil || *canceled.CancellationReasons[0].Code != "ConditionalCheckFailed" {
		t.Errorf("cancellation reasons %+v, want one ConditionalCheckFailed", canceled.CancellationReasons)
	}
	got, err := (&registry.Store{DB: db, Table: table}).Get(t.Context(), first.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PartnerID != first.PartnerID {
		t.Errorf("the entry now belongs to %s, want it untouched (%s)", got.PartnerID, first.PartnerID)
	}
}

func TestGetNotFound(t *testing.T) {
	t.Parallel()
	e, _ := newEntry(t)
	_, err := (&registry.Store{DB: newDB(t), Table: table}).Get(t.Context(), e.KeyID)
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("get of an unregistered key: %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), string(e.KeyID)) {
		t.Errorf("error %q does not name the key id", err)
	}
}

func TestGetFailure(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	boom := errors.New("throttled")
	db.Intercept = func(string, any) error { return boom }
	e, _ := newEntry(t)
	_, err := (&registry.Store{DB: db, Table: table}).Get(t.Context(), e.KeyID)
	if !errors.Is(err, boom) || errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("get when DynamoDB fails: %v, want the failure wrapped, not ErrNotFound", err)
	}
}

// Malformed items are refused with an error naming the attribute, and no error ever contains
// the verifier, in the stored form or as bare hex, nor a key written where a key id belongs.
func TestEntryFromItemRefusesMalformedItems(t *testing.T) {
	t.Parallel()
	e, k := newEntry(t)
	verifier := credential.NewVerifier(k).Encode()
	hexDigest := strings.TrimPrefix(verifier, "sha256:")
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	for _, tc := range []struct {
		name   string
		change func(map[string]types.AttributeValue)
		want   string
	}{
		{"no key id", func(i map[string]types.AttributeValue) { delete(i, "keyId") }, "without a string keyId"},
		{"a whole key as key id", func(i map[string]types.AttributeValue) { i["keyId"] = s(k.Plaintext().Reveal()) }, "attribute keyId: malformed key id"},
		{"no partner", func(i map[string]types.AttributeValue) { delete(i, "partnerId") }, "attribute partnerId missing"},
		{"empty partner", func(i map[string]types.AttributeValue) { i["partnerId"] = s("") }, "attribute partnerId is empty"},
		{"no verifier", func(i map[string]types.AttributeValue) { delete(i, "verifier") }, "attribute verifier missing"},
		{"verifier without prefix", func(i map[string]types.AttributeValue) { i["verifier"] = s(hexDigest) }, "attribute verifier: malformed verifier"},
		{"verifier in upper case", func(i map[string]types.AttributeValue) { i["verifier"] = s("sha256:" + strings.ToUpper(hexDigest)) }, "attribute verifier: malformed verifier"},
		{"verifier truncated", func(i map[string]types.AttributeValue) { i["verifier"] = s(verifier[:len(verifier)-1]) }, "attribute verifier: malformed verifier"},
		{"verifier as binary", func(i map[string]types.AttributeValue) {
			i["verifier"] = &types.AttributeValueMemberB{Value: []byte(verifier)}
		}, "attribute verifier is not a string"},
		{"scopes missing", func(i map[string]types.AttributeValue) { delete(i, "scopes") }, "attribute scopes missing or not a list"},
		{"scopes as a string set", func(i map[string]types.AttributeValue) {
			i["scopes"] = &types.AttributeValueMemberSS{Value: []string{"a"}}
		}, "attribute scopes missing or not a list"},
		{"a scope not a string", func(i map[string]types.AttributeValue) {
			i["scopes"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{s("a"), &types.AttributeValueMemberN{Value: "1"}}}
		}, "attribute scopes: element 1"},
		{"no tier", func(i map[string]types.AttributeValue) { delete(i, "tier") }, "attribute tier missing"},
		{"unknown status", func(i map[string]types.AttributeValue) { i["status"] = s("suspended") }, `attribute status "suspended" is not`},
		{"notBefore not a time", func(i map[string]types.AttributeValue) { i["notBefore"] = s("yesterday") }, "attribute notBefore \"yesterday\" is not an RFC 3339 time"},
		{"notAfter missing", func(i map[string]types.AttributeValue) { delete(i, "notAfter") }, "attribute notAfter missing"},
		{"graceUntil empty", func(i map[string]types.AttributeValue) { i["graceUntil"] = s("") }, "attribute graceUntil \"\" is not an RFC 3339 time"},
		{"secretArn a number", func(i map[string]types.AttributeValue) { i["secretArn"] = &types.AttributeValueMemberN{Value: "1"} }, "attribute secretArn is not a string"},
		{"createdAt missing", func(i map[string]types.AttributeValue) { delete(i, "createdAt") }, "attribute createdAt missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			item := itemtest.Must(e.Item())(t)
			tc.change(item)
			_, err := registry.EntryFromItem(item)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for what, secretish := range map[string]string{"the verifier": verifier, "its hex digest": hexDigest, "the key": k.Plaintext().Reveal(), "the key's secret part": k.Plaintext().Reveal()[32:64]} {
				if strings.Contains(strings.ToLower(msg), strings.ToLower(secretish)) {
					t.Fatalf("the error contains %s", what) // never print msg: it holds it
				}
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
		})
	}
}

func TestAccepts(t *testing.T) {
	t.Parallel()
	base, _ := newEntry(t)
	with := func(status registry.Status, grace time.Time) registry.Entry {
		e := base
		e.Status, e.GraceUntil = status, grace
		return e
	}
	for _, tc := range []struct {
		name   string
		e      registry.Entry
		now    time.Time
		ok     bool
		reason string
	}{
		{"active at NotBefore", with(registry.StatusActive, time.Time{}), base.NotBefore, true, registry.ReasonActive},
		{"active inside", with(registry.StatusActive, time.Time{}), base.NotBefore.Add(time.Hour), true, registry.ReasonActive},
		{"active before NotBefore", with(registry.StatusActive, time.Time{}), base.NotBefore.Add(-time.Nanosecond), false, registry.ReasonNotYetValid},
		{"active at NotAfter", with(registry.StatusActive, time.Time{}), base.NotAfter, false, registry.ReasonExpired},
		{"previous within grace", with(registry.StatusPrevious, t0.Add(time.Hour)), t0.Add(time.Hour - time.Nanosecond), true, registry.ReasonGrace},
		{"previous at grace end", with(registry.StatusPrevious, t0.Add(time.Hour)), t0.Add(time.Hour), false, registry.ReasonGraceEnded},
		{"previous without grace", with(registry.StatusPrevious, time.Time{}), t0, false, registry.ReasonGraceEnded},
		{"revoked inside its window", with(registry.StatusRevoked, time.Time{}), t0.Add(time.Hour), false, registry.ReasonRevoked},
		{"pending inside its window", with(registry.StatusPending, time.Time{}), t0.Add(time.Hour), false, registry.ReasonPending},
		{"unknown status", with("suspended", time.Time{}), t0.Add(time.Hour), false, registry.ReasonUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ok, reason := tc.e.Accepts(tc.now)
			if ok != tc.ok || reason != tc.reason {
				t.Errorf("Accepts = %v, %q; want %v, %q", ok, reason, tc.ok, tc.reason)
			}
		})
	}
}

func TestGetPartnerKey(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	e, _ := newEntry(t)
	if err := putNew(t, db, e); err != nil {
		t.Fatal(err)
	}
	s := &registry.Store{DB: db, Table: table}
	got, err := s.GetPartnerKey(t.Context(), e.PartnerID, string(e.KeyID))
	if err != nil || got.KeyID != e.KeyID {
		t.Errorf("the partner's own key: %v, %v", got.KeyID, err)
	}
	if _, err := s.GetPartnerKey(t.Context(), "p-zzzzzzzzzzzzzzzzzzzzzzzzzz", string(e.KeyID)); !errors.Is(err, registry.ErrNotPartners) {
		t.Errorf("another partner's key: %v, want ErrNotPartners", err)
	}
	if _, err := s.GetPartnerKey(t.Context(), e.PartnerID, "not-a-key-id"); err == nil || db.Calls("GetItem") != 2 {
		t.Errorf("a malformed key id: %v after %d reads, want refused before any read", err, db.Calls("GetItem"))
	}
}
