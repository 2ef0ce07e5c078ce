package tracker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/features/tracker"
	"github.com/lanyardhq/lanyard/shared/platform/metrics"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
	"github.com/lanyardhq/lanyard/topology"
)

const partner = "p-abcdefghijklmnopqrstuvwxyz"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 250000000, time.UTC)

// world is the revocations and outbox tables in the DynamoDB fake, a clock and a tracker.
type world struct {
	t       *testing.T
	db      *dynamodbtest.DynamoDB
	store   *revocations.Store
	outbox  *outbox.Store
	now     time.Time
	metrics bytes.Buffer
	tr      *tracker.Tracker
}

func newWorld(t *testing.T, enforcers ...string) *world {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	key := func(a *topology.Attr) *dynamodbtest.KeyAttr {
		if a == nil {
			return nil
		}
		return &dynamodbtest.KeyAttr{Name: a.Name, Type: types.ScalarAttributeType(a.Type)}
	}
	for _, name := range []string{"revocations", "outbox"} {
		decl, ok := topology.Lanyard().Table(name)
		if !ok {
			t.Fatalf("no table %s declared", name)
		}
		db.CreateTable(name, *key(&decl.PartitionKey), key(decl.SortKey))
		for _, ix := range decl.Indexes {
			db.CreateIndex(name, ix.Name, *key(&ix.PartitionKey), key(ix.SortKey))
		}
	}
	w := &world{t: t, db: db, store: &revocations.Store{DB: db, Table: "revocations"}, outbox: &outbox.Store{DB: db, Table: "outbox"}, now: t0}
	mw, err := metrics.New(&w.metrics, "Lanyard")
	if err != nil {
		t.Fatal(err)
	}
	w.tr = &tracker.Tracker{Store: w.store, Outbox: w.outbox, Table: "revocations", Enforcers: enforcers, Budget: 2 * time.Minute,
		Metrics: mw, Now: func() time.Time { return w.now }}
	return w
}

func (w *world) commit(items ...types.TransactWriteItem) {
	w.t.Helper()
	if _, err := w.db.TransactWriteItems(w.t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		w.t.Fatal(err)
	}
}

// revoke opens a revocation at t0.
func (w *world) revoke(id string) revocations.Revocation {
	w.t.Helper()
	r := revocations.Revocation{ID: id, PartnerID: partner, KeyIDs: []string{"kabcdefghijklmnopqrst"}, Reason: events.RevocationLeaked,
		Actor: events.Actor{Kind: events.ActorOps, ID: "arn:aws:iam::123456789012:role/ops"}, RevokedAt: t0, Status: revocations.StatusPending}
	w.commit(itemtest.Must(revocations.Open("revocations", r))(w.t))
	return r
}

// report records enforcer's report after d, as an enforcer commits it, and returns the SQS
// record of its Revocation Enforced.
func (w *world) report(id, enforcer string, d time.Duration) lambdaevents.SQSMessage {
	w.t.Helper()
	at := t0.Add(d)
	w.commit(itemtest.Must(revocations.Reported("revocations", revocations.Report{RevocationID: id, Enforcer: enforcer, PartnerID: partner,
		EventID: "credential-revoked-" + id, EnforcedAt: at, LatencyMS: d.Milliseconds()}))(w.t))
	ev := &events.RevocationEnforced{Meta: events.NewMeta(partner, events.Actor{Kind: events.ActorSystem, ID: "revocation-" + enforcer}, at),
		RevocationID: id, Enforcer: enforcer, LatencyMS: d.Milliseconds()}
	return record(w.t, ev)
}

var messages atomic.Int64

func record(t *testing.T, d events.Detail) lambdaevents.SQSMessage {
	t.Helper()
	dt, detail, err := events.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(events.Envelope{Version: "0", ID: "bus-" + d.Header().EventID, DetailType: dt, Source: events.Source,
		Account: "000000000000", Time: d.Header().Time, Region: "us-east-1", Resources: []string{}, Detail: detail})
	if err != nil {
		t.Fatal(err)
	}
	return lambdaevents.SQSMessage{MessageId: "msg-" + string(rune('a'+messages.Add(1)%26)) + d.Header().EventID, Body: string(body)}
}

func (w *world) deliver(recs ...lambdaevents.SQSMessage) lambdaevents.SQSEventResponse {
	w.t.Helper()
	return w.tr.HandleEvents(w.t.Context(), lambdaevents.SQSEvent{Records: recs})
}

