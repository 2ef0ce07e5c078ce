package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/stores/audittrail"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/topology"
)

const historyPartner = "p-abcdefghijklmnopqrstuvwxyz"

// historyFixture is an outbox on the fake with decisions of historyPartner, and a trail that
// exported them in one window.
type historyFixture struct {
	db    *dynamodbtest.DynamoDB
	store *outbox.Store
	trail *audittrail.MemTrail
	now   time.Time
}

func newHistoryFixture(t *testing.T, decisions int) historyFixture {
	t.Helper()
	ctx := context.Background()
	decl, ok := topology.Lanyard().Table("outbox")
	if !ok {
		t.Fatal("no outbox table declared")
	}
	key := func(a topology.Attr) dynamodbtest.KeyAttr {
		return dynamodbtest.KeyAttr{Name: a.Name, Type: types.ScalarAttributeType(a.Type)}
	}
	db := dynamodbtest.NewDynamoDB()
	sk := key(*decl.SortKey)
	db.CreateTable("outbox", key(decl.PartitionKey), &sk)
	for _, ix := range decl.Indexes {
		var isk *dynamodbtest.KeyAttr
		if ix.SortKey != nil {
			isk = new(key(*ix.SortKey))
		}
		db.CreateIndex("outbox", ix.Name, key(ix.PartitionKey), isk)
	}
	store := &outbox.Store{DB: db, Table: "outbox"}
	start := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	var records []outbox.Record
	for i := range decisions {
		r, err := store.Commit(ctx, historyPartner, &events.CredentialRevoked{
			Meta:         events.NewMeta(historyPartner, events.Actor{Kind: "partner", ID: historyPartner}, start.Add(time.Duration(i)*time.Second)),
			RevocationID: fmt.Sprintf("rev-%d", i), KeyIDs: []string{"k1"}, Reason: "compromised",
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, r)
	}
	signingKey, signer, err := audittrail.NewMemoryKey("arn:aws:kms:us-east-1:000000000000:key/k")
	if err != nil {
		t.Fatal(err)
	}
	tr := audittrail.NewMemTrail()
	win := audittrail.NewWindow(start, start.Add(time.Minute), "lanyard-test", 0, tr.PutObject)
	for _, r := range records {
		if err := win.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	s, err := win.Seal(ctx, nil, signingKey, signer, start.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	tr.PutSealed(s)
	return historyFixture{db: db, store: store, trail: tr, now: start.Add(2 * time.Minute)}
}

func runAuditHistory(f historyFixture, args ...string) (code int, stdout, stderr string) {
	return runAuditSub(func(out *output) *cobra.Command {
		return newAuditHistoryCmd(out,
			func(context.Context, rotationTarget) (outbox.DynamoDBAPI, error) { return f.db, nil },
			func(context.Context, trailTarget) (audittrail.Trail, error) { return f.trail, nil },
			func() time.Time { return f.now })
	}, append([]string{"audit", "history"}, args...)...)
}

func TestAuditHistory(t *testing.T) {
	args := []string{"--partner", historyPartner, "--table", "outbox", "--bucket", "audit"}
	t.Run("exported and verified", func(t *testing.T) {
		f := newHistoryFixture(t, 3)
		code, out, errOut := runAuditHistory(f, args...)
		if code != 0 || !strings.Contains(out, "3 records, 3 exported  verified") || strings.Count(out, "exported 20261206T150000Z") != 3 {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("a decision not exported yet", func(t *testing.T) {
		f := newHistoryFixture(t, 3)
		if _, err := f.store.Commit(context.Background(), historyPartner, &events.CredentialRevoked{
			Meta: events.NewMeta(historyPartner, events.Actor{Kind: "partner", ID: historyPartner}, f.now), RevocationID: "rev-late", KeyIDs: []string{"k1"}, Reason: "compromised",
		}, nil); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runAuditHistory(f, args...)
		if code != 0 || !strings.Contains(out, "4 records, 3 exported") || !strings.Contains(out, "not exported yet") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("an exported object replaced", func(t *testing.T) {
		f := newHistoryFixture(t, 3)
		obj := f.trail.Keys(audittrail.ObjectPrefix)[0]
		f.trail.Put(obj, []byte("not gzip"), nil)
		code, out, errOut := runAuditHistory(f, args...)
		if code != 1 || !strings.Contains(errOut, obj) || !strings.Contains(out, "FAILED") {
			t.Fatalf("exit %d, want 1 naming %s\n%s%s", code, obj, out, errOut)
		}
	})
	t.Run("json", func(t *testing.T) {
		f := newHistoryFixture(t, 2)
		code, out, errOut := runAuditHistory(f, append(args, "-o", "json")...)
		if code != 0 || !strings.Contains(out, `"ok": true`) || !strings.Contains(out, `"decision": "revoked"`) {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})
	for name, bad := range map[string][]string{
		"no partner":        {"--table", "outbox", "--bucket", "audit"},
		"not a partner id":  {"--partner", "p-1", "--table", "outbox", "--bucket", "audit"},
		"no bucket":         {"--partner", historyPartner, "--table", "outbox"},
		"prefix and bucket": {"--partner", historyPartner, "--prefix", "lanyard", "--bucket", "audit"},
	} {
		t.Run(name, func(t *testing.T) {
			if code, out, errOut := runAuditHistory(newHistoryFixture(t, 1), bad...); code != 2 || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("exit %d, want 2 and one line\n%s%s", code, out, errOut)
			}
		})
	}
}
