package rollover_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/authorizer"
	"github.com/lanyardhq/lanyard/shared/features/rollover"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// retired checks key k of partner p was retired at retiredAt for reason, with its one
// Credential Retired, the partner's previousKeyId cleared and no flush owed, and returns the
// event.
func (fx *fixture) retired(p *testPartner, k credential.Key, retiredAt time.Time, reason string) *events.CredentialRetired {
	fx.t.Helper()
	t := fx.t
	e := fx.entry(k.ID())
	if e.Status != registry.StatusRetired || !e.RetiredAt.Equal(retiredAt) || e.FlushPending {
		t.Errorf("key %s: status %s, retired at %s, flush pending %v; want retired at %s, no flush pending", k.ID(), e.Status, e.RetiredAt, e.FlushPending, retiredAt)
	}
	if got := attrS(fx.partnerItem(p), partners.AttrPreviousKeyID); got != "" {
		t.Errorf("the partner's previousKeyId is still %s", got)
	}
	var mine []*events.CredentialRetired
	for _, r := range ofType[*events.CredentialRetired](fx.records(p)) {
		if r.KeyID == string(k.ID()) {
			mine = append(mine, r)
		}
	}
	if len(mine) != 1 {
		t.Fatalf("%d Credential Retired for key %s, want 1", len(mine), k.ID())
	}
	ev := mine[0]
	if ev.Reason != reason || !ev.GraceUntil.Equal(e.GraceUntil) || !ev.Time.Equal(retiredAt) ||
		ev.Actor != (events.Actor{Kind: events.ActorSystem, ID: rollover.DefaultRetirementActor}) {
		t.Errorf("Credential Retired %+v", *ev)
	}
	if acked := !e.AcknowledgedAt.IsZero(); acked != (ev.AcknowledgedAt != nil) ||
		(acked && (!ev.AcknowledgedAt.Equal(e.AcknowledgedAt) || ev.RetireAt == nil || !ev.RetireAt.Equal(e.RetireAt))) {
		t.Errorf("Credential Retired acknowledged at %v, retire at %v; the entry's %s, %s", ev.AcknowledgedAt, ev.RetireAt, e.AcknowledgedAt, e.RetireAt)
	}
	if _, ok, _ := fx.authorize(k); ok {
		t.Errorf("the retired key %s is accepted", k.ID())
	}
	return ev
}

// After an acknowledgement the previous key retires once the drain window has passed, with one
// cache flush; the runs before it do nothing, and the runs after it do nothing either.
func TestRetirementAfterAcknowledgement(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	p := fx.p
	key0 := p.key(0)
	key1 := fx.rotate(p)
	fx.clock.Advance(3 * time.Hour)
	ackedAt := fx.clock.Now()
	fx.ack(key1)

	fx.clock.Advance(drain - time.Second)
	before := fx.tables()
	if rep := fx.mustRun(); len(rep.Retired) != 0 || len(rep.Warned) != 0 || rep.Flushed || rep.Scanned != 1 {
		t.Errorf("a second before the drain ends: %+v, want the previous key scanned and nothing done", rep)
	}
	fx.unchanged("a run with nothing due", before)
	if _, ok, _ := fx.authorize(key0); !ok {
		t.Error("the previous key is refused before its drain ends")
	}

	fx.clock.Advance(time.Second)
	retiredAt := fx.clock.Now()
	if _, ok, refusal := fx.authorize(key0); ok || refusal != authorizer.OutcomeDeny {
		t.Errorf("at retireAt, before the run, the previous key: allowed %v, %q; want denied", ok, refusal)
	}
	rep := fx.mustRun()
	if !reflect.DeepEqual(rep.Retired, []string{string(key0.ID())}) || !rep.Flushed || len(rep.Warned) != 0 {
		t.Errorf("report %+v, want key %s retired and the cache flushed", rep, key0.ID())
	}
	if !reflect.DeepEqual(fx.gw.flushes, []string{restAPIID + "/" + stageName}) {
		t.Errorf("flushes %v, want one of %s/%s", fx.gw.flushes, restAPIID, stageName)
	}
	ev := fx.retired(p, key0, retiredAt, events.RetiredAcknowledged)
	if ev.AcknowledgedAt == nil || !ev.AcknowledgedAt.Equal(ackedAt) || ev.RetireAt == nil || !ev.RetireAt.Equal(ackedAt.Add(drain)) {
		t.Errorf("Credential Retired acknowledged at %v, retire at %v; want %s, %s", ev.AcknowledgedAt, ev.RetireAt, ackedAt, ackedAt.Add(drain))
	}
	if _, ok, _ := fx.authorize(key1); !ok {
		t.Error("the current key is refused after the retirement")
	}

	// Runs after it: nothing to do, no flush.
	for range 2 {
		fx.clock.Advance(time.Minute)
		before := fx.tables()
		if rep := fx.mustRun(); len(rep.Retired) != 0 || rep.Flushed || rep.Scanned != 0 {
			t.Errorf("a later run: %+v, want nothing", rep)
		}
		fx.unchanged("a later run", before)
	}
	if n := fx.gw.count(); n != 1 {
		t.Errorf("%d flushes, want 1", n)
	}
	fx.checkTables()
}