func (w *world) get(id string) revocations.Revocation {
	w.t.Helper()
	r, _, err := w.store.Get(w.t.Context(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// recorded is the partner's outbox records, decoded.
func (w *world) recorded() []events.Detail {
	w.t.Helper()
	recs, err := w.outbox.Records(w.t.Context(), partner)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []events.Detail
	for _, r := range recs {
		env, _ := json.Marshal(events.Envelope{ID: "x", DetailType: r.DetailType, Source: events.Source, Detail: r.Detail})
		_, d, err := events.Decode(env)
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func noFailures(t *testing.T, resp lambdaevents.SQSEventResponse) {
	t.Helper()
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("batch item failures %+v, want none", resp.BatchItemFailures)
	}
}

func TestCompletesWhenEveryEnforcerReported(t *testing.T) {
	t.Parallel()
	w := newWorld(t, events.EnforcerGateway)
	w.revoke("rev-1")
	w.now = t0.Add(37 * time.Second)
	noFailures(t, w.deliver(w.report("rev-1", events.EnforcerGateway, 36*time.Second)))
	got := w.get("rev-1")
	if got.Status != revocations.StatusCompleted || got.TimeToEnforceMS != 36000 || !got.CompletedAt.Equal(w.now) {
		t.Errorf("revocation %+v, want completed with timeToEnforceMs 36000", got)
	}
	rec := w.recorded()
	if len(rec) != 1 {
		t.Fatalf("recorded %+v, want one Revocation Completed", rec)
	}
	c, ok := rec[0].(*events.RevocationCompleted)
	want := []events.EnforcerReport{{Enforcer: events.EnforcerGateway, EnforcedAt: t0.Add(36 * time.Second), LatencyMS: 36000}}
	if !ok || c.RevocationID != "rev-1" || c.TimeToEnforceMS != 36000 || !c.RevokedAt.Equal(t0) || !reflect.DeepEqual(c.Enforcers, want) ||
		c.Actor != (events.Actor{Kind: events.ActorSystem, ID: tracker.DefaultActor}) || !c.Time.Equal(w.now) {
		t.Errorf("recorded %+v, want Revocation Completed of rev-1 with the gateway's report", rec[0])
	}
}

// Each delivery twice, in both orders, and a late one: one Revocation Completed, once both
// enforcers reported, whatever the order.
func TestDuplicateAndOutOfOrderDeliveriesChangeNothing(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"sts first", "gateway first"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, events.EnforcerGateway, events.EnforcerSTS)
			w.revoke("rev-1")
			first, second := events.EnforcerSTS, events.EnforcerGateway
			if order == "gateway first" {
				first, second = second, first
			}
			a := w.report("rev-1", first, 2*time.Second)
			noFailures(t, w.deliver(a, a))
			if got := w.get("rev-1"); got.Status != revocations.StatusPending || len(w.recorded()) != 0 {
				t.Fatalf("after one of two reports: %+v, %d records; want pending and nothing recorded", got, len(w.recorded()))
			}
			b := w.report("rev-1", second, 40*time.Second)
			noFailures(t, w.deliver(b, a, b))
			noFailures(t, w.deliver(a))
			if _, err := w.tr.Check(t.Context()); err != nil {
				t.Fatal(err)
			}
			rec := w.recorded()
			if len(rec) != 1 || rec[0].DetailType() != events.TypeRevocationCompleted {
				t.Fatalf("recorded %+v, want one Revocation Completed", rec)
			}
			c := rec[0].(*events.RevocationCompleted)
			if c.TimeToEnforceMS != 40000 || len(c.Enforcers) != 2 {
				t.Errorf("completed %+v, want both reports and the last one's time", c)
			}
		})
	}
}

func TestWithNoEnforcerDeclaredARevocationCompletesOnItsFirstCheck(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.revoke("rev-1")
	w.now = t0.Add(20 * time.Second)
	rep, err := w.tr.Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Completed != 1 {
		t.Errorf("check %+v, want one completed", rep)
	}
	rec := w.recorded()
	if len(rec) != 1 {
		t.Fatalf("recorded %+v", rec)
	}
	if c := rec[0].(*events.RevocationCompleted); c.TimeToEnforceMS != 0 || len(c.Enforcers) != 0 || c.Enforcers == nil {
		t.Errorf("completed %+v, want no report (an empty list) and timeToEnforceMs 0", c)
	}
}

