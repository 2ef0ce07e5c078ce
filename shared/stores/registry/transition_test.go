package registry_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// Each transition applies to a key in its from status, and leaves a key in any other status
// as it was, cancelling the transaction with ConditionalCheckFailed.
func TestTransitions(t *testing.T) {
	t.Parallel()
	grace := t0.Add(7 * 24 * time.Hour)
	retiredAt := t0.Add(time.Hour)
	for _, tc := range []struct {
		name string
		from registry.Status
		item func(credential.KeyID) types.TransactWriteItem
		want func(registry.Entry) registry.Entry
	}{
		{"activate", registry.StatusPending, func(id credential.KeyID) types.TransactWriteItem {
			return registry.Activate(table, id)
		}, func(e registry.Entry) registry.Entry { e.Status = registry.StatusActive; return e }},
		{"supersede", registry.StatusActive, func(id credential.KeyID) types.TransactWriteItem {
			return registry.Supersede(table, id, grace)
		}, func(e registry.Entry) registry.Entry {
			e.Status, e.GraceUntil = registry.StatusPrevious, grace
			return e
		}},
		{"retire a previous key", registry.StatusPrevious, func(id credential.KeyID) types.TransactWriteItem {
			return registry.Retire(table, id, registry.StatusPrevious, retiredAt)
		}, func(e registry.Entry) registry.Entry {
			e.Status, e.RetiredAt = registry.StatusRetired, retiredAt
			return e
		}},
		{"retire a superseded pending key", registry.StatusPending, func(id credential.KeyID) types.TransactWriteItem {
			return registry.Retire(table, id, registry.StatusPending, retiredAt)
		}, func(e registry.Entry) registry.Entry {
			e.Status, e.RetiredAt = registry.StatusRetired, retiredAt
			return e
		}},
		{"acknowledge", registry.StatusPrevious, func(id credential.KeyID) types.TransactWriteItem {
			return registry.Acknowledge(table, id, retiredAt, grace)
		}, func(e registry.Entry) registry.Entry {
			e.AcknowledgedAt, e.RetireAt = retiredAt, grace
			return e
		}},
		{"warn that grace is ending", registry.StatusPrevious, func(id credential.KeyID) types.TransactWriteItem {
			return registry.WarnGraceEnding(table, id, retiredAt)
		}, func(e registry.Entry) registry.Entry {
			e.GraceWarnedAt = retiredAt
			return e
		}},
		{"retire a previous key that is due", registry.StatusPrevious, func(id credential.KeyID) types.TransactWriteItem {
			return registry.RetireDue(table, id, retiredAt)
		}, func(e registry.Entry) registry.Entry {
			e.Status, e.RetiredAt, e.FlushPending = registry.StatusRetired, retiredAt, true
			return e
		}},
		{"revoke a pending key", registry.StatusPending, func(id credential.KeyID) types.TransactWriteItem {
			return itemtest.Must(registry.Revoke(table, id, registry.StatusPending, retiredAt))(t)
		}, func(e registry.Entry) registry.Entry {
			e.Status, e.RevokedAt = registry.StatusRevoked, retiredAt
			return e
		}},
		{"revoke a active key", registry.StatusActive, func(id credential.KeyID) types.TransactWriteItem {
			return itemtest.Must(registry.Revoke(table, id, registry.StatusActive, retiredAt))(t)
		}, func(e registry.Entry) registry.Entry {
			e.Status, e.RevokedAt = registry.StatusRevoked, retiredAt
			return e
		}},
		{"revoke a previous key", registry.StatusPrevious, func(id credential.KeyID) types.TransactWriteItem {
			return itemtest.Must(registry.Revoke(table, id, registry.StatusPrevious, retiredAt))(t)
		}, func(e registry.Entry) registry.Entry {
			e.Status, e.RevokedAt = registry.StatusRevoked, retiredAt
			return e
		}},
	} {
		for _, status := range []registry.Status{registry.StatusPending, registry.StatusActive, registry.StatusPrevious, registry.StatusRetired, registry.StatusRevoked} {
			t.Run(tc.name+" from "+string(status), func(t *testing.T) {
				t.Parallel()
				db := newDB(t)
				e, _ := newEntry(t)
				e.Status = status
				e.Scopes = []string{"audit:read", "partners:read"}
				if err := putNew(t, db, e); err != nil {
					t.Fatal(err)
				}
				_, err := db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{tc.item(e.KeyID)}})
				got, gerr := (&registry.Store{DB: db, Table: table}).Get(t.Context(), e.KeyID)
				if gerr != nil {
					t.Fatal(gerr)
				}
				if status != tc.from {
					var canceled *types.TransactionCanceledException
					if !errors.As(err, &canceled) || aws.ToString(canceled.CancellationReasons[0].Code) != "ConditionalCheckFailed" {
						t.Fatalf("from %s: %v, want ConditionalCheckFailed", status, err)
					}
					if !reflect.DeepEqual(got, e) {
						t.Errorf("from %s the entry changed:\n%+v\nwant\n%+v", status, got, e)
					}
					return
				}
				if err != nil {
					t.Fatalf("from %s: %v", status, err)
				}
				if want := tc.want(e); !reflect.DeepEqual(got, want) {
					t.Errorf("after the transition\n%+v\nwant\n%+v", got, want)
				}
			})
		}
	}
}

