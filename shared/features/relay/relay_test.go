package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/fakes/outboxtest"
	"github.com/lanyardhq/lanyard/shared/fakes/tracingtest"
	"github.com/lanyardhq/lanyard/shared/features/relay"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

const (
	table = "outbox"
	bus   = "lanyard-bus"
)

var epoch = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type fixture struct {
	db    *dynamodbtest.DynamoDB
	bus   *outboxtest.Bus
	store *outbox.Store
	relay *relay.Relay
	now   time.Time
	seen  int // changes already handed to the relay
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable(table, dynamodbtest.KeyAttr{Name: outbox.PartitionKey, Type: types.ScalarAttributeTypeS},
		&dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: types.ScalarAttributeTypeN})
	f := &fixture{db: db, bus: &outboxtest.Bus{}, store: &outbox.Store{DB: db, Table: table}, now: epoch.Add(time.Hour)}
	f.relay = &relay.Relay{DB: db, Events: f.bus, Table: table, Bus: bus, Now: func() time.Time { return f.now },
		Backoff: func(int) time.Duration { return 0 }}
	return f
}

func (f *fixture) commit(t *testing.T, d events.Detail) outbox.Record {
	t.Helper()
	rec, err := f.store.Commit(context.Background(), d.Header().PartnerID, d, nil)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return rec
}

// next is the stream's next batch: every change since the last batch, heads included.
func (f *fixture) next() lambdaevents.DynamoDBEvent {
	changes := f.db.Changes(table)
	batch := changes[f.seen:]
	f.seen = len(changes)
	return outboxtest.StreamEvent(batch)
}

// published counts the bus's events by the detail's event id.
func (f *fixture) published(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, p := range f.bus.Published() {
		var m events.Meta
		if err := json.Unmarshal([]byte(aws.ToString(p.Entry.Detail)), &m); err != nil {
			t.Fatalf("detail on the bus: %v", err)
		}
		out[m.EventID]++
	}
	return out
}

func (f *fixture) record(t *testing.T, partner string, seq int64) outbox.Record {
	t.Helper()
	recs, err := f.store.Records(context.Background(), partner)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Seq == seq {
			return r
		}
	}
	t.Fatalf("no record %s/%d", partner, seq)
	return outbox.Record{}
}

func onboarded(partner string, d time.Duration) *events.PartnerOnboarded {
	return &events.PartnerOnboarded{
		Meta:        events.NewMeta(partner, events.Actor{Kind: events.ActorOps, ID: "ops"}, epoch.Add(d)),
		PartnerName: "Acme", Tier: "standard", Scopes: []string{"orders:read"},
		Identity: events.Identity{Method: events.ProofInvite}, Justification: "within tier",
	}
}

func issued(partner string, d time.Duration) *events.CredentialIssued {
	now := epoch.Add(d)
	return &events.CredentialIssued{
		Meta:  events.NewMeta(partner, events.Actor{Kind: events.ActorSystem, ID: "onboarding"}, now),
		KeyID: "k-1", SecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-1",
		Scopes: []string{"orders:read"}, NotBefore: now, ExpiresAt: now.Add(24 * time.Hour),
	}
}

func TestPublishesEachRecordWithItsEventAndMarksIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	a1 := f.commit(t, onboarded("p-a", 0))
	b1 := f.commit(t, onboarded("p-b", time.Second))
	a2 := f.commit(t, issued("p-a", 2*time.Second))

	res, err := f.relay.Process(ctx, f.next())
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	if res.Published != 3 || res.Records != 6 { // three records and three head writes
		t.Errorf("result %+v", res)
	}
	got := f.bus.Published()
	if len(got) != 3 {
		t.Fatalf("%d events on the bus, want 3", len(got))
	}
	// Partners in the order they appear, each partner's records in seq order.
	for i, want := range []outbox.Record{a1, a2, b1} {
		e := got[i].Entry
		// The published detail is the stored one with the record's place in its chain added.
		wantDetail, err := events.WithRecord(want.Detail, events.RecordRef{Chain: want.Chain, Seq: want.Seq, PrevHash: want.PrevHash, Hash: want.Hash})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(e.EventBusName) != bus || aws.ToString(e.Source) != events.Source || aws.ToString(e.DetailType) != want.DetailType ||
			aws.ToString(e.Detail) != string(wantDetail) || !aws.ToTime(e.Time).Equal(want.Time) || e.Resources == nil || len(e.Resources) != 0 {
			t.Errorf("entry %d: %+v, want the event of %s/%d", i, e, want.Chain, want.Seq)
		}
		rec := f.record(t, want.Chain, want.Seq)
		if !rec.PublishedAt.Equal(f.now) || rec.BusEventID != got[i].EventID {
			t.Errorf("record %s/%d marked at %v as %q, want %v as %q", want.Chain, want.Seq, rec.PublishedAt, rec.BusEventID, f.now, got[i].EventID)
		}
	}

	// The marks come back through the stream as MODIFY records: skipped without a read.
	reads := f.db.Calls("BatchGetItem")
	res, err = f.relay.Process(ctx, f.next())
	if err != nil || res.Records != 3 || res.Candidate != 0 || res.Published != 0 {
		t.Errorf("the batch of marks: %+v, %v", res, err)
	}
	if f.db.Calls("BatchGetItem") != reads || len(f.bus.Published()) != 3 {
		t.Error("the relay read or published again for its own marks")
	}
}

