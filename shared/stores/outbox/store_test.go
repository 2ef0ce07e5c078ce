package outbox_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

func noBackoff(int) time.Duration { return 0 }

// A decision that loses the race to another decision of the partner reads the head again and
// commits after it.
func TestCommitRetriesAfterAnotherDecisionMovedTheHead(t *testing.T) {
	t.Parallel()
	b, db := newFakeBackend(t)
	p := newPartner()
	rival := &outbox.Store{DB: db, Table: b.outbox}
	var raced atomic.Bool
	db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && raced.CompareAndSwap(false, true) {
			if _, err := rival.Commit(context.Background(), p, onboarded(p, at(0)), nil); err != nil {
				t.Errorf("the rival's commit: %v", err)
			}
		}
		return nil
	}
	s := &outbox.Store{DB: db, Table: b.outbox, Backoff: noBackoff}
	rec, err := s.Commit(t.Context(), p, issued(p, at(time.Second)), nil)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if rec.Seq != 2 {
		t.Errorf("committed as seq %d, want 2 (after the rival's 1)", rec.Seq)
	}
	if n := db.Calls("TransactWriteItems"); n != 3 {
		t.Errorf("%d transactions, want 3 (the rival's, ours refused, ours again)", n)
	}
	if err := s.VerifyPartner(t.Context(), p); err != nil {
		t.Error(err)
	}
}

func TestCommitGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	b, db := newFakeBackend(t)
	p := newPartner()
	rival := &outbox.Store{DB: db, Table: b.outbox}
	var ours atomic.Int64
	var rivalry atomic.Bool
	db.Intercept = func(op string, _ any) error {
		if op != "TransactWriteItems" || rivalry.Load() {
			return nil
		}
		ours.Add(1)
		rivalry.Store(true)
		defer rivalry.Store(false)
		_, err := rival.Commit(context.Background(), p, issued(p, at(0)), nil)
		return err
	}
	s := &outbox.Store{DB: db, Table: b.outbox, MaxAttempts: 3, Backoff: noBackoff}
	d := onboarded(p, at(0))
	_, err := s.Commit(t.Context(), p, d, nil)
	if !errors.Is(err, outbox.ErrConflict) || !strings.Contains(err.Error(), "(3 attempts;") {
		t.Fatalf("commit: %v, want ErrConflict after 3 attempts", err)
	}
	if n := ours.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	recs, _ := s.Records(t.Context(), p)
	for _, r := range recs {
		if r.EventID == d.EventID {
			t.Errorf("the decision that gave up was written as seq %d", r.Seq)
		}
	}
}

func TestCommitRetriesATransactionConflict(t *testing.T) {
	t.Parallel()
	b, db := newFakeBackend(t)
	var once atomic.Bool
	db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && once.CompareAndSwap(false, true) {
			return &types.TransactionCanceledException{
				Message: aws.String("Transaction cancelled, please refer cancellation reasons for specific reasons [None, None, TransactionConflict]"),
				CancellationReasons: []types.CancellationReason{
					{Code: aws.String("None")}, {Code: aws.String("None")}, {Code: aws.String("TransactionConflict")},
				},
			}
		}
		return nil
	}
	s := &outbox.Store{DB: db, Table: b.outbox, Backoff: noBackoff}
	p := newPartner()
	if _, err := s.Commit(t.Context(), p, onboarded(p, at(0)), []types.TransactWriteItem{createState(b.state, p)}); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if !stateExists(t, b, p) {
		t.Error("the retried transaction's state change is missing")
	}
}

func TestCommitDoesNotRetryOtherErrors(t *testing.T) {
	t.Parallel()
	b, db := newFakeBackend(t)
	boom := errors.New("connection reset")
	db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" {
			return boom
		}
		return nil
	}
	s := &outbox.Store{DB: db, Table: b.outbox, Backoff: noBackoff}
	p := newPartner()
	if _, err := s.Commit(t.Context(), p, onboarded(p, at(0)), nil); !errors.Is(err, boom) || errors.Is(err, outbox.ErrConflict) {
		t.Fatalf("commit: %v, want the transaction's own error", err)
	}
	if n := db.Calls("TransactWriteItems"); n != 0 {
		t.Errorf("%d transactions reached the table", n)
	}
}

func TestCommitStopsWaitingWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	b, db := newFakeBackend(t)
	p := newPartner()
	// The head always looks stale: every attempt conflicts.
	if _, err := (&outbox.Store{DB: db, Table: b.outbox}).Commit(t.Context(), p, onboarded(p, at(0)), nil); err != nil {
		t.Fatal(err)
	}
	stale := &staleHead{DynamoDBAPI: db}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	s := &outbox.Store{DB: stale, Table: b.outbox, MaxAttempts: 1000, Backoff: func(int) time.Duration { return time.Hour }}
	began := time.Now()
	_, err := s.Commit(ctx, p, issued(p, at(time.Second)), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("commit: %v, want the context's deadline", err)
	}
	if waited := time.Since(began); waited > 5*time.Second {
		t.Errorf("commit returned after %s", waited)
	}
}

