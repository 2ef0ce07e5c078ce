package registry_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// The attributes of an acknowledged, warned and retired key round-trip; absent ones stay
// absent.
func TestRolloverAttributesRoundTrip(t *testing.T) {
	t.Parallel()
	e, _ := newEntry(t)
	e.Scopes = []string{"audit:read", "partners:read"}
	e.Status, e.GraceUntil = registry.StatusRetired, t0.Add(7*24*time.Hour)
	e.AcknowledgedAt, e.RetireAt, e.GraceWarnedAt, e.RetiredAt = t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(30*time.Minute), t0.Add(3*time.Hour)
	e.FlushPending = true
	item := itemtest.Must(e.Item())(t)
	for attr, want := range map[string]types.AttributeValue{
		"acknowledgedAt": &types.AttributeValueMemberS{Value: "2026-03-01T13:00:00.123456789Z"},
		"retireAt":       &types.AttributeValueMemberS{Value: "2026-03-01T14:00:00.123456789Z"},
		"graceWarnedAt":  &types.AttributeValueMemberS{Value: "2026-03-01T12:30:00.123456789Z"},
		"flushPending":   &types.AttributeValueMemberBOOL{Value: true},
	} {
		if got := item[attr]; !reflect.DeepEqual(got, want) {
			t.Errorf("attribute %s = %#v, want %#v", attr, got, want)
		}
	}
	got, err := registry.EntryFromItem(item)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, e)
	}

	plain, _ := newEntry(t)
	for _, attr := range []string{"acknowledgedAt", "retireAt", "graceWarnedAt", "flushPending"} {
		if _, ok := itemtest.Must(plain.Item())(t)[attr]; ok {
			t.Errorf("an entry without %s renders it", attr)
		}
	}

	bad := itemtest.Must(e.Item())(t)
	bad["flushPending"] = &types.AttributeValueMemberS{Value: "true"}
	if _, err := registry.EntryFromItem(bad); err == nil || !strings.Contains(err.Error(), "flushPending is not a boolean") {
		t.Errorf("a string flushPending: %v", err)
	}
	bad = itemtest.Must(e.Item())(t)
	bad["retireAt"] = &types.AttributeValueMemberS{Value: "soon"}
	if _, err := registry.EntryFromItem(bad); err == nil || !strings.Contains(err.Error(), "retireAt") {
		t.Errorf("a malformed retireAt: %v", err)
	}
}

// An acknowledged previous key is accepted until the earlier of its retireAt and its grace
// deadline.
func TestAcceptsPreviousUntilRetireAt(t *testing.T) {
	t.Parallel()
	grace := t0.Add(24 * time.Hour)
	for _, tc := range []struct {
		name     string
		retireAt time.Time
		now      time.Time
		ok       bool
		reason   string
	}{
		{"unacknowledged, within grace", time.Time{}, grace.Add(-time.Nanosecond), true, registry.ReasonGrace},
		{"acknowledged, before retireAt", t0.Add(time.Hour), t0.Add(time.Hour - time.Nanosecond), true, registry.ReasonGrace},
		{"acknowledged, at retireAt", t0.Add(time.Hour), t0.Add(time.Hour), false, registry.ReasonDrained},
		{"acknowledged, past retireAt", t0.Add(time.Hour), t0.Add(2 * time.Hour), false, registry.ReasonDrained},
		{"retireAt at the grace deadline", grace, grace, false, registry.ReasonGraceEnded},
		{"past grace", t0.Add(time.Hour), grace.Add(time.Second), false, registry.ReasonGraceEnded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, _ := newEntry(t)
			e.Status, e.GraceUntil, e.RetireAt = registry.StatusPrevious, grace, tc.retireAt
			if ok, reason := e.Accepts(tc.now); ok != tc.ok || reason != tc.reason {
				t.Errorf("Accepts = %v, %q; want %v, %q", ok, reason, tc.ok, tc.reason)
			}
		})
	}
}

