package stsenforcer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/features/enforcement"
	"github.com/lanyardhq/lanyard/shared/features/stsenforcer"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
	"github.com/lanyardhq/lanyard/shared/stores/stsdenies"
)

// role records the documents written, and fails a test when two writers write at once.
type role struct {
	mu      sync.Mutex
	writing bool
	overlap bool
	applied []stsenforcer.Documents
	err     error
	others  int
}

func (r *role) Attached(context.Context) (map[string]bool, int, error) {
	return map[string]bool{}, r.others, nil
}

func (r *role) Apply(_ context.Context, d stsenforcer.Documents, _ map[string]bool) error {
	r.mu.Lock()
	if r.writing {
		r.overlap = true
	}
	r.writing = true
	err := r.err
	r.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // a write takes a while: a second writer would overlap
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writing = false
	if err != nil {
		return err
	}
	r.applied = append(r.applied, d)
	return nil
}

func (r *role) last() stsenforcer.Documents {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.applied) == 0 {
		return stsenforcer.Documents{}
	}
	return r.applied[len(r.applied)-1]
}

type fixture struct {
	db     *dynamodbtest.DynamoDB
	role   *role
	denies *stsdenies.Store
	outbox *outbox.Store
	now    time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("outbox", dynamodbtest.KeyAttr{Name: outbox.PartitionKey, Type: types.ScalarAttributeTypeS}, &dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: types.ScalarAttributeTypeN})
	db.CreateTable("revocations", dynamodbtest.KeyAttr{Name: revocations.PartitionKey, Type: types.ScalarAttributeTypeS}, &dynamodbtest.KeyAttr{Name: revocations.SortKey, Type: types.ScalarAttributeTypeS})
	db.CreateTable("sts-denies", dynamodbtest.KeyAttr{Name: stsdenies.PartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	return &fixture{db: db, role: &role{}, denies: &stsdenies.Store{DB: db, Table: "sts-denies"}, outbox: &outbox.Store{DB: db, Table: "outbox"},
		now: t0.Add(300 * time.Millisecond)}
}

// enforcer is one instance (owner) of the enforcer.
func (fx *fixture) enforcer(owner string) *stsenforcer.Enforcer {
	return &stsenforcer.Enforcer{
		Reporter: enforcement.Reporter{Outbox: fx.outbox, Reports: enforcement.Store{Revocations: &revocations.Store{DB: fx.db, Table: "revocations"}},
			Enforcer: events.EnforcerSTS, Actor: events.Actor{Kind: events.ActorSystem, ID: stsenforcer.DefaultActor}},
		Denies: fx.denies, Role: fx.role, Rules: rules, Owner: owner, Lease: 90 * time.Second,
		Now:  func() time.Time { return fx.now },
		Poll: time.Millisecond,
	}
}

func revoked(partner, id string, at time.Time) *events.CredentialRevoked {
	return &events.CredentialRevoked{
		Meta:         events.NewMeta(partner, events.Actor{Kind: events.ActorPartner, ID: partner}, at),
		RevocationID: id, KeyIDs: []string{"k0"}, Reason: events.RevocationRequested,
	}
}

func (fx *fixture) enforcedEvents(t *testing.T, partner string) []*events.RevocationEnforced {
	t.Helper()
	recs, err := fx.outbox.Records(t.Context(), partner)
	if err != nil {
		t.Fatal(err)
	}
	var out []*events.RevocationEnforced
	for _, r := range recs {
		var ev events.RevocationEnforced
		if r.DetailType != events.TypeRevocationEnforced || json.Unmarshal([]byte(r.Detail), &ev) != nil {
			t.Fatalf("outbox record %d: %s %s", r.Seq, r.DetailType, r.Detail)
		}
		out = append(out, &ev)
	}
	return out
}

const (
	partnerA = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	partnerB = "p-bbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// A revocation puts the partner in the set, renders the role's deny from it, and reports with
// Revocation Enforced; the deny holds the partner's sessions issued before the revocation and
// leaves another partner's alone.
func TestEnforce(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	out, err := fx.enforcer("w1").Enforce(t.Context(), revoked(partnerA, "rev-1", t0))
	if err != nil {
		t.Fatal(err)
	}
	if out.Duplicate || !out.Rendered || out.Version != 1 || out.LatencyMS != 300 {
		t.Fatalf("outcome %+v, want rendered version 1, latency 300 ms", out)
	}
	docs := parse(t, all(fx.role.last()))
	if !denied(docs, session{partnerA, t0.Add(-time.Minute)}) || denied(docs, session{partnerB, t0.Add(-time.Minute)}) {
		t.Errorf("deny %s: want partner A's earlier session denied, B's not", fx.role.last().Inline)
	}
	evs := fx.enforcedEvents(t, partnerA)
	if len(evs) != 1 || evs[0].Enforcer != events.EnforcerSTS || evs[0].RevocationID != "rev-1" || evs[0].LatencyMS != 300 {
		t.Fatalf("events %+v", evs)
	}
	st, err := fx.denies.State(t.Context())
	if err != nil || st.Rendered != 1 || st.LeaseOwner != "" {
		t.Fatalf("set %+v (%v), want version 1 rendered and the lease released", st, err)
	}
}

// A second delivery of a revocation reports nothing again and writes nothing; an older
// revocation of a partner delivered after a newer one leaves its later cut-off in place.
func TestDuplicateAndOutOfOrderDeliveries(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	e := fx.enforcer("w1")
	if _, err := e.Enforce(t.Context(), revoked(partnerA, "rev-2", t0.Add(10*time.Minute))); err != nil {
		t.Fatal(err)
	}
	out, err := e.Enforce(t.Context(), revoked(partnerA, "rev-2", t0.Add(10*time.Minute)))
	if err != nil || !out.Duplicate || len(fx.role.applied) != 1 {
		t.Fatalf("second delivery: %+v %v, %d renders", out, err, len(fx.role.applied))
	}
	out, err = e.Enforce(t.Context(), revoked(partnerA, "rev-1", t0))
	if err != nil || out.Duplicate || out.Rendered || out.Version != 1 {
		t.Fatalf("older revocation: %+v %v, want reported on version 1 with no render", out, err)
	}
	docs := parse(t, all(fx.role.last()))
	if !denied(docs, session{partnerA, t0.Add(9 * time.Minute)}) {
		t.Errorf("the later revocation's cut-off was lost: %s", fx.role.last().Inline)
	}
	if n := len(fx.enforcedEvents(t, partnerA)); n != 2 {
		t.Errorf("%d Revocation Enforced, want one per revocation", n)
	}
}

// Many instances enforcing at once never write the role together, and every revocation is in
// the documents when its report is committed.
func TestOneWriterAtATime(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.now = t0.Add(time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := fx.enforcer(fmt.Sprintf("w%d", i)) // one invocation at a time per instance
			p := fmt.Sprintf("p-%026d", i)
			if _, err := e.Enforce(context.Background(), revoked(p, fmt.Sprintf("rev-%d", i), t0.Add(time.Duration(i)*time.Second))); err != nil {
				errs <- err
				return
			}
			// What the role holds now denies the partner.
			if d := fx.role.last(); !denied(parse(t, all(d)), session{p, t0.Add(-time.Second)}) {
				errs <- fmt.Errorf("%s reported before the role denied it", p)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if fx.role.overlap {
		t.Error("two writers wrote the role at once")
	}
	if len(fx.role.applied) > 40 {
		t.Errorf("%d renders for 40 revocations", len(fx.role.applied))
	}
}

// A writer whose lease another holds waits for that writer's render; a lease left by a
// crashed writer is taken over once its time has run out.
func TestLeaseHeldByAnotherWriter(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	if ok, err := fx.denies.Acquire(t.Context(), "crashed", t0, t0.Add(90*time.Second)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	e := fx.enforcer("w1")
	waits := 0
	e.Sleep = func(_ context.Context, d time.Duration) error {
		waits++
		fx.now = fx.now.Add(10 * time.Second)
		return nil
	}
	out, err := e.Enforce(t.Context(), revoked(partnerA, "rev-1", t0))
	if err != nil || !out.Rendered {
		t.Fatalf("%+v %v, want rendered once the lease ran out", out, err)
	}
	if waits < 9 {
		t.Errorf("rendered after %d waits of 10 s, before the crashed writer's lease ran out", waits)
	}
}

// A failing write fails the record alone, releases the lease, and leaves the set's version
// unrendered, so the next delivery renders it.
func TestFailuresFailTheirRecordAlone(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.role.err = errors.New("iam: throttled")
	e := fx.enforcer("w1")
	body := func(d events.Detail) string {
		dt, detail, err := events.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(events.Envelope{Version: "0", ID: "eb-" + d.Header().EventID, DetailType: dt, Source: events.Source, Time: d.Header().Time, Detail: detail})
		return string(b)
	}
	resp, err := e.Handle(t.Context(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		{MessageId: "m1", Body: body(revoked(partnerA, "rev-1", t0))},
		{MessageId: "m2", Body: `{"detail-type":"Credential Issued"}`},
	}})
	if err != nil || len(resp.BatchItemFailures) != 2 {
		t.Fatalf("%+v %v, want both records failed", resp, err)
	}
	st, _ := fx.denies.State(t.Context())
	if st.LeaseOwner != "" || st.Rendered != 0 || st.Version != 1 {
		t.Fatalf("set %+v, want version 1 unrendered and no lease", st)
	}
	fx.role.err = nil
	resp, err = e.Handle(t.Context(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "m1", Body: body(revoked(partnerA, "rev-1", t0))}}})
	if err != nil || len(resp.BatchItemFailures) != 0 || len(fx.enforcedEvents(t, partnerA)) != 1 {
		t.Fatalf("redelivery: %+v %v", resp, err)
	}
}

// The role's own managed policies take slots: with the quota taken, the role-wide deny holds.
func TestAttachmentQuotaTaken(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.role.others = stsenforcer.AttachmentQuota
	for i := range 400 {
		if _, err := fx.denies.Add(t.Context(), stsdenies.Entry{PartnerID: fmt.Sprintf("p-%026d", i), RevokedAt: t0.Add(time.Duration(i) * 9 * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fx.enforcer("w1").Enforce(t.Context(), revoked(partnerA, "rev-1", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	d := fx.role.last()
	if len(d.Managed) != 0 || d.Cutoff.IsZero() || !denied(parse(t, all(d)), session{partnerA, t0.Add(59 * time.Minute)}) {
		t.Fatalf("documents %d managed, cut-off %s: want the inline policy alone with a role-wide deny", len(d.Managed), d.Cutoff)
	}
}
