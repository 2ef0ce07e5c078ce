package secretenforcer_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secretsmanagertest"
	"github.com/lanyardhq/lanyard/shared/features/enforcement"
	"github.com/lanyardhq/lanyard/shared/features/secretenforcer"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
)

const (
	partnerA = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	prefix   = "lanyard/partners/"
	days     = 7
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// keys is the registry by partner: reads[i] answers the i-th read, the last one every later read.
type keys struct {
	reads [][]registry.Entry
	n     int
}

func (k *keys) Keys(context.Context, string) ([]registry.Entry, error) {
	r := k.reads[min(k.n, len(k.reads)-1)]
	k.n++
	return slices.Clone(r), nil
}

type fixture struct {
	sm     *secretsmanagertest.SecretsManager
	db     *dynamodbtest.DynamoDB
	outbox *outbox.Store
	keys   *keys
	e      *secretenforcer.Enforcer
	now    time.Time
	slept  int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("outbox", dynamodbtest.KeyAttr{Name: outbox.PartitionKey, Type: types.ScalarAttributeTypeS}, &dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: types.ScalarAttributeTypeN})
	db.CreateTable("revocations", dynamodbtest.KeyAttr{Name: revocations.PartitionKey, Type: types.ScalarAttributeTypeS}, &dynamodbtest.KeyAttr{Name: revocations.SortKey, Type: types.ScalarAttributeTypeS})
	fx := &fixture{db: db, outbox: &outbox.Store{DB: db, Table: "outbox"}, keys: &keys{}, now: t0.Add(time.Second)}
	fx.sm = secretsmanagertest.New(secretsmanagertest.Options{Now: func() time.Time { return fx.now }})
	fx.e = &secretenforcer.Enforcer{
		Outbox: fx.outbox, Reports: enforcement.Store{Revocations: &revocations.Store{DB: db, Table: "revocations"}},
		Keys: fx.keys, Secrets: fx.sm, SecretPrefix: prefix, RecoveryDays: days,
		Now: func() time.Time { return fx.now },
		Sleep: func(_ context.Context, d time.Duration) error {
			fx.slept++
			fx.now = fx.now.Add(d)
			return nil
		},
	}
	return fx
}

// secret creates a partner secret named name (under prefix) with one version per stage set
// (the first AWSCURRENT at creation, then each as given), rotating every 30 days. It returns
// the ARN and the version ids.
func (fx *fixture) secret(t *testing.T, name string, stages ...[]string) (string, []string) {
	t.Helper()
	ctx := t.Context()
	v0 := uuid.NewString()
	out, err := fx.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(prefix + name), ClientRequestToken: aws.String(v0),
		SecretString: aws.String("not a key")})
	if err != nil {
		t.Fatal(err)
	}
	arn, versions := aws.ToString(out.ARN), []string{v0}
	if _, err := fx.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: out.ARN, RotationLambdaARN: aws.String("arn:aws:lambda:eu-west-1:111122223333:function:rotation"),
		RotationRules: &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}, RotateImmediately: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	for _, s := range stages {
		v := uuid.NewString()
		if _, err := fx.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: out.ARN, ClientRequestToken: aws.String(v),
			SecretString: aws.String("not a key either"), VersionStages: s}); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	return arn, versions
}

func entry(id, arn, version string, status registry.Status) registry.Entry {
	return registry.Entry{KeyID: credential.KeyID(id), PartnerID: partnerA, Status: status, SecretARN: arn, SecretVersionID: version}
}

func revoked(id string, keyIDs ...string) *events.CredentialRevoked {
	return &events.CredentialRevoked{
		Meta:         events.NewMeta(partnerA, events.Actor{Kind: events.ActorOps, ID: "ops"}, t0),
		RevocationID: id, KeyIDs: keyIDs, Reason: events.RevocationCompromised,
	}
}

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

