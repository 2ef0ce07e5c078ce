package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/fakes/outboxtest"
	"github.com/lanyardhq/lanyard/shared/features/relay"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/topology"
)

// The scenarios run against the in-memory fake here and against DynamoDB Local in the
// integration test (dynamodb_integration_test.go): what the fake answers, DynamoDB answers.

// dynamoAPI is every DynamoDB operation the scenarios use.
type dynamoAPI interface {
	outbox.DynamoDBAPI
	relay.DynamoDBAPI
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// backend is a DynamoDB with a fresh outbox table (keyed as the production declaration says)
// and a fresh table for the decisions' own state (key "pk", S).
type backend struct {
	db     dynamoAPI
	outbox string
	state  string
	// local says the backend is DynamoDB Local, for the one difference from AWS a scenario
	// meets: it accepts two operations on one item in a transaction.
	local bool
}

type scenario struct {
	name string
	run  func(t *testing.T, b backend)
}

// outboxDeclaration is the production declaration of the outbox table.
func outboxDeclaration(t testing.TB) topology.Table {
	t.Helper()
	tb, ok := topology.Lanyard().Table("outbox")
	if !ok {
		t.Fatal("the production topology declares no outbox table")
	}
	return tb
}

func newFakeBackend(t *testing.T) (backend, *dynamodbtest.DynamoDB) {
	t.Helper()
	decl := outboxDeclaration(t)
	db := dynamodbtest.NewDynamoDB()
	sk := dynamodbtest.KeyAttr{Name: decl.SortKey.Name, Type: types.ScalarAttributeType(decl.SortKey.Type)}
	db.CreateTable("outbox", dynamodbtest.KeyAttr{Name: decl.PartitionKey.Name, Type: types.ScalarAttributeType(decl.PartitionKey.Type)}, &sk)
	for _, ix := range decl.Indexes {
		var isk *dynamodbtest.KeyAttr
		if ix.SortKey != nil {
			isk = &dynamodbtest.KeyAttr{Name: ix.SortKey.Name, Type: types.ScalarAttributeType(ix.SortKey.Type)}
		}
		db.CreateIndex("outbox", ix.Name, dynamodbtest.KeyAttr{Name: ix.PartitionKey.Name, Type: types.ScalarAttributeType(ix.PartitionKey.Type)}, isk)
	}
	db.CreateTable("state", dynamodbtest.KeyAttr{Name: "pk", Type: types.ScalarAttributeTypeS}, nil)
	return backend{db: db, outbox: "outbox", state: "state"}, db
}

func TestScenariosOnTheFake(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			b, _ := newFakeBackend(t)
			sc.run(t, b)
		})
	}
}

var partnerSeq struct {
	sync.Mutex
	n int
}

// newPartner returns a partner id unique to the test run.
func newPartner() string {
	partnerSeq.Lock()
	defer partnerSeq.Unlock()
	partnerSeq.n++
	return fmt.Sprintf("p-%d-%d", time.Now().UnixNano()%1_000_000_000, partnerSeq.n)
}

func stateKey(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}
}

// createState is a state change creating item pk, only if it does not exist.
func createState(table, pk string) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(table),
		Item: map[string]types.AttributeValue{
			"pk":     &types.AttributeValueMemberS{Value: pk},
			"status": &types.AttributeValueMemberS{Value: "active"},
		},
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": "pk"},
	}}
}

// requireState is a state change that only checks item pk exists.
func requireState(table, pk string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                aws.String(table),
		Key:                      stateKey(pk),
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": "pk"},
	}}
}

func stateExists(t *testing.T, b backend, pk string) bool {
	t.Helper()
	out, err := b.db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(b.state), Key: stateKey(pk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("get state %s: %v", pk, err)
	}
	return out.Item != nil
}

// reasonCodes returns the cancellation reason codes of a cancelled transaction.
func reasonCodes(t *testing.T, err error) []string {
	t.Helper()
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		t.Fatalf("error %v (%T), want a TransactionCanceledException", err, err)
	}
	codes := make([]string, len(canceled.CancellationReasons))
	for i, r := range canceled.CancellationReasons {
		codes[i] = aws.ToString(r.Code)
	}
	return codes
}

func wantValidation(t *testing.T, what string, err error) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
		t.Errorf("%s: %v, want a ValidationException", what, err)
	}
}

