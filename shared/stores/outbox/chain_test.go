package outbox_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

func TestChainOwner(t *testing.T) {
	t.Parallel()
	for chain, want := range map[string]string{
		"p-acme":                               "p-acme",
		outbox.ExchangeChain("p-acme", "0193"): "p-acme",
		outbox.OpsChain:                        events.AllPartners,
	} {
		if got := outbox.ChainOwner(chain); got != want {
			t.Errorf("ChainOwner(%q) = %q, want %q", chain, got, want)
		}
	}
}

// readCountingDB counts the head reads and the transactions a backend serves.
type readCountingDB struct {
	dynamoAPI
	reads, txs atomic.Int64
}

func (c *readCountingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.reads.Add(1)
	return c.dynamoAPI.GetItem(ctx, in, opts...)
}

func (c *readCountingDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.txs.Add(1)
	return c.dynamoAPI.TransactWriteItems(ctx, in, opts...)
}

// old is a decision time long before every other scenario's, so the audit-pending index's
// oldest entry is this scenario's.
var old = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)

func chainScenarios() []scenario {
	return []scenario{
		{"an exchange lane commits each decision in one transaction, without reading its head", func(t *testing.T, b backend) {
			db := &readCountingDB{dynamoAPI: b.db}
			p := newPartner()
			lane := &outbox.Lane{Store: &outbox.Store{DB: db, Table: b.outbox}, Chain: outbox.ExchangeChain(p, newPartner())}
			for i := range 3 {
				rec, err := lane.Commit(t.Context(), issued(p, at(time.Duration(i)*time.Second)), nil)
				if err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
				if rec.Seq != int64(i)+1 || rec.Chain != lane.Chain {
					t.Errorf("commit %d recorded as %s/%d", i, rec.Chain, rec.Seq)
				}
			}
			if r, x := db.reads.Load(), db.txs.Load(); r != 0 || x != 3 {
				t.Errorf("%d head reads and %d transactions for 3 decisions, want 0 and 3", r, x)
			}
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			if err := s.VerifyChain(t.Context(), lane.Chain); err != nil {
				t.Error(err)
			}
			if err := s.VerifyPartner(t.Context(), p); err != nil {
				t.Errorf("the partner's lifecycle chain (empty) does not verify: %v", err)
			}
		}},
		{"a lane whose head another writer moved reads it once and commits after it", func(t *testing.T, b backend) {
			db := &readCountingDB{dynamoAPI: b.db}
			p := newPartner()
			chain := outbox.ExchangeChain(p, newPartner())
			lane := &outbox.Lane{Store: &outbox.Store{DB: db, Table: b.outbox, Backoff: noBackoff}, Chain: chain}
			if _, err := lane.Commit(t.Context(), issued(p, at(0)), nil); err != nil {
				t.Fatal(err)
			}
			if _, err := (&outbox.Store{DB: b.db, Table: b.outbox}).Commit(t.Context(), chain, issued(p, at(time.Second)), nil); err != nil {
				t.Fatalf("the other writer: %v", err)
			}
			rec, err := lane.Commit(t.Context(), issued(p, at(2*time.Second)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Seq != 3 {
				t.Errorf("committed as seq %d, want 3", rec.Seq)
			}
			if err := (&outbox.Store{DB: b.db, Table: b.outbox}).VerifyChain(t.Context(), chain); err != nil {
				t.Error(err)
			}
		}},
		{"a chain takes only its owner's events", func(t *testing.T, b backend) {
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			p := newPartner()
			for _, chain := range []string{outbox.OpsChain, outbox.ExchangeChain(newPartner(), "l"), newPartner()} {
				if _, err := s.Commit(t.Context(), chain, issued(p, at(0)), nil); err == nil || !strings.Contains(err.Error(), "belongs to") {
					t.Errorf("partner %s's event on chain %s: error %v, want a refusal", p, chain, err)
				}
			}
			placed := issued(p, at(0))
			placed.Record = &events.RecordRef{Chain: p, Seq: 1}
			if _, err := s.Commit(t.Context(), p, placed, nil); err == nil || !strings.Contains(err.Error(), "already names a record") {
				t.Errorf("an event naming a record: error %v, want a refusal", err)
			}
			ops := issued(events.AllPartners, at(0))
			if _, err := s.Commit(t.Context(), outbox.OpsChain, ops, nil); err != nil {
				t.Errorf("an ops event on the ops chain: %v", err)
			}
		}},
		{"the chains index lists an owner's chains", func(t *testing.T, b backend) {
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			p := newPartner()
			want := []string{p, outbox.ExchangeChain(p, "a"), outbox.ExchangeChain(p, "b")}
			for _, chain := range want {
				if _, err := s.Commit(t.Context(), chain, issued(p, at(0)), nil); err != nil {
					t.Fatal(err)
				}
			}
			slices.Sort(want)
			var got []string
			for deadline := time.Now().Add(5 * time.Second); ; {
				var err error
				if got, err = s.Chains(t.Context(), p); err != nil {
					t.Fatal(err)
				}
				slices.Sort(got)
				if slices.Equal(got, want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !slices.Equal(got, want) {
				t.Errorf("chains of %s: %q, want %q", p, got, want)
			}
		}},
		{"the audit-pending index holds each record until it is marked audited", func(t *testing.T, b backend) {
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			p := newPartner()
			recs, err := s.CommitAll(t.Context(), p, []events.Detail{onboarded(p, old), issued(p, old.Add(time.Second))}, nil)
			if err != nil {
				t.Fatal(err)
			}
			oldest := func() (outbox.Unaudited, bool) {
				u, found, err := s.OldestUnaudited(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				return u, found
			}
			if u, found := oldest(); !found || u.Chain != p || u.Seq != 1 || !u.CommittedAt.Equal(old) {
				t.Errorf("oldest unaudited %+v (found %t), want %s/1 committed at %v", u, found, p, old)
			}
			at := old.Add(time.Hour)
			if _, err := b.db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				outbox.MarkAudited(b.outbox, p, recs[0].Seq, at),
			}}); err != nil {
				t.Fatal(err)
			}
			if u, found := oldest(); !found || u.Chain != p || u.Seq != 2 {
				t.Errorf("after marking seq 1: oldest unaudited %+v (found %t), want %s/2", u, found, p)
			}
			if _, err := b.db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				outbox.MarkAudited(b.outbox, p, recs[1].Seq, at),
			}}); err != nil {
				t.Fatal(err)
			}
			if u, found := oldest(); found && u.Chain == p {
				t.Errorf("after marking both: oldest unaudited %+v, still the partner's", u)
			}
			// A mark never creates a record, and the records still verify: the hash does not
			// cover the audit attributes.
			if _, err := b.db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				outbox.MarkAudited(b.outbox, p, 3, at),
			}}); err == nil {
				t.Error("marking a record that does not exist succeeded")
			}
			if err := s.VerifyPartner(t.Context(), p); err != nil {
				t.Error(err)
			}
		}},
	}
}