// Without an acknowledgement ops are warned once, warnBeforeGraceEnds before the grace ends,
// and the previous key retires when it ends.
func TestRetirementAtTheEndOfGrace(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	p := fx.p
	key0 := p.key(0)
	rotatedAt := fx.clock.Now()
	key1 := fx.rotate(p)
	graceUntil := rotatedAt.Add(grace)

	fx.clock.Set(graceUntil.Add(-warn - time.Second))
	if rep := fx.mustRun(); len(rep.Warned) != 0 || len(rep.Retired) != 0 || rep.Flushed {
		t.Errorf("a second before the warning: %+v, want nothing", rep)
	}
	fx.clock.Set(graceUntil.Add(-warn))
	warnedAt := fx.clock.Now()
	if rep := fx.mustRun(); !reflect.DeepEqual(rep.Warned, []string{string(key0.ID())}) || len(rep.Retired) != 0 || rep.Flushed {
		t.Errorf("at the warning: %+v, want key %s warned about, no flush", rep, key0.ID())
	}
	for _, d := range []time.Duration{time.Minute, warn / 2, warn - time.Second} {
		fx.clock.Set(warnedAt.Add(d))
		before := fx.tables()
		if rep := fx.mustRun(); len(rep.Warned) != 0 || len(rep.Retired) != 0 {
			t.Errorf("%s after the warning: %+v, want nothing", d, rep)
		}
		fx.unchanged("a run after the warning", before)
	}
	if fx.gw.count() != 0 {
		t.Errorf("%d flushes before anything retired, want none", fx.gw.count())
	}
	warnings := ofType[*events.CredentialGraceEnding](fx.records(p))
	if len(warnings) != 1 {
		t.Fatalf("%d Credential Grace Ending, want 1", len(warnings))
	}
	w := warnings[0]
	if w.KeyID != string(key0.ID()) || w.CurrentKeyID != string(key1.ID()) || !w.GraceUntil.Equal(graceUntil) || !w.Time.Equal(warnedAt) ||
		w.Actor != (events.Actor{Kind: events.ActorSystem, ID: rollover.DefaultRetirementActor}) {
		t.Errorf("Credential Grace Ending %+v", *w)
	}
	if e := fx.entry(key0.ID()); !e.GraceWarnedAt.Equal(warnedAt) {
		t.Errorf("graceWarnedAt %s, want %s", e.GraceWarnedAt, warnedAt)
	}

	fx.clock.Set(graceUntil)
	if rep := fx.mustRun(); !reflect.DeepEqual(rep.Retired, []string{string(key0.ID())}) || !rep.Flushed {
		t.Errorf("at the end of grace: %+v, want key %s retired and a flush", rep, key0.ID())
	}
	ev := fx.retired(p, key0, graceUntil, events.RetiredGraceEnded)
	if ev.AcknowledgedAt != nil || ev.RetireAt != nil {
		t.Errorf("Credential Retired of an unacknowledged key acknowledged at %v, retire at %v", ev.AcknowledgedAt, ev.RetireAt)
	}
	if fx.gw.count() != 1 {
		t.Errorf("%d flushes, want 1", fx.gw.count())
	}
}

// An acknowledged key is never warned about; a run that was down through the whole warning
// window retires without warning.
func TestNoWarning(t *testing.T) {
	c := secrettest.Plant(t)
	for _, tc := range []struct {
		name string
		ack  bool
		run  time.Duration // after the rotation
	}{
		{"acknowledged late, inside the warning window", true, grace - warn + time.Hour},
		{"no run inside the warning window", false, grace + time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, c)
			p := fx.p
			rotatedAt := fx.clock.Now()
			key1 := fx.rotate(p)
			if tc.ack {
				fx.clock.Set(rotatedAt.Add(grace - warn))
				fx.ack(key1)
			}
			fx.clock.Set(rotatedAt.Add(tc.run))
			fx.mustRun()
			if n := len(ofType[*events.CredentialGraceEnding](fx.records(p))); n != 0 {
				t.Errorf("%d Credential Grace Ending, want none", n)
			}
		})
	}
}