func wantHead(t *testing.T, s *outbox.Store, partner string, seq int64, hash string) {
	t.Helper()
	head, err := s.Head(t.Context(), partner)
	if err != nil {
		t.Fatal(err)
	}
	if head != (outbox.Head{Chain: partner, Seq: seq, Hash: hash}) {
		t.Errorf("head %+v, want seq %d hash %s", head, seq, hash)
	}
}

func scenarios() []scenario {
	return append(append(chainScenarios(), exportScenarios()...), []scenario{
		{"commit writes the record, the head and the state change together", func(t *testing.T, b backend) {
			ctx := t.Context()
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			p := newPartner()
			wantHead(t, s, p, 0, outbox.GenesisHash)
			first, err := s.Commit(ctx, p, onboarded(p, at(0)), []types.TransactWriteItem{createState(b.state, "partner#"+p)})
			if err != nil {
				t.Fatalf("commit: %v", err)
			}
			if first.Seq != 1 || first.PrevHash != outbox.GenesisHash {
				t.Errorf("first record %+v", first)
			}
			wantHead(t, s, p, 1, first.Hash)
			if !stateExists(t, b, "partner#"+p) {
				t.Error("the state change was not written")
			}
			second, err := s.Commit(ctx, p, issued(p, at(time.Second)), []types.TransactWriteItem{requireState(b.state, "partner#"+p)})
			if err != nil {
				t.Fatalf("second commit: %v", err)
			}
			if second.Seq != 2 || second.PrevHash != first.Hash {
				t.Errorf("second record %+v", second)
			}
			recs, err := s.Records(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2 || !sameRecord(recs[0], first) || !sameRecord(recs[1], second) {
				t.Errorf("records read back %+v, want %+v and %+v", recs, first, second)
			}
			if err := s.VerifyPartner(ctx, p); err != nil {
				t.Errorf("VerifyPartner: %v", err)
			}
		}},

		{"a stale head cancels the whole transaction", func(t *testing.T, b backend) {
			ctx := t.Context()
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			p := newPartner()
			first, err := s.Commit(ctx, p, onboarded(p, at(0)), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, items, err := outbox.Append(b.outbox, outbox.Head{Chain: p, Hash: outbox.GenesisHash}, issued(p, at(time.Second)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append(items, createState(b.state, "stale#"+p))})
			if got := reasonCodes(t, err); !slices.Equal(got, []string{"ConditionalCheckFailed", "ConditionalCheckFailed", "None"}) {
				t.Errorf("cancellation reasons %v", got)
			}
			if stateExists(t, b, "stale#"+p) {
				t.Error("the state change of a cancelled transaction was written")
			}
			wantHead(t, s, p, 1, first.Hash)
			if recs, _ := s.Records(ctx, p); len(recs) != 1 || !sameRecord(recs[0], first) {
				t.Errorf("records %+v, want only the first", recs)
			}
		}},

		{"the head's guard alone cancels the record", func(t *testing.T, b backend) {
			ctx := t.Context()
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			p := newPartner()
			first, err := s.Commit(ctx, p, onboarded(p, at(0)), nil)
			if err != nil {
				t.Fatal(err)
			}
			// Right seq, wrong hash: the record's own Put would succeed on its own.
			forged := outbox.Head{Chain: p, Seq: 1, Hash: outbox.GenesisHash[:63] + "1"}
			_, items, err := outbox.Append(b.outbox, forged, issued(p, at(time.Second)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
			if got := reasonCodes(t, err); !slices.Equal(got, []string{"None", "ConditionalCheckFailed"}) {
				t.Errorf("cancellation reasons %v", got)
			}
			wantHead(t, s, p, 1, first.Hash)
			if recs, _ := s.Records(ctx, p); len(recs) != 1 {
				t.Errorf("%d records, want the first only: the record of a cancelled transaction was written", len(recs))
			}
		}},

		{"a failed state condition writes nothing and is not retried", func(t *testing.T, b backend) {
			ctx := t.Context()
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			p := newPartner()
			first, err := s.Commit(ctx, p, onboarded(p, at(0)), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Commit(ctx, p, issued(p, at(time.Second)), []types.TransactWriteItem{
				createState(b.state, "key#"+p), requireState(b.state, "nobody#"+p),
			})
			var stateErr *outbox.StateChangeError
			if !errors.As(err, &stateErr) || stateErr.Index != 1 {
				t.Fatalf("commit: %v, want a StateChangeError for state change 1", err)
			}
			if got := reasonCodes(t, err); !slices.Equal(got, []string{"None", "None", "None", "ConditionalCheckFailed"}) {
				t.Errorf("cancellation reasons %v", got)
			}
			if errors.Is(err, outbox.ErrConflict) {
				t.Error("a failed state condition reported as a head conflict")
			}
			if stateExists(t, b, "key#"+p) {
				t.Error("a state change of the cancelled decision was written")
			}
			wantHead(t, s, p, 1, first.Hash)
		}},

		{"two operations on one item are refused", func(t *testing.T, b backend) {
			ctx := t.Context()
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			p := newPartner()
			_, err := s.Commit(ctx, p, onboarded(p, at(0)), []types.TransactWriteItem{{ConditionCheck: &types.ConditionCheck{
				TableName: aws.String(b.outbox), Key: outbox.Key(p, outbox.HeadSeq),
				ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": outbox.PartitionKey},
			}}})
			if b.local {
				// DynamoDB Local checks the state change against the head the outbox items
				// just wrote, and cancels: refused as well, only differently.
				if got := reasonCodes(t, err); !slices.Equal(got, []string{"None", "None", "ConditionalCheckFailed"}) {
					t.Errorf("DynamoDB Local's cancellation reasons %v", got)
				}
			} else {
				wantValidation(t, "a state change on the partner's head", err)
			}
			wantHead(t, s, p, 0, outbox.GenesisHash)
			if recs, err := s.Records(ctx, p); err != nil || len(recs) != 0 {
				t.Errorf("records %+v (%v), want none", recs, err)
			}
		}},

		{"concurrent commits make one contiguous chain", func(t *testing.T, b backend) {
			ctx := t.Context()
			const writers, each = 6, 4
			p := newPartner()
			db := &countingDB{dynamoAPI: b.db}
			var wg sync.WaitGroup
			errs := make(chan error, writers*each)
			ids := make(chan string, writers*each)
			for w := range writers {
				wg.Go(func() {
					s := &outbox.Store{DB: db, Table: b.outbox, MaxAttempts: 100}
					for i := range each {
						d := issued(p, at(time.Duration(w*each+i)*time.Millisecond))
						if _, err := s.Commit(ctx, p, d, []types.TransactWriteItem{createState(b.state, d.EventID)}); err != nil {
							errs <- err
							continue
						}
						ids <- d.EventID
					}
				})
			}
			wg.Wait()
			close(errs)
			close(ids)
			for err := range errs {
				t.Errorf("concurrent commit: %v", err)
			}
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			recs, err := s.Records(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			committed := map[string]bool{}
			for id := range ids {
				committed[id] = true
			}
			seen := map[string]bool{}
			for _, r := range recs {
				if seen[r.EventID] || !committed[r.EventID] {
					t.Errorf("seq %d holds event %s: committed %v, seen before %v", r.Seq, r.EventID, committed[r.EventID], seen[r.EventID])
				}
				seen[r.EventID] = true
				if !stateExists(t, b, r.EventID) {
					t.Errorf("seq %d: its decision's state change is missing", r.Seq)
				}
			}
			if len(recs) != writers*each || len(committed) != writers*each {
				t.Errorf("%d records for %d committed decisions, want %d", len(recs), len(committed), writers*each)
			}
			if err := s.VerifyPartner(ctx, p); err != nil {
				t.Errorf("VerifyPartner: %v", err)
			}
			t.Logf("%d transactions for %d records: %d cancelled on a moved head", db.calls.Load(), len(recs), db.cancelled.Load())
		}},

		{"the relay publishes each event once across redeliveries", func(t *testing.T, b backend) {
			ctx := t.Context()
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			p1, p2 := newPartner(), newPartner()
			var committed []outbox.Record
			for i, d := range []struct {
				p    string
				make func() (outbox.Record, error)
			}{
				{p1, func() (outbox.Record, error) { return s.Commit(ctx, p1, onboarded(p1, at(0)), nil) }},
				{p2, func() (outbox.Record, error) { return s.Commit(ctx, p2, onboarded(p2, at(0)), nil) }},
				{p1, func() (outbox.Record, error) { return s.Commit(ctx, p1, issued(p1, at(time.Second)), nil) }},
			} {
				rec, err := d.make()
				if err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
				committed = append(committed, rec)
			}
			// The images the stream delivered when the records were inserted: never marked.
			var images []map[string]types.AttributeValue
			for _, r := range committed {
				images = append(images, itemtest.Must(r.Item())(t))
			}
			batch := outboxtest.InsertEvent([]string{outbox.PartitionKey, outbox.SortKey}, images...)
			bus := &outboxtest.Bus{}
			now := at(time.Minute)
			r := &relay.Relay{DB: b.db, Events: bus, Table: b.outbox, Bus: "lanyard", Now: func() time.Time { return now }}
			res, err := r.Process(ctx, batch)
			if err != nil || res.Published != 3 {
				t.Fatalf("first delivery: %+v, %v", res, err)
			}
			res, err = r.Process(ctx, batch) // redelivered, images unchanged
			if err != nil || res.Published != 0 || res.Skipped != 3 {
				t.Fatalf("redelivery: %+v, %v, want all 3 skipped", res, err)
			}
			published := bus.Published()
			if len(published) != 3 {
				t.Fatalf("%d events on the bus, want 3", len(published))
			}
			busIDs := map[string]string{} // event id → bus event id
			for _, e := range published {
				busIDs[detailEventID(t, aws.ToString(e.Entry.Detail))] = e.EventID
			}
			for _, p := range []string{p1, p2} {
				recs, err := s.Records(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				for _, rec := range recs {
					if !rec.PublishedAt.Equal(now) || rec.BusEventID == "" || rec.BusEventID != busIDs[rec.EventID] {
						t.Errorf("record %s/%d: published at %v as %q, want %v as %q", p, rec.Seq, rec.PublishedAt, rec.BusEventID, now, busIDs[rec.EventID])
					}
				}
				if err := s.VerifyPartner(ctx, p); err != nil {
					t.Errorf("the relay's marks broke the chain: %v", err)
				}
			}
		}},

		{"a record is marked published once", func(t *testing.T, b backend) {
			ctx := t.Context()
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			p := newPartner()
			rec, err := s.Commit(ctx, p, onboarded(p, at(0)), nil)
			if err != nil {
				t.Fatal(err)
			}
			mark := func(id string) error {
				_, err := b.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName: aws.String(b.outbox), Key: outbox.Key(p, rec.Seq),
					UpdateExpression:    aws.String("SET #publishedAt = :at, #busEventId = :id"),
					ConditionExpression: aws.String("attribute_exists(#pk) AND attribute_not_exists(#publishedAt)"),
					ExpressionAttributeNames: map[string]string{
						"#pk": outbox.PartitionKey, "#publishedAt": outbox.AttrPublishedAt, "#busEventId": outbox.AttrBusEventID,
					},
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":at": &types.AttributeValueMemberS{Value: outbox.FormatTime(at(time.Minute))},
						":id": &types.AttributeValueMemberS{Value: id},
					},
				})
				return err
			}
			if err := mark("bus-1"); err != nil {
				t.Fatalf("first mark: %v", err)
			}
			var failed *types.ConditionalCheckFailedException
			if err := mark("bus-2"); !errors.As(err, &failed) {
				t.Fatalf("second mark: %v, want ConditionalCheckFailedException", err)
			}
			recs, _ := s.Records(ctx, p)
			if len(recs) != 1 || recs[0].BusEventID != "bus-1" {
				t.Errorf("records %+v, want the first mark kept", recs)
			}
			// A record that does not exist is not created by a mark.
			_, err = b.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: aws.String(b.outbox), Key: outbox.Key(p, 99),
				UpdateExpression:          aws.String("SET #publishedAt = :at"),
				ConditionExpression:       aws.String("attribute_exists(#pk) AND attribute_not_exists(#publishedAt)"),
				ExpressionAttributeNames:  map[string]string{"#pk": outbox.PartitionKey, "#publishedAt": outbox.AttrPublishedAt},
				ExpressionAttributeValues: map[string]types.AttributeValue{":at": &types.AttributeValueMemberS{Value: "x"}},
			})
			if !errors.As(err, &failed) {
				t.Errorf("mark of a missing record: %v, want ConditionalCheckFailedException", err)
			}
		}},

		{"queries page in sort key order", func(t *testing.T, b backend) {
			ctx := t.Context()
			s := &outbox.Store{DB: b.db, Table: b.outbox}
			p := newPartner()
			for i := range 11 { // seq 1 … 11: 2 and 10 order differently as strings
				if _, err := s.Commit(ctx, p, issued(p, at(time.Duration(i)*time.Second)), nil); err != nil {
					t.Fatal(err)
				}
			}
			query := func(limit int32, forward bool, start map[string]types.AttributeValue) ([]int64, []int64) {
				t.Helper()
				out, err := b.db.Query(ctx, &dynamodb.QueryInput{
					TableName:                aws.String(b.outbox),
					KeyConditionExpression:   aws.String("#pk = :pk AND #seq BETWEEN :lo AND :hi"),
					ExpressionAttributeNames: map[string]string{"#pk": outbox.PartitionKey, "#seq": outbox.SortKey},
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":pk": &types.AttributeValueMemberS{Value: p},
						":lo": &types.AttributeValueMemberN{Value: "2"}, ":hi": &types.AttributeValueMemberN{Value: "10"},
					},
					Limit: aws.Int32(limit), ScanIndexForward: aws.Bool(forward), ExclusiveStartKey: start, ConsistentRead: aws.Bool(true),
				})
				if err != nil {
					t.Fatalf("query: %v", err)
				}
				var seqs, last []int64
				for _, it := range out.Items {
					_, seq, _ := outbox.KeyOf(it)
					seqs = append(seqs, seq)
				}
				if out.LastEvaluatedKey != nil {
					_, seq, _ := outbox.KeyOf(out.LastEvaluatedKey)
					last = []int64{seq}
				}
				return seqs, last
			}
			seqs, last := query(4, true, nil)
			if !slices.Equal(seqs, []int64{2, 3, 4, 5}) || !slices.Equal(last, []int64{5}) {
				t.Errorf("first page %v, last evaluated %v", seqs, last)
			}
			seqs, last = query(4, true, outbox.Key(p, 8))
			if !slices.Equal(seqs, []int64{9, 10}) || last != nil {
				t.Errorf("page after 8: %v, last evaluated %v", seqs, last)
			}
			seqs, last = query(3, false, outbox.Key(p, 5))
			if !slices.Equal(seqs, []int64{4, 3, 2}) || last != nil {
				t.Errorf("backwards from 5: %v, last evaluated %v, want none (Limit met at the last match)", seqs, last)
			}
			recs, err := s.Records(ctx, p)
			if err != nil || len(recs) != 11 || recs[10].Seq != 11 {
				t.Errorf("Records: %d records, %v", len(recs), err)
			}
		}},

		{"requests are validated as DynamoDB validates them", func(t *testing.T, b backend) {
			ctx := t.Context()
			put := func(expr string, names map[string]string, values map[string]types.AttributeValue) error {
				_, err := b.db.PutItem(ctx, &dynamodb.PutItemInput{
					TableName: aws.String(b.state), Item: stateKey("v#" + newPartner()),
					ConditionExpression: aws.String(expr), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
				})
				return err
			}
			one := map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: "x"}}
			wantValidation(t, "an unused value", put("attribute_not_exists(pk)", nil, one))
			wantValidation(t, "an unused name", put("attribute_not_exists(pk)", map[string]string{"#n": "n"}, nil))
			wantValidation(t, "an undefined value", put("pk = :v", nil, nil))
			wantValidation(t, "an undefined name", put("attribute_not_exists(#n)", nil, nil))
			wantValidation(t, "an ordering operand of type BOOL", put("pk < :b", nil, map[string]types.AttributeValue{":b": &types.AttributeValueMemberBOOL{Value: true}}))
			for _, word := range dynamodbtest.ReservedWords() {
				wantValidation(t, "the bare reserved word "+word, put("attribute_not_exists("+word+")", nil, nil))
			}
			if err := put("attribute_not_exists(pk) AND NOT (pk = :v OR begins_with(pk, :v))", nil, one); err != nil {
				t.Errorf("a valid condition: %v", err)
			}
			_, err := b.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: aws.String(b.state), Key: stateKey("u#" + newPartner()),
				UpdateExpression:          aws.String("SET pk = :v"),
				ExpressionAttributeValues: one,
			})
			wantValidation(t, "an update of a key attribute", err)
			_, err = b.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(b.state), Item: stateKey("")})
			wantValidation(t, "an empty string key", err)
			_, err = b.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(b.outbox), Key: stateKey("x")})
			wantValidation(t, "a key of another schema", err)
			_, err = b.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
				b.state: {Keys: []map[string]types.AttributeValue{stateKey("d"), stateKey("d")}},
			}})
			wantValidation(t, "duplicate BatchGetItem keys", err)
		}},

		{"conditions on missing attributes", func(t *testing.T, b backend) {
			ctx := t.Context()
			pk := "m#" + newPartner()
			if _, err := b.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(b.state), Item: stateKey(pk)}); err != nil {
				t.Fatal(err)
			}
			check := func(expr string) bool {
				t.Helper()
				_, err := b.db.PutItem(ctx, &dynamodb.PutItemInput{
					TableName: aws.String(b.state), Item: stateKey(pk), ConditionExpression: aws.String(expr),
					ExpressionAttributeNames:  map[string]string{"#note": "note"},
					ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: "x"}},
				})
				var failed *types.ConditionalCheckFailedException
				if err != nil && !errors.As(err, &failed) {
					t.Fatalf("%s: %v", expr, err)
				}
				return err == nil
			}
			for expr, want := range map[string]bool{
				"#note = :v":             false,
				"#note <> :v":            true,
				"#note < :v":             false,
				"#note >= :v":            false,
				"#note IN (:v)":          false,
				"begins_with(#note, :v)": false,
				"attribute_not_exists(#note) OR #note = :v":          true,
				"NOT (#note = :v)":                                   true,
				"#note BETWEEN :v AND :v OR #note <> :v":             true,
				"attribute_exists(#note) OR #note BETWEEN :v AND :v": false,
			} {
				if got := check(expr); got != want {
					t.Errorf("%s on an item without note: %v, want %v", expr, got, want)
				}
			}
		}},
	}...)
}