// A transition of a key id that is not registered fails its condition and creates nothing.
func TestTransitionOfAnUnknownKey(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	e, _ := newEntry(t)
	_, err := db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{registry.Activate(table, e.KeyID)}})
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		t.Fatalf("activate an unknown key: %v, want a cancellation", err)
	}
	if items := db.Items(table); len(items) != 0 {
		t.Errorf("the table holds %d items, want none", len(items))
	}
}

// A retired entry round-trips with its retiredAt; a retired key is never accepted.
func TestRetired(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	e, _ := newEntry(t)
	e.Scopes = []string{"audit:read", "partners:read"}
	e.Status, e.GraceUntil, e.RetiredAt = registry.StatusRetired, t0.Add(48*time.Hour), t0.Add(time.Hour)
	if got := itemtest.Must(e.Item())(t)["retiredAt"]; !reflect.DeepEqual(got, &types.AttributeValueMemberS{Value: "2026-03-01T13:00:00.123456789Z"}) {
		t.Errorf("retiredAt attribute %#v", got)
	}
	if err := putNew(t, db, e); err != nil {
		t.Fatal(err)
	}
	got, err := (&registry.Store{DB: db, Table: table}).Get(t.Context(), e.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, e)
	}
	if ok, reason := got.Accepts(t0.Add(2 * time.Hour)); ok || reason != registry.ReasonRetired {
		t.Errorf("Accepts = %v, %q; want false, %q", ok, reason, registry.ReasonRetired)
	}
}

// Only a pending, active or previous key can be revoked: Revoke refuses to build the item for
// any other status; a revoked entry round-trips with its revokedAt and is never accepted.
func TestRevoke(t *testing.T) {
	t.Parallel()
	for _, from := range []registry.Status{registry.StatusRetired, registry.StatusRevoked, "", "unknown"} {
		if _, err := registry.Revoke(table, "kabcdefghijklmnopqrst", from, t0); err == nil {
			t.Errorf("Revoke from %q built an item", from)
		}
	}
	db := newDB(t)
	e, _ := newEntry(t)
	e.Scopes = []string{"audit:read"}
	e.Status, e.RevokedAt = registry.StatusRevoked, t0.Add(time.Hour)
	if err := putNew(t, db, e); err != nil {
		t.Fatal(err)
	}
	got, err := (&registry.Store{DB: db, Table: table}).Get(t.Context(), e.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, e)
	}
	if ok, reason := got.Accepts(t0.Add(2 * time.Hour)); ok || reason != registry.ReasonRevoked {
		t.Errorf("Accepts = %v, %q; want false, %q", ok, reason, registry.ReasonRevoked)
	}
}