func TestStallsOnceAfterTheBudgetAndStillCompletes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, events.EnforcerGateway, events.EnforcerSTS)
	w.revoke("rev-1")
	sts := w.report("rev-1", events.EnforcerSTS, time.Second)
	noFailures(t, w.deliver(sts))

	w.now = t0.Add(2 * time.Minute) // the budget, not past it
	if rep, err := w.tr.Check(t.Context()); err != nil || rep.Stalled != 0 {
		t.Fatalf("check at the budget: %+v %v, want nothing stalled", rep, err)
	}
	w.now = t0.Add(2*time.Minute + time.Millisecond)
	rep, err := w.tr.Check(t.Context())
	if err != nil || rep.Stalled != 1 || rep.StillStalled != 1 {
		t.Fatalf("check past the budget: %+v %v, want one stalled", rep, err)
	}
	w.now = t0.Add(3 * time.Minute)
	if rep, err := w.tr.Check(t.Context()); err != nil || rep.Stalled != 0 || rep.StillStalled != 1 {
		t.Fatalf("second check: %+v %v, want still stalled, not stalled again", rep, err)
	}
	noFailures(t, w.deliver(sts)) // a late duplicate
	if got := w.get("rev-1"); got.Status != revocations.StatusStalled || !got.StalledAt.Equal(t0.Add(2*time.Minute+time.Millisecond)) || !got.Open() {
		t.Errorf("revocation %+v, want stalled and open", got)
	}
	rec := w.recorded()
	if len(rec) != 1 {
		t.Fatalf("recorded %+v, want one Revocation Stalled", rec)
	}
	s, ok := rec[0].(*events.RevocationStalled)
	if !ok || s.BudgetMS != 120000 || !reflect.DeepEqual(s.Missing, []string{events.EnforcerGateway}) || len(s.Enforcers) != 1 || s.Enforcers[0].Enforcer != events.EnforcerSTS {
		t.Errorf("recorded %+v, want Revocation Stalled missing the gateway", rec[0])
	}

	w.now = t0.Add(4 * time.Minute)
	noFailures(t, w.deliver(w.report("rev-1", events.EnforcerGateway, 4*time.Minute)))
	if got := w.get("rev-1"); got.Status != revocations.StatusCompleted || got.TimeToEnforceMS != 240000 || got.StalledAt.IsZero() {
		t.Errorf("revocation %+v, want completed, its stall kept", got)
	}
	if rec := w.recorded(); len(rec) != 2 || rec[1].DetailType() != events.TypeRevocationCompleted {
		t.Errorf("recorded %+v, want Revocation Stalled then Revocation Completed", rec)
	}
	if rep, err := w.tr.Check(t.Context()); err != nil || rep.Open != 0 || rep.StillStalled != 0 {
		t.Errorf("check after completion: %+v %v", rep, err)
	}

	lines := strings.Split(strings.TrimSpace(w.metrics.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("metric lines %q, want one per check", lines)
	}
	for i, want := range []float64{0, 1, 1, 0} {
		var doc map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &doc); err != nil {
			t.Fatal(err)
		}
		if doc["StalledRevocations"] != want || doc["Function"] != "revocation-tracker" || strings.Contains(lines[i], partner) {
			t.Errorf("metric of check %d: %s, want StalledRevocations %v and no partner", i, lines[i], want)
		}
	}
}

// A report whose event was lost: the next check completes the revocation.
func TestTheCheckCompletesARevocationWhoseEventWasLost(t *testing.T) {
	t.Parallel()
	w := newWorld(t, events.EnforcerGateway)
	w.revoke("rev-1")
	w.revoke("rev-2")
	_ = w.report("rev-1", events.EnforcerGateway, 36*time.Second) // never delivered
	w.now = t0.Add(time.Minute)
	rep, err := w.tr.Check(t.Context())
	if err != nil || rep.Open != 2 || rep.Completed != 1 || rep.Stalled != 0 {
		t.Fatalf("check %+v %v, want rev-1 completed and rev-2 waiting", rep, err)
	}
	if got := w.get("rev-1"); got.Status != revocations.StatusCompleted {
		t.Errorf("rev-1 %+v", got)
	}
}