// countingDB counts transactions, and those cancelled.
type countingDB struct {
	dynamoAPI
	calls, cancelled atomic.Int64
}

func (c *countingDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.calls.Add(1)
	out, err := c.dynamoAPI.TransactWriteItems(ctx, in, opts...)
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		c.cancelled.Add(1)
	}
	return out, err
}

func detailEventID(t *testing.T, detail string) string {
	t.Helper()
	var d struct {
		EventID string `json:"eventId"`
	}
	if err := json.Unmarshal([]byte(detail), &d); err != nil || d.EventID == "" {
		t.Fatalf("detail without an eventId: %s", detail)
	}
	return d.EventID
}

// appendAfterHead commits one more decision of the partner right after the first read of its
// head: a decision landing between VerifyPartner's two reads.
type appendAfterHead struct {
	outbox.DynamoDBAPI
	commit func()
	done   bool
}

func (a *appendAfterHead) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := a.DynamoDBAPI.GetItem(ctx, in, opts...)
	if !a.done {
		a.done = true
		a.commit()
	}
	return out, err
}

// A chain being written while it is verified verifies: a record committed after the head was
// read is not taken for a break; VerifyPartner reads both again.
func TestVerifyPartnerWhileTheChainGrows(t *testing.T) {
	t.Parallel()
	b, db := newFakeBackend(t)
	ctx := t.Context()
	writer := &outbox.Store{DB: db, Table: b.outbox}
	const partner = "p-growing"
	if _, err := writer.Commit(ctx, partner, onboarded(partner, at(0)), nil); err != nil {
		t.Fatal(err)
	}
	racing := &appendAfterHead{DynamoDBAPI: db, commit: func() {
		if _, err := writer.Commit(ctx, partner, issued(partner, at(time.Second)), nil); err != nil {
			t.Error(err)
		}
	}}
	if err := (&outbox.Store{DB: racing, Table: b.outbox}).VerifyPartner(ctx, partner); err != nil {
		t.Errorf("VerifyPartner while a decision lands: %v", err)
	}
	if !racing.done {
		t.Error("no decision landed between the reads")
	}
}