// A run that retires keys of several partners, across scan pages, flushes once; keys that are
// not due stay, and the active and retired keys are not touched.
func TestRetirementOfManyPartners(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	q, r := fx.addPartner(), fx.addPartner()
	rotatedAt := fx.clock.Now()
	for _, p := range []*testPartner{fx.p, q, r} {
		fx.rotate(p)
	}
	fx.clock.Advance(time.Hour)
	fx.ack(fx.p.key(1))
	fx.ack(q.key(1))
	fx.clock.Advance(drain)
	rep := fx.mustRun()
	want := []string{string(fx.p.key(0).ID()), string(q.key(0).ID())}
	slices.Sort(want)
	slices.Sort(rep.Retired)
	if !reflect.DeepEqual(rep.Retired, want) || !rep.Flushed || fx.gw.count() != 1 || rep.Scanned != 3 {
		t.Errorf("report %+v with %d flushes; want %v retired of 3 scanned, one flush", rep, fx.gw.count(), want)
	}
	if fx.db.scanCalls() < 3 {
		t.Errorf("%d Scan pages for 9 items by 2, want at least 3", fx.db.scanCalls())
	}
	if e := fx.entry(r.key(0).ID()); e.Status != registry.StatusPrevious {
		t.Errorf("the unacknowledged key of partner %s is %s, want previous", r.id, e.Status)
	}
	fx.clock.Set(rotatedAt.Add(grace))
	if rep := fx.mustRun(); !reflect.DeepEqual(rep.Retired, []string{string(r.key(0).ID())}) {
		t.Errorf("at the end of grace: %+v, want key %s retired", rep, r.key(0).ID())
	}
	for _, p := range []*testPartner{fx.p, q, r} {
		if e := fx.entry(p.key(1).ID()); e.Status != registry.StatusActive {
			t.Errorf("partner %s's current key is %s", p.id, e.Status)
		}
	}
}

// A failed flush leaves the markers: the run fails, and the next one flushes though nothing
// new retired, once.
func TestFailedFlushIsRetried(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	p := fx.p
	key0 := p.key(0)
	fx.rotate(p)
	fx.clock.Advance(grace)
	fx.gw.fail = 1
	rep, err := fx.run()
	if err == nil || !strings.Contains(err.Error(), "flush the authorizer cache") || rep.Flushed || len(rep.Retired) != 1 {
		t.Fatalf("run with a failing flush: %+v, %v; want the key retired and the flush's error", rep, err)
	}
	if e := fx.entry(key0.ID()); e.Status != registry.StatusRetired || !e.FlushPending {
		t.Errorf("after the failed flush: status %s, flush pending %v; want retired, pending", e.Status, e.FlushPending)
	}
	fx.clock.Advance(time.Minute)
	if rep := fx.mustRun(); len(rep.Retired) != 0 || !rep.Flushed {
		t.Errorf("the next run: %+v, want a flush and nothing retired", rep)
	}
	if e := fx.entry(key0.ID()); e.FlushPending {
		t.Error("the flush marker stays after the flush")
	}
	if rep := fx.mustRun(); rep.Flushed {
		t.Errorf("a third run: %+v, want no flush", rep)
	}
	if fx.gw.count() != 1 {
		t.Errorf("%d flushes answered, want 1", fx.gw.count())
	}
	fx.retired(p, key0, start.Add(grace), events.RetiredGraceEnded)
}

// Two runs at once retire a key once: the one whose transaction loses finds the key changed,
// which is not an error, and flushes nothing (it retired nothing, and its scan saw no marker).
func TestConcurrentRuns(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	p := fx.p
	key0 := p.key(0)
	fx.rotate(p)
	fx.clock.Advance(grace)
	var inner rollover.Report
	once := false
	fx.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && !once {
			once = true
			inner = fx.mustRun()
		}
		return nil
	}
	outer := fx.mustRun()
	fx.db.Intercept = nil
	if !reflect.DeepEqual(inner.Retired, []string{string(key0.ID())}) || len(outer.Retired) != 0 {
		t.Errorf("inner run %+v, outer %+v; want the key retired by one", inner, outer)
	}
	fx.retired(p, key0, start.Add(grace), events.RetiredGraceEnded)
}