func TestRecordsNotToSettle(t *testing.T) {
	t.Parallel()
	w := newWorld(t, events.EnforcerGateway)
	unknown := record(t, &events.RevocationEnforced{Meta: events.NewMeta(partner, events.Actor{Kind: events.ActorSystem, ID: "x"}, t0),
		RevocationID: "rev-unknown", Enforcer: events.EnforcerGateway, LatencyMS: 1})
	other := record(t, &events.RevocationCompleted{Meta: events.NewMeta(partner, events.Actor{Kind: events.ActorSystem, ID: "x"}, t0),
		RevocationID: "rev-1", Enforcers: []events.EnforcerReport{}, RevokedAt: t0})
	garbage := lambdaevents.SQSMessage{MessageId: "m-garbage", Body: "{not json"}
	noFailures(t, w.deliver(unknown, other, garbage))
	if rec := w.recorded(); len(rec) != 0 {
		t.Errorf("recorded %+v, want nothing", rec)
	}
}

// failingStore fails reads of one revocation.
type failingStore struct {
	tracker.Store
	id string
}

func (f failingStore) Get(ctx context.Context, id string) (revocations.Revocation, []revocations.Report, error) {
	if id == f.id {
		return revocations.Revocation{}, nil, errors.New("throttled")
	}
	return f.Store.Get(ctx, id)
}

func TestAFailedRecordIsReportedForRedelivery(t *testing.T) {
	t.Parallel()
	w := newWorld(t, events.EnforcerGateway)
	w.revoke("rev-1")
	w.revoke("rev-2")
	w.tr.Store = failingStore{Store: w.store, id: "rev-1"}
	bad, good := w.report("rev-1", events.EnforcerGateway, time.Second), w.report("rev-2", events.EnforcerGateway, time.Second)
	resp := w.deliver(bad, good)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != bad.MessageId {
		t.Errorf("failures %+v, want only %s", resp.BatchItemFailures, bad.MessageId)
	}
	if got := w.get("rev-2"); got.Status != revocations.StatusCompleted {
		t.Errorf("rev-2 %+v, want completed despite rev-1's failure", got)
	}
	if _, err := w.tr.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "throttled") {
		t.Errorf("check: %v, want rev-1's failure", err)
	}
}

// The check stalls the revocation between the event's read and its commit: the event's
// completion is decided again from what the check left, and completes it from stalled.
func TestATransitionThatLostItsConditionIsDecidedAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t, events.EnforcerGateway)
	w.revoke("rev-1")
	rec := w.report("rev-1", events.EnforcerGateway, 3*time.Minute)
	w.now = t0.Add(3 * time.Minute)
	var slipped atomic.Bool
	w.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && slipped.CompareAndSwap(false, true) {
			w.commit(revocations.Stall("revocations", "rev-1", t0.Add(150*time.Second)))
		}
		return nil
	}
	noFailures(t, w.deliver(rec))
	if got := w.get("rev-1"); got.Status != revocations.StatusCompleted || got.StalledAt.IsZero() {
		t.Errorf("revocation %+v, want completed after the stall slipped in", got)
	}
	if rec := w.recorded(); len(rec) != 1 || rec[0].DetailType() != events.TypeRevocationCompleted {
		t.Errorf("recorded %+v, want one Revocation Completed", rec)
	}
}

func TestHandleTellsTheTriggersApart(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.revoke("rev-1")
	out, err := w.tr.Handle(t.Context(), json.RawMessage(`{"version":"0","id":"e-1","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`))
	if err != nil || out != nil {
		t.Fatalf("scheduled: %v %v", out, err)
	}
	if got := w.get("rev-1"); got.Status != revocations.StatusCompleted {
		t.Errorf("the scheduled event did not run the check: %+v", got)
	}
	batch, _ := json.Marshal(lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "m-1", Body: "{}"}}})
	out, err = w.tr.Handle(t.Context(), batch)
	if resp, ok := out.(lambdaevents.SQSEventResponse); err != nil || !ok || len(resp.BatchItemFailures) != 0 {
		t.Errorf("SQS batch: %#v %v, want a batch response", out, err)
	}
	if _, err := w.tr.Handle(t.Context(), json.RawMessage(`[`)); err == nil {
		t.Error("an event that is not JSON was accepted")
	}
}

func TestParseEnforcers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{"", nil, true},
		{"gateway", []string{"gateway"}, true},
		{"gateway,sts", []string{"gateway", "sts"}, true},
		{"gateway,,sts", nil, false},
		{"gateway,gateway", nil, false},
	} {
		got, err := tracker.ParseEnforcers(c.in)
		if (err == nil) != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseEnforcers(%q) = %v, %v", c.in, got, err)
		}
	}
}