func (fx *fixture) describe(t *testing.T, arn string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	out, err := fx.sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	return out
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

// state is what a test reads back of a secret.
type state struct {
	stages   map[string][]string
	rotating bool
	tag      string
	deletion time.Time
}

func (fx *fixture) state(t *testing.T, arn string) state {
	t.Helper()
	d := fx.describe(t, arn)
	s := state{stages: d.VersionIdsToStages, rotating: aws.ToBool(d.RotationEnabled), deletion: aws.ToTime(d.DeletedDate)}
	for _, tag := range d.Tags {
		if aws.ToString(tag.Key) == secretenforcer.RevokedTag {
			s.tag = aws.ToString(tag.Value)
		}
	}
	return s
}

func sameStages(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(slices.Sorted(slices.Values(v)), slices.Sorted(slices.Values(b[k]))) {
			return false
		}
	}
	return true
}

const (
	cur  = partnersecret.StageCurrent
	pend = partnersecret.StagePending
	prev = partnersecret.StagePrevious
)

// Per key and per secret, as the registry reads when the enforcer runs: a revoked previous key
// loses AWSPREVIOUS; a secret no live key is left on is cancelled, unpended, tagged and
// scheduled for deletion; a secret a live key uses keeps everything else, whatever the event
// says (a late one, or a replacement).
func TestEnforce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// build makes the secrets and answers the registry's entries and the revoked keys.
		build func(t *testing.T, fx *fixture) (entries []registry.Entry, revokedKeys []string, want map[string]state)
	}{
		{"a revoked previous key loses AWSPREVIOUS, the current key's secret stays", func(t *testing.T, fx *fixture) ([]registry.Entry, []string, map[string]state) {
			arn, v := fx.secret(t, partnerA, []string{cur})
			return []registry.Entry{entry("k1", arn, v[0], registry.StatusRevoked), entry("k2", arn, v[1], registry.StatusActive)}, []string{"k1"},
				map[string]state{arn: {stages: map[string][]string{v[1]: {cur}}, rotating: true}}
		}},
		{"every key revoked, a rotation under way: cancelled, AWSPENDING removed, tagged, deletion scheduled", func(t *testing.T, fx *fixture) ([]registry.Entry, []string, map[string]state) {
			arn, v := fx.secret(t, partnerA, []string{cur}, []string{pend})
			return []registry.Entry{entry("k1", arn, v[0], registry.StatusRevoked), entry("k2", arn, v[1], registry.StatusRevoked)}, []string{"k1", "k2"},
				map[string]state{arn: {stages: map[string][]string{v[0]: {prev}, v[1]: {cur}}, tag: "rev-1", deletion: fx.now.Add(days * 24 * time.Hour)}}
		}},
		{"the last key revoked, the others retired before", func(t *testing.T, fx *fixture) ([]registry.Entry, []string, map[string]state) {
			arn, v := fx.secret(t, partnerA, []string{cur})
			return []registry.Entry{entry("k1", arn, v[0], registry.StatusRetired), entry("k2", arn, v[1], registry.StatusRevoked)}, []string{"k2"},
				map[string]state{arn: {stages: map[string][]string{v[0]: {prev}, v[1]: {cur}}, tag: "rev-1", deletion: fx.now.Add(days * 24 * time.Hour)}}
		}},
		{"a revoked active key while its previous lives: AWSCURRENT stays, nothing removed", func(t *testing.T, fx *fixture) ([]registry.Entry, []string, map[string]state) {
			arn, v := fx.secret(t, partnerA, []string{cur})
			return []registry.Entry{entry("k1", arn, v[0], registry.StatusPrevious), entry("k2", arn, v[1], registry.StatusRevoked)}, []string{"k2"},
				map[string]state{arn: {stages: map[string][]string{v[0]: {prev}, v[1]: {cur}}, rotating: true}}
		}},
		{"late: a previous key's revocation after a later rotation leaves the new previous its label", func(t *testing.T, fx *fixture) ([]registry.Entry, []string, map[string]state) {
			arn, v := fx.secret(t, partnerA, []string{cur}, []string{cur})
			// v[0] lost its label in the second rotation; v[1] is the new previous.
			return []registry.Entry{entry("k1", arn, v[0], registry.StatusRevoked), entry("k2", arn, v[1], registry.StatusPrevious), entry("k3", arn, v[2], registry.StatusActive)}, []string{"k1"},
				map[string]state{arn: {stages: map[string][]string{v[1]: {prev}, v[2]: {cur}}, rotating: true}}
		}},
		{"late: a full revocation while a live key now uses the secret: nothing deleted, the revoked previous unlabelled", func(t *testing.T, fx *fixture) ([]registry.Entry, []string, map[string]state) {
			arn, v := fx.secret(t, partnerA, []string{cur}, []string{cur})
			return []registry.Entry{entry("k1", arn, v[0], registry.StatusRevoked), entry("k2", arn, v[1], registry.StatusRevoked), entry("k3", arn, v[2], registry.StatusActive)}, []string{"k1", "k2"},
				map[string]state{arn: {stages: map[string][]string{v[2]: {cur}}, rotating: true}}
		}},
		{"a replacement in a new secret: the revoked key's secret retired, the replacement's untouched", func(t *testing.T, fx *fixture) ([]registry.Entry, []string, map[string]state) {
			old, v := fx.secret(t, partnerA)
			repl, w := fx.secret(t, partnerA+"/2")
			return []registry.Entry{entry("k1", old, v[0], registry.StatusRevoked), entry("k2", repl, w[0], registry.StatusActive)}, []string{"k1"},
				map[string]state{old: {stages: map[string][]string{v[0]: {cur}}, tag: "rev-1", deletion: fx.now.Add(days * 24 * time.Hour)},
					repl: {stages: map[string][]string{w[0]: {cur}}, rotating: true}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			entries, keyIDs, want := c.build(t, fx)
			fx.keys.reads = [][]registry.Entry{entries}
			resp, err := fx.e.Handle(t.Context(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "m1", Body: body(t, revoked("rev-1", keyIDs...))}}})
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("Handle: %+v, %v", resp, err)
			}
			for arn, w := range want {
				got := fx.state(t, arn)
				if !sameStages(got.stages, w.stages) || got.rotating != w.rotating || got.tag != w.tag || !got.deletion.Equal(w.deletion) {
					t.Errorf("secret %s: %+v, want %+v", arn, got, w)
				}
			}
			evs := fx.enforced(t)
			if len(evs) != 1 || evs[0].RevocationID != "rev-1" || evs[0].Enforcer != events.EnforcerSecret || evs[0].LatencyMS != time.Second.Milliseconds() ||
				evs[0].Actor != (events.Actor{Kind: events.ActorSystem, ID: secretenforcer.DefaultActor}) {
				t.Errorf("Revocation Enforced %+v, want one of rev-1 by secret, 1000 ms", evs)
			}
		})
	}
}

