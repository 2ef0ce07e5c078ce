package revocations_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
	"github.com/lanyardhq/lanyard/topology"
)

// The scenarios run against the in-memory fake here and against DynamoDB Local in the
// integration test (dynamodb_integration_test.go), each on a fresh table keyed and indexed as
// the production declaration says: what the fake answers, DynamoDB answers.

// dynamoAPI is every DynamoDB operation the scenarios use.
type dynamoAPI interface {
	revocations.ScanAPI
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

type scenario struct {
	name string
	run  func(t *testing.T, db dynamoAPI, table string)
}

// declaration is the production declaration of the revocations table.
func declaration(t testing.TB) topology.Table {
	t.Helper()
	tb, ok := topology.Lanyard().Table("revocations")
	if !ok {
		t.Fatal("the production topology declares no revocations table")
	}
	return tb
}

func TestDeclarationMatchesTheStore(t *testing.T) {
	t.Parallel()
	tb := declaration(t)
	if tb.PartitionKey.Name != revocations.PartitionKey || tb.SortKey == nil || tb.SortKey.Name != revocations.SortKey {
		t.Errorf("keys %+v %+v, want %s and %s", tb.PartitionKey, tb.SortKey, revocations.PartitionKey, revocations.SortKey)
	}
	want := map[string][2]string{
		revocations.OpenIndex:    {revocations.AttrOpen, revocations.AttrRevokedAt},
		revocations.PartnerIndex: {revocations.AttrPartnerID, revocations.AttrRevokedAt},
	}
	if len(tb.Indexes) != len(want) {
		t.Errorf("indexes %+v, want %v", tb.Indexes, want)
	}
	for _, ix := range tb.Indexes {
		w, ok := want[ix.Name]
		if !ok || ix.PartitionKey.Name != w[0] || ix.SortKey == nil || ix.SortKey.Name != w[1] {
			t.Errorf("index %+v, want %v", ix, w)
		}
	}
}

// newFake is a fake DynamoDB with the table as the production declaration has it.
func newFake(t *testing.T) (*dynamodbtest.DynamoDB, string) {
	t.Helper()
	decl := declaration(t)
	db := dynamodbtest.NewDynamoDB()
	key := func(a *topology.Attr) *dynamodbtest.KeyAttr {
		if a == nil {
			return nil
		}
		return &dynamodbtest.KeyAttr{Name: a.Name, Type: types.ScalarAttributeType(a.Type)}
	}
	db.CreateTable("revocations", *key(&decl.PartitionKey), key(decl.SortKey))
	for _, ix := range decl.Indexes {
		db.CreateIndex("revocations", ix.Name, *key(&ix.PartitionKey), key(ix.SortKey))
	}
	return db, "revocations"
}

func TestScenariosOnTheFake(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			db, table := newFake(t)
			sc.run(t, db, table)
		})
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func sample(id, partner string, revokedAt time.Time) revocations.Revocation {
	return revocations.Revocation{ID: id, PartnerID: partner, KeyIDs: []string{"kabcdefghijklmnopqrst"}, Reason: events.RevocationRequested,
		Actor: events.Actor{Kind: events.ActorPartner, ID: partner}, RevokedAt: revokedAt, Status: revocations.StatusPending}
}

func report(r revocations.Revocation, enforcer string, after time.Duration) revocations.Report {
	return revocations.Report{RevocationID: r.ID, Enforcer: enforcer, PartnerID: r.PartnerID, EventID: "ev-" + r.ID,
		EnforcedAt: r.RevokedAt.Add(after), LatencyMS: after.Milliseconds()}
}

func commit(t *testing.T, db dynamoAPI, items ...types.TransactWriteItem) error {
	t.Helper()
	_, err := db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: items})
	return err
}

func mustCommit(t *testing.T, db dynamoAPI, items ...types.TransactWriteItem) {
	t.Helper()
	if err := commit(t, db, items...); err != nil {
		t.Fatal(err)
	}
}

func wantConditionFailed(t *testing.T, what string, err error) {
	t.Helper()
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) || len(canceled.CancellationReasons) == 0 || aws.ToString(canceled.CancellationReasons[0].Code) != "ConditionalCheckFailed" {
		t.Errorf("%s: %v, want its condition to fail", what, err)
	}
}

