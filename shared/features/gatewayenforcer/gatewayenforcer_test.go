package gatewayenforcer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/usagetest"
	"github.com/lanyardhq/lanyard/shared/features/gatewayenforcer"
	"github.com/lanyardhq/lanyard/shared/features/usage"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

const (
	partnerA    = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	revocations = "revocations"
	keyCacheTTL = 30 * time.Second
	authTimeout = 5 * time.Second
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// reports is the revocations table's report items as the contract shapes them (key
// revocationId, entry "enforcer#<name>"), in the DynamoDB fake, so the report's condition
// rides in the outbox transaction as it will in production.
type reports struct{ db *dynamodbtest.DynamoDB }

func reportKey(id, enforcer string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"revocationId": &types.AttributeValueMemberS{Value: id},
		"entry":        &types.AttributeValueMemberS{Value: "enforcer#" + enforcer},
	}
}

func (r reports) Reported(ctx context.Context, id, enforcer string) (bool, error) {
	out, err := r.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(revocations), Key: reportKey(id, enforcer), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, err
	}
	return out.Item != nil, nil
}

func (r reports) Put(rep gatewayenforcer.Report) (types.TransactWriteItem, error) {
	item := reportKey(rep.RevocationID, rep.Enforcer)
	item["partnerId"] = &types.AttributeValueMemberS{Value: rep.PartnerID}
	item["eventId"] = &types.AttributeValueMemberS{Value: rep.EventID}
	item["enforcedAt"] = &types.AttributeValueMemberS{Value: rep.EnforcedAt.Format(time.RFC3339Nano)}
	item["latencyMs"] = &types.AttributeValueMemberN{Value: fmt.Sprint(rep.LatencyMS)}
	return types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(revocations), Item: item,
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": "revocationId"},
	}}, nil
}

// flusher records the times it was asked to flush after.
type flusher struct {
	mu     sync.Mutex
	afters []time.Time
	err    error
}

func (f *flusher) After(_ context.Context, after time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.afters = append(f.afters, after)
	return f.err == nil, f.err
}

// keys is the registry by partner.
type keys map[string][]registry.Entry

func (k keys) Keys(_ context.Context, partnerID string) ([]registry.Entry, error) {
	return k[partnerID], nil
}

type fixture struct {
	db      *dynamodbtest.DynamoDB
	gw      *usagetest.APIGateway
	flush   *flusher
	keys    keys
	e       *gatewayenforcer.Enforcer
	now     time.Time
	slept   []time.Duration
	outbox  *outbox.Store
	apiKeyA string
}

func newFixture(t *testing.T, statuses ...registry.Status) *fixture {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("outbox", dynamodbtest.KeyAttr{Name: outbox.PartitionKey, Type: types.ScalarAttributeTypeS}, &dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: types.ScalarAttributeTypeN})
	db.CreateTable(revocations, dynamodbtest.KeyAttr{Name: "revocationId", Type: types.ScalarAttributeTypeS}, &dynamodbtest.KeyAttr{Name: "entry", Type: types.ScalarAttributeTypeS})
	fx := &fixture{db: db, gw: &usagetest.APIGateway{}, flush: &flusher{}, keys: keys{}, now: t0.Add(200 * time.Millisecond),
		outbox: &outbox.Store{DB: db, Table: "outbox"}}
	fx.apiKeyA = fx.gw.AddKey(usage.KeyName(partnerA), usage.KeyValue(partnerA), true)
	for i, s := range statuses {
		fx.keys[partnerA] = append(fx.keys[partnerA], registry.Entry{KeyID: credential.KeyID(fmt.Sprintf("k%d", i)), PartnerID: partnerA, Status: s})
	}
	fx.e = &gatewayenforcer.Enforcer{
		Outbox: fx.outbox, Reports: reports{db}, Flush: fx.flush, Keys: fx.keys, APIKeys: fx.gw,
		KeyCacheTTL: keyCacheTTL, AuthorizerTimeout: authTimeout,
		Now: func() time.Time { return fx.now },
		Sleep: func(_ context.Context, d time.Duration) error {
			fx.slept = append(fx.slept, d)
			fx.now = fx.now.Add(d)
			return nil
		},
	}
	return fx
}