// An acknowledgement and a warning happen once: a second one fails its condition and leaves
// the entry as the first left it; an acknowledged key is never warned.
func TestAcknowledgeAndWarnOnce(t *testing.T) {
	t.Parallel()
	grace := t0.Add(24 * time.Hour)
	for _, tc := range []struct {
		name        string
		first, then func(e registry.Entry) types.TransactWriteItem
	}{
		{"acknowledge twice",
			func(e registry.Entry) types.TransactWriteItem {
				return registry.Acknowledge(table, e.KeyID, t0, t0.Add(time.Hour))
			},
			func(e registry.Entry) types.TransactWriteItem {
				return registry.Acknowledge(table, e.KeyID, t0.Add(time.Minute), t0.Add(2*time.Hour))
			}},
		{"warn twice",
			func(e registry.Entry) types.TransactWriteItem { return registry.WarnGraceEnding(table, e.KeyID, t0) },
			func(e registry.Entry) types.TransactWriteItem {
				return registry.WarnGraceEnding(table, e.KeyID, t0.Add(time.Minute))
			}},
		{"warn after an acknowledgement",
			func(e registry.Entry) types.TransactWriteItem {
				return registry.Acknowledge(table, e.KeyID, t0, t0.Add(time.Hour))
			},
			func(e registry.Entry) types.TransactWriteItem { return registry.WarnGraceEnding(table, e.KeyID, t0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := newDB(t)
			e, _ := newEntry(t)
			e.Status, e.GraceUntil = registry.StatusPrevious, grace
			if err := putNew(t, db, e); err != nil {
				t.Fatal(err)
			}
			write := func(item types.TransactWriteItem) error {
				_, err := db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{item}})
				return err
			}
			if err := write(tc.first(e)); err != nil {
				t.Fatalf("first: %v", err)
			}
			before := db.Items(table)
			err := write(tc.then(e))
			var canceled *types.TransactionCanceledException
			if !errors.As(err, &canceled) || aws.ToString(canceled.CancellationReasons[0].Code) != "ConditionalCheckFailed" {
				t.Fatalf("then: %v, want ConditionalCheckFailed", err)
			}
			if !reflect.DeepEqual(db.Items(table), before) {
				t.Error("the refused write changed the entry")
			}
		})
	}
}

// FlushDone clears the marker, does nothing more on a second call, and creates nothing for an
// unknown key.
func TestFlushDone(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	e, _ := newEntry(t)
	e.Status, e.GraceUntil = registry.StatusPrevious, t0.Add(time.Hour)
	if err := putNew(t, db, e); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{registry.RetireDue(table, e.KeyID, t0.Add(2*time.Hour))},
	}); err != nil {
		t.Fatal(err)
	}
	store := &registry.Store{DB: db, Table: table}
	if got, _ := store.Get(t.Context(), e.KeyID); !got.FlushPending || got.Status != registry.StatusRetired {
		t.Fatalf("after RetireDue: status %s, flushPending %v", got.Status, got.FlushPending)
	}
	for range 2 {
		if _, err := db.UpdateItem(t.Context(), registry.FlushDone(table, e.KeyID)); err != nil {
			t.Fatalf("FlushDone: %v", err)
		}
		if got, _ := store.Get(t.Context(), e.KeyID); got.FlushPending || got.Status != registry.StatusRetired {
			t.Fatalf("after FlushDone: status %s, flushPending %v", got.Status, got.FlushPending)
		}
	}
	other, _ := newEntry(t)
	var failed *types.ConditionalCheckFailedException
	if _, err := db.UpdateItem(t.Context(), registry.FlushDone(table, other.KeyID)); !errors.As(err, &failed) {
		t.Errorf("FlushDone of an unknown key: %v, want ConditionalCheckFailed", err)
	}
	if n := len(db.Items(table)); n != 1 {
		t.Errorf("%d items, want 1", n)
	}
}