func ids(rs []revocations.Revocation) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func scenarios() []scenario {
	return []scenario{
		{"open, then get", func(t *testing.T, db dynamoAPI, table string) {
			s := &revocations.Store{DB: db, Table: table}
			r := sample("rev-1", "p-1", t0)
			r.Status = revocations.StatusCompleted // Open makes it pending whatever it was given
			mustCommit(t, db, itemtest.Must(revocations.Open(table, r))(t))
			got, reports, err := s.Get(t.Context(), "rev-1")
			if err != nil {
				t.Fatal(err)
			}
			r.Status = revocations.StatusPending
			if !reflect.DeepEqual(got, r) || len(reports) != 0 {
				t.Errorf("got %+v %+v, want %+v and no report", got, reports, r)
			}
			wantConditionFailed(t, "a second Open", commit(t, db, itemtest.Must(revocations.Open(table, r))(t)))
			if _, _, err := s.Get(t.Context(), "rev-2"); !errors.Is(err, revocations.ErrNotFound) {
				t.Errorf("get of an unknown revocation: %v, want ErrNotFound", err)
			}
		}},
		{"reports, once each", func(t *testing.T, db dynamoAPI, table string) {
			s := &revocations.Store{DB: db, Table: table}
			r := sample("rev-1", "p-1", t0)
			mustCommit(t, db, itemtest.Must(revocations.Open(table, r))(t))
			sts, gw := report(r, events.EnforcerSTS, 2*time.Second), report(r, events.EnforcerGateway, 36*time.Second)
			mustCommit(t, db, itemtest.Must(revocations.Reported(table, sts))(t))
			mustCommit(t, db, itemtest.Must(revocations.Reported(table, gw))(t))
			wantConditionFailed(t, "a second report", commit(t, db, itemtest.Must(revocations.Reported(table, gw))(t)))
			for enforcer, want := range map[string]bool{events.EnforcerGateway: true, events.EnforcerSTS: true, events.EnforcerSecret: false} {
				if got, err := s.HasReport(t.Context(), "rev-1", enforcer); err != nil || got != want {
					t.Errorf("HasReport(%s) = %v, %v; want %v", enforcer, got, err, want)
				}
			}
			if got, err := s.HasReport(t.Context(), "rev-2", events.EnforcerGateway); err != nil || got {
				t.Errorf("HasReport of an unknown revocation = %v, %v", got, err)
			}
			_, reports, err := s.Get(t.Context(), "rev-1")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(reports, []revocations.Report{gw, sts}) {
				t.Errorf("reports %+v, want gateway then sts", reports)
			}
		}},
		{"stall once, complete from the status read", func(t *testing.T, db dynamoAPI, table string) {
			s := &revocations.Store{DB: db, Table: table}
			r := sample("rev-1", "p-1", t0)
			mustCommit(t, db, itemtest.Must(revocations.Open(table, r))(t))
			mustCommit(t, db, revocations.Stall(table, r.ID, t0.Add(time.Minute)))
			wantConditionFailed(t, "a second Stall", commit(t, db, revocations.Stall(table, r.ID, t0.Add(2*time.Minute))))
			wantConditionFailed(t, "Complete from pending once stalled", commit(t, db, revocations.Complete(table, r.ID, revocations.StatusPending, t0.Add(3*time.Minute), 1)))
			open, err := s.OpenBefore(t.Context(), t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if len(open) != 1 || open[0].Status != revocations.StatusStalled || !open[0].StalledAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("open %+v, want the stalled revocation", open)
			}
			mustCommit(t, db, revocations.Complete(table, r.ID, revocations.StatusStalled, t0.Add(3*time.Minute), 180000))
			wantConditionFailed(t, "a second Complete", commit(t, db, revocations.Complete(table, r.ID, revocations.StatusStalled, t0.Add(4*time.Minute), 1)))
			wantConditionFailed(t, "Stall once completed", commit(t, db, revocations.Stall(table, r.ID, t0.Add(5*time.Minute))))
			got, _, err := s.Get(t.Context(), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != revocations.StatusCompleted || !got.CompletedAt.Equal(t0.Add(3*time.Minute)) || got.TimeToEnforceMS != 180000 || !got.StalledAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("completed %+v", got)
			}
			if open, err := s.OpenBefore(t.Context(), t0.Add(time.Hour)); err != nil || len(open) != 0 {
				t.Errorf("open after completion: %+v %v, want none", open, err)
			}
		}},
		{"open before a time, oldest first; by partner, newest first; list", func(t *testing.T, db dynamoAPI, table string) {
			s := &revocations.Store{DB: db, Table: table}
			a, b, c, d := sample("rev-a", "p-1", t0), sample("rev-b", "p-2", t0.Add(time.Minute)), sample("rev-c", "p-1", t0.Add(2*time.Minute)), sample("rev-d", "p-1", t0.Add(3*time.Minute))
			for _, r := range []revocations.Revocation{c, a, d, b} {
				mustCommit(t, db, itemtest.Must(revocations.Open(table, r))(t))
				mustCommit(t, db, itemtest.Must(revocations.Reported(table, report(r, events.EnforcerGateway, time.Second)))(t))
			}
			mustCommit(t, db, revocations.Complete(table, "rev-a", revocations.StatusPending, t0.Add(time.Second), 1000))
			open, err := s.OpenBefore(t.Context(), t0.Add(3*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(open); !reflect.DeepEqual(got, []string{"rev-b", "rev-c"}) {
				t.Errorf("open before: %v, want rev-b, rev-c (rev-a completed, rev-d not before)", got)
			}
			every, err := s.OpenRevocations(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(every); !reflect.DeepEqual(got, []string{"rev-b", "rev-c", "rev-d"}) {
				t.Errorf("open: %v, want rev-b, rev-c, rev-d", got)
			}
			mine, err := s.ByPartner(t.Context(), "p-1")
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(mine); !reflect.DeepEqual(got, []string{"rev-d", "rev-c", "rev-a"}) {
				t.Errorf("by partner: %v, want rev-d, rev-c, rev-a (no report items)", got)
			}
			none, err := s.ByPartner(t.Context(), "p-3")
			if err != nil || len(none) != 0 {
				t.Errorf("by partner of a partner without revocations: %+v %v", none, err)
			}
			all, err := revocations.List(t.Context(), db, table)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(all); !reflect.DeepEqual(got, []string{"rev-d", "rev-c", "rev-b", "rev-a"}) {
				t.Errorf("list: %v, want every revocation newest first", got)
			}
		}},
	}
}

func TestReadersRefuseMalformedItems(t *testing.T) {
	t.Parallel()
	good := itemtest.Must(sample("rev-1", "p-1", t0).Item())(t)
	goodReport := itemtest.Must(report(sample("rev-1", "p-1", t0), events.EnforcerGateway, time.Second).Item())(t)
	with := func(item map[string]types.AttributeValue, name string, v types.AttributeValue) map[string]types.AttributeValue {
		out := map[string]types.AttributeValue{}
		for k, x := range item {
			out[k] = x
		}
		if v == nil {
			delete(out, name)
		} else {
			out[name] = v
		}
		return out
	}
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	for _, c := range []struct {
		name   string
		item   map[string]types.AttributeValue
		report bool
		want   string
	}{
		{"unknown status", with(good, revocations.AttrStatus, s("done")), false, `status "done"`},
		{"completed yet open", with(good, revocations.AttrStatus, s("completed")), false, "does not agree"},
		{"pending yet not open", with(good, revocations.AttrOpen, nil), false, "does not agree"},
		{"no key ids", with(good, revocations.AttrKeyIDs, nil), false, "keyIds missing"},
		{"actor not a map", with(good, revocations.AttrActor, s("ops")), false, "actor missing or not a map"},
		{"bad time", with(good, revocations.AttrRevokedAt, s("yesterday")), false, "revokedAt"},
		{"a report as a revocation", goodReport, false, "entry"},
		{"report of another enforcer's entry", with(goodReport, revocations.AttrEntry, s("enforcer#sts")), true, "does not name enforcer"},
		{"report without latency", with(goodReport, revocations.AttrLatencyMS, nil), true, "latencyMs"},
	} {
		var err error
		if c.report {
			_, err = revocations.ReportFromItem(c.item)
		} else {
			_, err = revocations.RevocationFromItem(c.item)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestWritersRefuseIncompleteValues(t *testing.T) {
	t.Parallel()
	noKeys := sample("rev-1", "p-1", t0)
	noKeys.KeyIDs = nil
	noActor := sample("rev-1", "p-1", t0)
	noActor.Actor = events.Actor{}
	for name, r := range map[string]revocations.Revocation{"no keys": noKeys, "no actor": noActor, "no id": sample("", "p-1", t0)} {
		if _, err := revocations.Open("revocations", r); err == nil {
			t.Errorf("%s: Open accepted it", name)
		}
	}
	bad := report(sample("rev-1", "p-1", t0), "gate#way", time.Second)
	if _, err := revocations.Reported("revocations", bad); err == nil {
		t.Error("a report of an enforcer named with # was accepted")
	}
}