func revoked(id string) *events.CredentialRevoked {
	return &events.CredentialRevoked{
		Meta:         events.NewMeta(partnerA, events.Actor{Kind: events.ActorPartner, ID: partnerA}, t0),
		RevocationID: id, KeyIDs: []string{"k0"}, Reason: events.RevocationRequested,
	}
}

// body is the SQS record body EventBridge puts in the queue for d.
func body(t *testing.T, d events.Detail) string {
	t.Helper()
	dt, detail, err := events.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(events.Envelope{Version: "0", ID: "eb-" + d.Header().EventID, DetailType: dt, Source: events.Source, Time: d.Header().Time, Detail: detail})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (fx *fixture) enforced(t *testing.T) []*events.RevocationEnforced {
	t.Helper()
	recs, err := fx.outbox.Records(t.Context(), partnerA)
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

func (fx *fixture) apiKeyEnabled() bool {
	for _, k := range fx.gw.Keys() {
		if aws.ToString(k.Id) == fx.apiKeyA {
			return k.Enabled
		}
	}
	return false
}

// The enforcer waits until the revocation time + key-cache TTL + authorizer timeout, has the
// cache flushed after then, disables the API key only when no key of the partner is pending,
// active or previous, and reports with its latency in one outbox transaction.
func TestEnforce(t *testing.T) {
	t.Parallel()
	until := t0.Add(keyCacheTTL + authTimeout)
	cases := []struct {
		name         string
		statuses     []registry.Status
		keyCacheTTL  time.Duration
		now          time.Time
		wantSleep    []time.Duration
		wantAfter    time.Time
		wantDisabled bool
	}{
		{"a key left active", []registry.Status{registry.StatusRevoked, registry.StatusActive}, keyCacheTTL, t0.Add(200 * time.Millisecond),
			[]time.Duration{until.Sub(t0.Add(200 * time.Millisecond))}, until, false},
		{"a previous key left", []registry.Status{registry.StatusRevoked, registry.StatusPrevious}, keyCacheTTL, t0.Add(time.Second),
			[]time.Duration{until.Sub(t0.Add(time.Second))}, until, false},
		{"a pending key left", []registry.Status{registry.StatusRevoked, registry.StatusPending, registry.StatusRetired}, keyCacheTTL, t0,
			[]time.Duration{until.Sub(t0)}, until, false},
		{"every key revoked or retired", []registry.Status{registry.StatusRevoked, registry.StatusRetired}, keyCacheTTL, t0.Add(time.Second),
			[]time.Duration{until.Sub(t0.Add(time.Second))}, until, true},
		{"delivered after the caches ran out: no wait", []registry.Status{registry.StatusRevoked}, keyCacheTTL, until.Add(time.Minute),
			nil, until, true},
		{"no key cache: the authorizer's timeout alone", []registry.Status{registry.StatusRevoked, registry.StatusActive}, 0, t0.Add(time.Second),
			[]time.Duration{authTimeout - time.Second}, t0.Add(authTimeout), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, c.statuses...)
			fx.e.KeyCacheTTL, fx.now = c.keyCacheTTL, c.now
			rev := revoked("rev-1")
			resp, err := fx.e.Handle(t.Context(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "m1", Body: body(t, rev)}}})
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("Handle: %+v, %v", resp, err)
			}
			if !slices.Equal(fx.slept, c.wantSleep) {
				t.Errorf("slept %v, want %v", fx.slept, c.wantSleep)
			}
			if len(fx.flush.afters) != 1 || !fx.flush.afters[0].Equal(c.wantAfter) {
				t.Errorf("flushes asked after %v, want one after %s", fx.flush.afters, c.wantAfter)
			}
			if got := !fx.apiKeyEnabled(); got != c.wantDisabled {
				t.Errorf("API key disabled %t, want %t", got, c.wantDisabled)
			}
			evs := fx.enforced(t)
			if len(evs) != 1 {
				t.Fatalf("%d Revocation Enforced, want 1", len(evs))
			}
			ev := evs[0]
			wantLatency := fx.now.Sub(t0).Milliseconds()
			if ev.RevocationID != "rev-1" || ev.Enforcer != events.EnforcerGateway || ev.LatencyMS != wantLatency || ev.PartnerID != partnerA ||
				ev.Actor != (events.Actor{Kind: events.ActorSystem, ID: gatewayenforcer.DefaultActor}) || !ev.Time.Equal(fx.now) {
				t.Errorf("Revocation Enforced %+v, want revocation rev-1 by gateway, latency %d ms", ev, wantLatency)
			}
			if done, err := (reports{fx.db}).Reported(t.Context(), "rev-1", events.EnforcerGateway); err != nil || !done {
				t.Errorf("report recorded %t, %v", done, err)
			}
		})
	}
}