// staleHead answers every head read with the empty chain.
type staleHead struct{ outbox.DynamoDBAPI }

func (s *staleHead) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{}, nil
}

func TestCommitRefusesBeforeWriting(t *testing.T) {
	t.Parallel()
	b, db := newFakeBackend(t)
	s := &outbox.Store{DB: db, Table: b.outbox}
	p := newPartner()
	if _, err := s.Commit(t.Context(), p, onboarded("p-other", at(0)), nil); err == nil {
		t.Error("committed another partner's event")
	}
	if _, err := s.Commit(t.Context(), p, nil, nil); err == nil {
		t.Error("committed no event")
	}
	tooMany := make([]types.TransactWriteItem, outbox.MaxStateChanges+1)
	if _, err := s.Commit(t.Context(), p, onboarded(p, at(0)), tooMany); err == nil || !strings.Contains(err.Error(), "at most 98") {
		t.Errorf("%d state changes: %v", len(tooMany), err)
	}
	if n := db.Calls("TransactWriteItems") + db.Calls("GetItem"); n != 0 {
		t.Errorf("%d calls reached the table", n)
	}
}

func TestHeadRefusesAMalformedHead(t *testing.T) {
	t.Parallel()
	b, db := newFakeBackend(t)
	p := newPartner()
	item := outbox.Key(p, outbox.HeadSeq)
	item["headSeq"] = &types.AttributeValueMemberN{Value: "3"}
	item["headHash"] = &types.AttributeValueMemberS{Value: "not-a-hash"}
	if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(b.outbox), Item: item}); err != nil {
		t.Fatal(err)
	}
	s := &outbox.Store{DB: db, Table: b.outbox}
	if _, err := s.Head(t.Context(), p); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("Head: %v", err)
	}
}

var _ outbox.DynamoDBAPI = (*dynamodbtest.DynamoDB)(nil)

func TestCommitAllRecordsADecisionsEventsInOrder(t *testing.T) {
	t.Parallel()
	b, db := newFakeBackend(t)
	s := &outbox.Store{DB: db, Table: b.outbox, Backoff: noBackoff}
	p := newPartner()
	recs, err := s.CommitAll(t.Context(), p, []events.Detail{onboarded(p, at(0)), issued(p, at(0))}, []types.TransactWriteItem{createState(b.state, p)})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Seq != 1 || recs[1].Seq != 2 || recs[1].PrevHash != recs[0].Hash ||
		recs[0].DetailType != events.TypePartnerOnboarded || recs[1].DetailType != events.TypeCredentialIssued {
		t.Fatalf("records: %+v", recs)
	}
	if err := s.VerifyPartner(t.Context(), p); err != nil {
		t.Error(err)
	}
	wantHead(t, s, p, 2, recs[1].Hash)

	// The state change's condition fails now (the state exists): nothing is written, and the
	// error names the caller's item by its own index.
	_, err = s.CommitAll(t.Context(), p, []events.Detail{issued(p, at(1)), issued(p, at(2))}, []types.TransactWriteItem{createState(b.state, p+"-other"), requireState(b.state, "absent")})
	var stateErr *outbox.StateChangeError
	if !errors.As(err, &stateErr) || stateErr.Index != 1 {
		t.Fatalf("commit with a failing state change: %v", err)
	}
	wantHead(t, s, p, 2, recs[1].Hash)
}

// CommitFrom appends after the head its caller read, without reading it again; when that head
// is stale (another decision committed since), it reads the head afresh and commits after it.
func TestCommitFromUsesTheHeadReadAndRereadsAStaleOne(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		rivalFirst         bool
		wantSeq            int64
		wantReads, wantTxs int
	}{
		{"the head read is current", false, 1, 0, 1},
		{"the head read is stale", true, 2, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, db := newFakeBackend(t)
			p := newPartner()
			s := &outbox.Store{DB: db, Table: b.outbox, Backoff: noBackoff}
			head, err := s.Head(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			if tc.rivalFirst {
				if _, err := s.Commit(t.Context(), p, onboarded(p, at(0)), nil); err != nil {
					t.Fatalf("the rival's commit: %v", err)
				}
			}
			reads, txs := db.Calls("GetItem"), db.Calls("TransactWriteItems")
			rec, err := s.CommitFrom(t.Context(), head, issued(p, at(time.Second)), nil)
			if err != nil {
				t.Fatalf("commit: %v", err)
			}
			if rec.Seq != tc.wantSeq {
				t.Errorf("committed as seq %d, want %d", rec.Seq, tc.wantSeq)
			}
			if n := db.Calls("GetItem") - reads; n != tc.wantReads {
				t.Errorf("%d head reads, want %d", n, tc.wantReads)
			}
			if n := db.Calls("TransactWriteItems") - txs; n != tc.wantTxs {
				t.Errorf("%d transactions, want %d", n, tc.wantTxs)
			}
			if err := s.VerifyPartner(t.Context(), p); err != nil {
				t.Error(err)
			}
		})
	}
}