// A rotation after a retirement finds no previous key and converges; a second rotation before
// the retirement retires the older previous key itself, and the retirement then handles the
// newer one.
func TestRetirementAndRotation(t *testing.T) {
	c := secrettest.Plant(t)

	t.Run("rotation after retirement", func(t *testing.T) {
		fx := newFixture(t, c)
		p := fx.p
		fx.rotate(p)
		fx.clock.Advance(grace)
		fx.mustRun()
		key2 := fx.rotate(p)
		if got := attrS(fx.partnerItem(p), partners.AttrPreviousKeyID); got != string(p.key(1).ID()) {
			t.Errorf("previousKeyId %s, want %s", got, p.key(1).ID())
		}
		if cur := fx.pickUp(p.key(1)); cur.KeyID != string(key2.ID()) || cur.CallerKey != rollover.CallerPrevious {
			t.Errorf("pick-up with the previous key: %s as %s, want %s as previous", cur.KeyID, cur.CallerKey, key2.ID())
		}
	})

	t.Run("two rotations before the retirement", func(t *testing.T) {
		fx := newFixture(t, c)
		p := fx.p
		fx.rotate(p)
		fx.clock.Advance(time.Hour)
		fx.ack(p.key(1))
		fx.rotate(p) // retires key 0 (one previous key at a time), key 1 previous
		if e := fx.entry(p.key(0).ID()); e.Status != registry.StatusRetired {
			t.Fatalf("the older previous key is %s", e.Status)
		}
		fx.clock.Advance(grace)
		rep := fx.mustRun()
		if !reflect.DeepEqual(rep.Retired, []string{string(p.key(1).ID())}) {
			t.Errorf("report %+v, want only key %s retired", rep, p.key(1).ID())
		}
		fx.retired(p, p.key(1), fx.clock.Now(), events.RetiredGraceEnded)
		if n := len(ofType[*events.CredentialRetired](fx.records(p))); n != 1 {
			t.Errorf("%d Credential Retired, want 1 (rotation's retirement is in its Credential Rotated)", n)
		}
	})
}

// A key the partner item does not name retires alone; a malformed item and a failed scan are
// errors that do not stop the rest; a failing handler is the run's error.
func TestRetirementFaults(t *testing.T) {
	c := secrettest.Plant(t)

	t.Run("a previous key the partner item does not name", func(t *testing.T) {
		fx := newFixture(t, c)
		p := fx.p
		fx.rotate(p)
		if _, err := fx.db.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{
			TableName: aws.String(testTables.Partners), Key: map[string]types.AttributeValue{"partnerId": &types.AttributeValueMemberS{Value: p.id}},
			UpdateExpression: aws.String("REMOVE previousKeyId"),
		}); err != nil {
			t.Fatal(err)
		}
		fx.clock.Advance(grace)
		if rep := fx.mustRun(); len(rep.Retired) != 1 {
			t.Errorf("report %+v, want the key retired", rep)
		}
		fx.retired(p, p.key(0), fx.clock.Now(), events.RetiredGraceEnded)
	})

	t.Run("a malformed item", func(t *testing.T) {
		fx := newFixture(t, c)
		p := fx.p
		fx.rotate(p)
		if _, err := fx.db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(testTables.Credentials), Item: map[string]types.AttributeValue{
			registry.PartitionKey: &types.AttributeValueMemberS{Value: "k" + strings.Repeat("a", 20)},
			registry.AttrStatus:   &types.AttributeValueMemberS{Value: string(registry.StatusPrevious)},
		}}); err != nil {
			t.Fatal(err)
		}
		fx.clock.Advance(grace)
		rep, err := fx.run()
		if err == nil || !strings.Contains(err.Error(), "attribute partnerId missing") {
			t.Errorf("error %v, want the malformed item's", err)
		}
		if len(rep.Retired) != 1 || !rep.Flushed {
			t.Errorf("report %+v, want the good key retired and flushed", rep)
		}
	})

	t.Run("a failed scan", func(t *testing.T) {
		fx := newFixture(t, c)
		fx.db.failScan = errors.New("injected: throttled")
		err := fx.r.Handle(t.Context(), lambdaevents.EventBridgeEvent{ID: "e1", DetailType: "Scheduled Event", Time: fx.clock.Now()})
		c.CheckError(err)
		if err == nil || !strings.Contains(err.Error(), "scan the credentials table credentials") {
			t.Errorf("error %v, want the scan's", err)
		}
		if fx.gw.count() != 0 {
			t.Error("flushed after a failed scan")
		}
	})

	t.Run("a failed commit", func(t *testing.T) {
		fx := newFixture(t, c)
		p := fx.p
		fx.rotate(p)
		fx.clock.Advance(grace)
		fx.db.Intercept = func(op string, _ any) error {
			if op == "TransactWriteItems" {
				return errors.New("injected: DynamoDB is unavailable")
			}
			return nil
		}
		rep, err := fx.run()
		fx.db.Intercept = nil
		if err == nil || len(rep.Retired) != 0 || rep.Flushed {
			t.Errorf("report %+v, error %v; want nothing retired, no flush, an error", rep, err)
		}
		if rep := fx.mustRun(); len(rep.Retired) != 1 || !rep.Flushed {
			t.Errorf("the next run: %+v, want the key retired and flushed", rep)
		}
	})
}

// The scheduled event is all the Lambda handler takes.
func TestHandle(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	fx.rotate(fx.p)
	fx.clock.Advance(grace)
	if err := fx.r.Handle(t.Context(), lambdaevents.EventBridgeEvent{ID: "e1", DetailType: "Scheduled Event", Source: "aws.events", Time: fx.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if fx.gw.count() != 1 {
		t.Errorf("%d flushes, want 1", fx.gw.count())
	}
}