// A second delivery of the same Credential Revoked does nothing: no wait, no flush, no API
// call, no second event. A delivery racing the first (its report committed between the
// check and the commit) commits nothing either.
func TestDuplicateDeliveriesChangeNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, registry.StatusRevoked)
	rev := revoked("rev-1")
	if out, err := fx.e.Record(t.Context(), []byte(body(t, rev))); err != nil || out.Duplicate || !out.Disabled {
		t.Fatalf("first delivery: %+v, %v", out, err)
	}
	slept, flushes, updates := len(fx.slept), len(fx.flush.afters), fx.gw.Calls(usagetest.OpUpdateApiKey)
	out, err := fx.e.Record(t.Context(), []byte(body(t, rev)))
	if err != nil || !out.Duplicate {
		t.Fatalf("second delivery: %+v, %v; want a duplicate", out, err)
	}
	if len(fx.slept) != slept || len(fx.flush.afters) != flushes || fx.gw.Calls(usagetest.OpUpdateApiKey) != updates || fx.gw.Calls(usagetest.OpGetApiKeys) != 1 {
		t.Errorf("the duplicate waited, flushed or called API Gateway again")
	}
	if n := len(fx.enforced(t)); n != 1 {
		t.Errorf("%d Revocation Enforced, want 1", n)
	}

	// The race: the check saw no report, another delivery's landed before the commit.
	racing := newFixture(t, registry.StatusRevoked)
	racing.e.Reports = raced{reports{racing.db}}
	if _, err := racing.e.Record(t.Context(), []byte(body(t, rev))); err != nil {
		t.Fatal(err)
	}
	out, err = racing.e.Record(t.Context(), []byte(body(t, rev)))
	if err != nil || !out.Duplicate {
		t.Errorf("racing delivery: %+v, %v; want a duplicate", out, err)
	}
	if n := len(racing.enforced(t)); n != 1 {
		t.Errorf("%d Revocation Enforced after the race, want 1", n)
	}
}

// raced never sees a report: every delivery goes on to its commit.
type raced struct{ reports }

func (raced) Reported(context.Context, string, string) (bool, error) { return false, nil }

// Out of order: a later revocation (the partner's last key) enforced before an earlier one;
// both report, the API key ends disabled, each decision read from the registry as it is.
func TestOutOfOrderDeliveries(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, registry.StatusRevoked, registry.StatusRevoked)
	first, second := revoked("rev-1"), revoked("rev-2")
	second.Time = t0.Add(time.Second)
	for _, rev := range []*events.CredentialRevoked{second, first} {
		if _, err := fx.e.Record(t.Context(), []byte(body(t, rev))); err != nil {
			t.Fatal(err)
		}
	}
	if fx.apiKeyEnabled() {
		t.Error("API key still enabled")
	}
	evs := fx.enforced(t)
	if len(evs) != 2 || evs[0].RevocationID != "rev-2" || evs[1].RevocationID != "rev-1" {
		t.Errorf("reports %+v, want rev-2 then rev-1", evs)
	}
	if n := fx.gw.Calls(usagetest.OpUpdateApiKey); n != 1 {
		t.Errorf("UpdateApiKey called %d times, want 1", n)
	}
}