// A second delivery does nothing; one racing the first (its report committed between the check
// and the commit) finds the secret scheduled for deletion and commits nothing.
func TestDuplicateDeliveriesChangeNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	arn, v := fx.secret(t, partnerA)
	fx.keys.reads = [][]registry.Entry{{entry("k1", arn, v[0], registry.StatusRevoked)}}
	rev := revoked("rev-1", "k1")
	if out, err := fx.e.Record(t.Context(), []byte(body(t, rev))); err != nil || out.Duplicate || !slices.Equal(out.Retired, []string{arn}) {
		t.Fatalf("first delivery: %+v, %v", out, err)
	}
	first := fx.state(t, arn)
	fx.now = fx.now.Add(time.Hour)
	out, err := fx.e.Record(t.Context(), []byte(body(t, rev)))
	if err != nil || !out.Duplicate {
		t.Fatalf("second delivery: %+v, %v; want a duplicate", out, err)
	}
	racing := *fx.e
	racing.Reports = raced{fx.e.Reports}
	out, err = racing.Record(t.Context(), []byte(body(t, rev)))
	if err != nil || !out.Duplicate || !slices.Equal(out.Done, []string{arn}) || len(out.Retired) != 0 {
		t.Errorf("racing delivery: %+v, %v; want a duplicate that found the secret done", out, err)
	}
	if got := fx.state(t, arn); !got.deletion.Equal(first.deletion) || got.tag != "rev-1" {
		t.Errorf("after the duplicates: %+v, want %+v", got, first)
	}
	if n := len(fx.enforced(t)); n != 1 {
		t.Errorf("%d Revocation Enforced, want 1", n)
	}
}