// A redelivered batch carries the images from before the marks; the relay reads the records
// again and publishes nothing.
func TestRedeliveredBatchPublishesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.commit(t, onboarded("p-a", 0))
	f.commit(t, issued("p-a", time.Second))
	batch := f.next()
	for delivery := 1; delivery <= 3; delivery++ {
		if err := f.relay.Handle(ctx, batch); err != nil {
			t.Fatalf("delivery %d: %v", delivery, err)
		}
	}
	if f.bus.Calls() != 1 {
		t.Errorf("%d PutEvents calls, want 1", f.bus.Calls())
	}
	for id, n := range f.published(t) {
		if n != 1 {
			t.Errorf("event %s published %d times", id, n)
		}
	}
}

func TestIgnoresHeadsAndRemovals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	head := outbox.Key("p-a", outbox.HeadSeq)
	head["headSeq"] = &types.AttributeValueMemberN{Value: "1"}
	rec := outbox.Key("p-a", 1)
	ev := outboxtest.StreamEvent([]dynamodbtest.Change{
		{EventName: "INSERT", Keys: outbox.Key("p-a", outbox.HeadSeq), NewImage: head},
		{EventName: "MODIFY", Keys: outbox.Key("p-a", outbox.HeadSeq), NewImage: head},
		{EventName: "REMOVE", Keys: rec},
	})
	if err := f.relay.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if f.db.Calls("BatchGetItem")+f.db.Calls("UpdateItem") != 0 || f.bus.Calls() != 0 {
		t.Error("the relay acted on heads or removals")
	}
}

func TestPublishesTenEntriesPerCall(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range 25 {
		f.commit(t, issued("p-a", time.Duration(i)*time.Second))
	}
	res, err := f.relay.Process(context.Background(), f.next())
	if err != nil || res.Published != 25 {
		t.Fatalf("relay: %+v, %v", res, err)
	}
	if f.bus.Calls() != 3 {
		t.Errorf("%d PutEvents calls for 25 records, want 3", f.bus.Calls())
	}
	var seqs []string
	for _, p := range f.bus.Published() {
		var d events.CredentialIssued
		_ = json.Unmarshal([]byte(aws.ToString(p.Entry.Detail)), &d)
		seqs = append(seqs, d.EventID)
	}
	recs, _ := f.store.Records(context.Background(), "p-a")
	for i, r := range recs {
		if seqs[i] != r.EventID {
			t.Fatalf("event %d on the bus is %s, want seq %d's %s", i, seqs[i], r.Seq, r.EventID)
		}
	}
}

// An entry the bus refuses fails the batch; the retry publishes it and only it.
func TestRefusedEntryIsRetriedAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	r1 := f.commit(t, onboarded("p-a", 0))
	r2 := f.commit(t, issued("p-a", time.Second))
	r3 := f.commit(t, issued("p-a", 2*time.Second))
	var refuse atomic.Bool
	refuse.Store(true)
	f.bus.FailEntry = func(e ebtypes.PutEventsRequestEntry) string {
		if refuse.Load() && strings.Contains(aws.ToString(e.Detail), r2.EventID) {
			return "ThrottlingException"
		}
		return ""
	}
	batch := f.next()
	err := f.relay.Handle(ctx, batch)
	if err == nil || !strings.Contains(err.Error(), r2.EventID) || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Fatalf("relay: %v, want an error naming event %s", err, r2.EventID)
	}
	if !f.record(t, "p-a", 1).PublishedAt.Equal(f.now) || !f.record(t, "p-a", 2).PublishedAt.IsZero() || !f.record(t, "p-a", 3).PublishedAt.Equal(f.now) {
		t.Error("want seq 1 and 3 marked, seq 2 not")
	}
	refuse.Store(false)
	res, err := f.relay.Process(ctx, batch)
	if err != nil || res.Published != 1 || res.Skipped != 2 {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	got := f.published(t)
	for _, r := range []outbox.Record{r1, r2, r3} {
		if got[r.EventID] != 1 {
			t.Errorf("event %s published %d times, want once", r.EventID, got[r.EventID])
		}
	}
}

func TestFailedCallMarksNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.commit(t, onboarded("p-a", 0))
	f.commit(t, issued("p-a", time.Second))
	var down atomic.Bool
	down.Store(true)
	f.bus.FailCall = func() error {
		if down.Load() {
			return errors.New("service unavailable")
		}
		return nil
	}
	batch := f.next()
	if err := f.relay.Handle(ctx, batch); err == nil || !strings.Contains(err.Error(), "service unavailable") {
		t.Fatalf("relay: %v", err)
	}
	if f.db.Calls("UpdateItem") != 0 {
		t.Error("records marked though the bus took nothing")
	}
	down.Store(false)
	if err := f.relay.Handle(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if got := f.published(t); len(got) != 2 {
		t.Errorf("published %v, want both events once", got)
	}
}

// The window the guarantee leaves open: the bus took the event, the mark was not written, the
// batch comes again — the event goes out a second time, with the same event id.
func TestUnwrittenMarkMeansTheEventGoesOutAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	r1 := f.commit(t, onboarded("p-a", 0))
	r2 := f.commit(t, issued("p-a", time.Second))
	var failed atomic.Bool
	f.db.Intercept = func(op string, in any) error {
		u, ok := in.(*dynamodb.UpdateItemInput)
		if ok && op == "UpdateItem" && u.Key[outbox.SortKey].(*types.AttributeValueMemberN).Value == "2" && failed.CompareAndSwap(false, true) {
			return errors.New("request timed out")
		}
		return nil
	}
	batch := f.next()
	if err := f.relay.Handle(ctx, batch); err == nil || !strings.Contains(err.Error(), "mark event "+r2.EventID) {
		t.Fatalf("relay: %v, want the mark's failure", err)
	}
	if err := f.relay.Handle(ctx, batch); err != nil {
		t.Fatal(err)
	}
	got := f.published(t)
	if got[r1.EventID] != 1 || got[r2.EventID] != 2 {
		t.Errorf("published %v, want %s once and %s twice", got, r1.EventID, r2.EventID)
	}
}

// A record marked by another delivery between the read and the mark: the event is on the bus,
// the batch succeeds, the first mark stays.
func TestMarkedMeanwhileIsNotAnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.commit(t, onboarded("p-a", 0))
	var raced atomic.Bool
	f.db.Intercept = func(op string, in any) error {
		if op != "UpdateItem" || !raced.CompareAndSwap(false, true) {
			return nil
		}
		u := *in.(*dynamodb.UpdateItemInput)
		u.ExpressionAttributeValues = map[string]types.AttributeValue{
			":at": &types.AttributeValueMemberS{Value: outbox.FormatTime(epoch)},
			":id": &types.AttributeValueMemberS{Value: "the-other-delivery"},
		}
		_, err := f.db.UpdateItem(ctx, &u)
		return err
	}
	if err := f.relay.Handle(ctx, f.next()); err != nil {
		t.Fatalf("relay: %v", err)
	}
	if got := f.record(t, "p-a", 1).BusEventID; got != "the-other-delivery" {
		t.Errorf("bus event id %q, want the first mark kept", got)
	}
}

func TestMalformedRecordFailsTheBatchAndOnlyItStays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.commit(t, onboarded("p-a", 0))
	r2 := f.commit(t, issued("p-a", time.Second))
	f.commit(t, onboarded("p-b", 0))
	batch := f.next()
	tampered := itemtest.Must(r2.Item())(t)
	tampered["detail"] = &types.AttributeValueMemberS{Value: strings.Replace(string(r2.Detail), "orders:read", "orders:admin", 1)}
	if _, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: tampered}); err != nil {
		t.Fatal(err)
	}
	res, err := f.relay.Process(ctx, batch)
	if err == nil || !strings.Contains(err.Error(), "p-a/2: its hash does not recompute") {
		t.Fatalf("relay: %v, want the tampered record named", err)
	}
	if res.Published != 2 || !f.record(t, "p-a", 2).PublishedAt.IsZero() {
		t.Errorf("result %+v: want the two sound records published and the tampered one not", res)
	}
	if _, ok := f.published(t)[r2.EventID]; ok {
		t.Error("the tampered record's event was published")
	}
}

func TestReadsUnprocessedKeysAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for i := range 5 {
		f.commit(t, issued("p-a", time.Duration(i)*time.Second))
	}
	f.db.BatchGetLimit = 2
	res, err := f.relay.Process(ctx, f.next())
	if err != nil || res.Published != 5 {
		t.Fatalf("relay: %+v, %v", res, err)
	}
	if n := f.db.Calls("BatchGetItem"); n != 3 {
		t.Errorf("%d BatchGetItem calls for 5 keys answered 2 at a time, want 3", n)
	}

	g := newFixture(t)
	for i := range 10 {
		g.commit(t, issued("p-a", time.Duration(i)*time.Second))
	}
	g.db.BatchGetLimit = 1
	if err := g.relay.Handle(ctx, g.next()); err == nil || !strings.Contains(err.Error(), "unprocessed") {
		t.Fatalf("relay: %v, want the keys left unprocessed reported", err)
	}
	if g.bus.Calls() != 0 {
		t.Error("published without having read every record")
	}
}

func TestRecordNoLongerInTheTableIsSkipped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ghost := outbox.Key("p-a", 7)
	res, err := f.relay.Process(context.Background(), outboxtest.InsertEvent([]string{outbox.PartitionKey, outbox.SortKey}, ghost))
	if err != nil || res.Skipped != 1 || f.bus.Calls() != 0 {
		t.Errorf("relay: %+v, %v", res, err)
	}
}

func TestMalformedStreamKeyFailsTheBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec := f.commit(t, onboarded("p-a", 0))
	bad := outboxtest.StreamEvent([]dynamodbtest.Change{{EventName: "INSERT",
		Keys: map[string]types.AttributeValue{outbox.PartitionKey: &types.AttributeValueMemberS{Value: "p-a"}}, NewImage: itemtest.Must(rec.Item())(t)}})
	good := outboxtest.InsertEvent([]string{outbox.PartitionKey, outbox.SortKey}, itemtest.Must(rec.Item())(t))
	ev := lambdaevents.DynamoDBEvent{Records: append(bad.Records, good.Records...)}
	err := f.relay.Handle(context.Background(), ev)
	if err == nil || !strings.Contains(err.Error(), "no number key seq") {
		t.Fatalf("relay: %v", err)
	}
	if len(f.bus.Published()) != 1 {
		t.Error("the sound record of the batch was not published")
	}
}

// Each partner's work is a span annotated with the partner (not parallel: the tracer is
// process-wide).
func TestSpansCarryThePartner(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
	rec := tracingtest.Install(t)
	f := newFixture(t)
	f.commit(t, onboarded("p-a", 0))
	f.commit(t, onboarded("p-b", 0))
	if err := f.relay.Handle(context.Background(), f.next()); err != nil {
		t.Fatal(err)
	}
	partners := map[string]bool{}
	for _, doc := range rec.Documents() {
		var seg struct {
			Name        string            `json:"name"`
			Annotations map[string]string `json:"annotations"`
		}
		if err := json.Unmarshal([]byte(doc), &seg); err != nil {
			t.Fatal(err)
		}
		if seg.Name == "outbox-relay" {
			partners[seg.Annotations["partner"]] = true
		}
	}
	if !partners["p-a"] || !partners["p-b"] || len(partners) != 2 {
		t.Errorf("outbox-relay spans annotated with partners %v, want p-a and p-b", partners)
	}
}

func Example() {
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("outbox", dynamodbtest.KeyAttr{Name: outbox.PartitionKey, Type: types.ScalarAttributeTypeS},
		&dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: types.ScalarAttributeTypeN})
	store := &outbox.Store{DB: db, Table: "outbox"}
	d := onboarded("p-acme", 0)
	if _, err := store.Commit(context.Background(), "p-acme", d, nil); err != nil {
		fmt.Println(err)
		return
	}
	b := &outboxtest.Bus{}
	r := &relay.Relay{DB: db, Events: b, Table: "outbox", Bus: "lanyard", Now: time.Now}
	batch := outboxtest.StreamEvent(db.Changes("outbox"))
	_ = r.Handle(context.Background(), batch)
	_ = r.Handle(context.Background(), batch) // redelivered
	fmt.Println(len(b.Published()), aws.ToString(b.Published()[0].Entry.DetailType))
	// Output: 1 Partner Onboarded
}