// A record that fails (its flush, or a body that is no Credential Revoked) is reported in the
// partial batch response alone; nothing of it is committed, and the others are enforced.
func TestFailuresFailTheirRecordAlone(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, registry.StatusActive)
	good, bad := revoked("rev-good"), revoked("rev-bad")
	var failing bool
	fx.e.Flush = flushFunc(func(ctx context.Context, after time.Time) (bool, error) {
		if failing {
			return false, errors.New("flush refused")
		}
		return fx.flush.After(ctx, after)
	})
	other := &events.RevocationEnforced{Meta: events.NewMeta(partnerA, events.Actor{Kind: events.ActorSystem, ID: "x"}, t0), RevocationID: "rev-x", Enforcer: "sts"}
	records := []lambdaevents.SQSMessage{{MessageId: "good", Body: body(t, good)}, {MessageId: "not-json", Body: "{"}, {MessageId: "other-type", Body: body(t, other)}}
	resp, err := fx.e.Handle(t.Context(), lambdaevents.SQSEvent{Records: records})
	if err != nil {
		t.Fatal(err)
	}
	failing = true
	resp2, err := fx.e.Handle(t.Context(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "bad", Body: body(t, bad)}}})
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, f := range append(resp.BatchItemFailures, resp2.BatchItemFailures...) {
		failed = append(failed, f.ItemIdentifier)
	}
	if want := []string{"not-json", "other-type", "bad"}; !slices.Equal(failed, want) {
		t.Errorf("failed records %v, want %v", failed, want)
	}
	evs := fx.enforced(t)
	if len(evs) != 1 || evs[0].RevocationID != "rev-good" {
		t.Errorf("reports %+v, want rev-good alone", evs)
	}
	if done, _ := (reports{fx.db}).Reported(t.Context(), "rev-bad", events.EnforcerGateway); done {
		t.Error("the failed revocation has a report")
	}
}

type flushFunc func(ctx context.Context, after time.Time) (bool, error)

func (f flushFunc) After(ctx context.Context, after time.Time) (bool, error) { return f(ctx, after) }

// After a revocation with a replacement (whose route disabled the API key), the enforcer
// enables the key again once it flushed: when the replacement is live — its own, even before
// the index shows it, or an earlier revocation's — and no key was revoked after this
// revocation. Otherwise it leaves the key as it is.
func TestEnableAfterReplacement(t *testing.T) {
	t.Parallel()
	old := registry.Entry{KeyID: "k0", PartnerID: partnerA, Status: registry.StatusRevoked, RevokedAt: t0, CreatedAt: t0.Add(-time.Hour)}
	replacement := registry.Entry{KeyID: "k1", PartnerID: partnerA, Status: registry.StatusActive, CreatedAt: t0}
	laterRevoked := registry.Entry{KeyID: "k2", PartnerID: partnerA, Status: registry.StatusRevoked, RevokedAt: t0.Add(time.Second), CreatedAt: t0.Add(-time.Hour)}
	plain := registry.Entry{KeyID: "k3", PartnerID: partnerA, Status: registry.StatusActive, CreatedAt: t0.Add(-2 * time.Hour)}
	for _, c := range []struct {
		name        string
		replacement string
		keys        []registry.Entry
		wantEnabled bool
	}{
		{"its replacement live", "k1", []registry.Entry{old, replacement}, true},
		{"its replacement not in the index yet", "k1", []registry.Entry{old}, true},
		{"a key revoked after it", "k1", []registry.Entry{old, replacement, laterRevoked}, false},
		{"its replacement revoked since", "k1", []registry.Entry{old, {KeyID: "k1", PartnerID: partnerA, Status: registry.StatusRevoked, RevokedAt: t0.Add(time.Second), CreatedAt: t0}}, false},
		{"an earlier revocation's replacement live", "", []registry.Entry{old, replacement}, true},
		{"no replacement", "", []registry.Entry{old, plain}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			fx.keys[partnerA] = c.keys
			if _, err := usage.Disable(t.Context(), fx.gw, partnerA); err != nil {
				t.Fatal(err)
			}
			rev := revoked("rev-1")
			rev.ReplacementKeyID = c.replacement
			out, err := fx.e.Record(t.Context(), []byte(body(t, rev)))
			if err != nil {
				t.Fatal(err)
			}
			if out.Enabled != c.wantEnabled || fx.apiKeyEnabled() != c.wantEnabled || out.Disabled {
				t.Errorf("outcome %+v, API key enabled %t; want enabled %t", out, fx.apiKeyEnabled(), c.wantEnabled)
			}
			if len(fx.flush.afters) != 1 {
				t.Errorf("%d flushes, want the enforcer's one before anything else", len(fx.flush.afters))
			}
		})
	}
}