// raced never sees a report.
type raced struct{ enforcement.Reports }

func (raced) Reported(context.Context, string, string) (bool, error) { return false, nil }

// The by-partner index may lag the revocation: a read that shows a revoked key live is read
// again, and the record fails if it keeps doing so; a labelled version no entry names fails
// the record too. Either way the secret is untouched and nothing is reported.
func TestUnsureReadsTouchNothing(t *testing.T) {
	t.Parallel()
	t.Run("the index catches up", func(t *testing.T) {
		t.Parallel()
		fx := newFixture(t)
		arn, v := fx.secret(t, partnerA)
		fx.keys.reads = [][]registry.Entry{{entry("k1", arn, v[0], registry.StatusActive)}, {}, {entry("k1", arn, v[0], registry.StatusRevoked)}}
		out, err := fx.e.Record(t.Context(), []byte(body(t, revoked("rev-1", "k1"))))
		if err != nil || !slices.Equal(out.Retired, []string{arn}) || fx.slept != 2 {
			t.Errorf("%+v, %v after %d pauses; want the secret retired after 2", out, err, fx.slept)
		}
	})
	for _, c := range []struct {
		name  string
		reads func(arn string, v []string) [][]registry.Entry
		want  string
	}{
		{"the index keeps showing the key live", func(arn string, v []string) [][]registry.Entry {
			return [][]registry.Entry{{entry("k1", arn, v[0], registry.StatusActive)}}
		}, "still shows key k1 live or absent after 5 reads"},
		{"a current version no entry names", func(arn string, v []string) [][]registry.Entry {
			return [][]registry.Entry{{entry("k1", arn, v[0], registry.StatusRevoked)}}
		}, "no registry entry of the partner names it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			arn, v := fx.secret(t, partnerA, []string{cur})
			fx.keys.reads = c.reads(arn, v)
			before := fx.state(t, arn)
			resp, err := fx.e.Handle(t.Context(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "m1", Body: body(t, revoked("rev-1", "k1"))}}})
			if err != nil || len(resp.BatchItemFailures) != 1 {
				t.Fatalf("Handle: %+v, %v; want the record failed", resp, err)
			}
			_, err = fx.e.Record(t.Context(), []byte(body(t, revoked("rev-1", "k1"))))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
			if got := fx.state(t, arn); !sameStages(got.stages, before.stages) || !got.rotating || got.tag != "" || !got.deletion.IsZero() {
				t.Errorf("secret touched: %+v", got)
			}
			if n := len(fx.enforced(t)); n != 0 {
				t.Errorf("%d Revocation Enforced, want none", n)
			}
		})
	}
}

// A secret outside the partner secrets' prefix is never touched, and a body that is no
// Credential Revoked fails its record alone.
func TestRefusals(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	out, err := fx.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("elsewhere/" + partnerA), SecretString: aws.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.ARN)
	fx.keys.reads = [][]registry.Entry{{entry("k1", arn, "v", registry.StatusRevoked)}}
	if _, err := fx.e.Record(t.Context(), []byte(body(t, revoked("rev-1", "k1")))); err == nil || !strings.Contains(err.Error(), "is not under "+prefix) {
		t.Errorf("a secret outside the prefix: %v", err)
	}
	if fx.state(t, arn).tag != "" {
		t.Error("the secret outside the prefix was tagged")
	}
	other := &events.RevocationEnforced{Meta: events.NewMeta(partnerA, events.Actor{Kind: events.ActorSystem, ID: "x"}, t0), RevocationID: "rev-x", Enforcer: "sts"}
	resp, err := fx.e.Handle(t.Context(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "not-json", Body: "{"}, {MessageId: "other", Body: body(t, other)}}})
	if err != nil || len(resp.BatchItemFailures) != 2 {
		t.Errorf("Handle: %+v, %v; want both records failed", resp, err)
	}
}
