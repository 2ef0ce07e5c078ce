//go:build integration

package tracker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/features/tracker"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
	"github.com/lanyardhq/lanyard/topology"
)

// The tracker against DynamoDB Local, on tables created as declared: the open index it reads,
// the outbox chain and the conditioned transitions. One revocation completes from its report,
// one stalls past the budget and completes when its report comes, and a second check changes
// nothing.
func TestTrackerOnDynamoDBLocal(t *testing.T) {
	t.Parallel()
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	ctx := t.Context()
	revTable, outTable := harness.Name("lanyard-revocations"), harness.Name("lanyard-outbox")
	createDeclared(t, env, "revocations", revTable)
	createDeclared(t, env, "outbox", outTable)
	db := env.DynamoDB
	now := time.Now().UTC().Truncate(time.Millisecond)
	clock := now
	store := &revocations.Store{DB: db, Table: revTable}
	ob := &outbox.Store{DB: db, Table: outTable}
	tr := &tracker.Tracker{Store: store, Outbox: ob, Table: revTable, Enforcers: []string{events.EnforcerGateway}, Budget: time.Minute,
		Now: func() time.Time { return clock }}
	partner := harness.Name("p")
	commit := func(items ...types.TransactWriteItem) {
		t.Helper()
		if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
			t.Fatal(err)
		}
	}
	open := func(id string) {
		commit(itemtest.Must(revocations.Open(revTable, revocations.Revocation{ID: id, PartnerID: partner, KeyIDs: []string{"kabcdefghijklmnopqrst"},
			Reason: events.RevocationRequested, Actor: events.Actor{Kind: events.ActorPartner, ID: partner}, RevokedAt: now}))(t))
	}
	report := func(id string, d time.Duration) {
		commit(itemtest.Must(revocations.Reported(revTable, revocations.Report{RevocationID: id, Enforcer: events.EnforcerGateway, PartnerID: partner,
			EventID: "ev-" + id, EnforcedAt: now.Add(d), LatencyMS: d.Milliseconds()}))(t))
	}
	open("rev-fast")
	open("rev-slow")
	report("rev-fast", 36*time.Second)

	clock = now.Add(2 * time.Minute)
	rep, err := tr.Check(ctx)
	if err != nil || rep.Open != 2 || rep.Completed != 1 || rep.Stalled != 1 {
		t.Fatalf("first check %+v %v, want rev-fast completed and rev-slow stalled", rep, err)
	}
	if rep, err := tr.Check(ctx); err != nil || rep.Open != 1 || rep.Completed+rep.Stalled != 0 || rep.StillStalled != 1 {
		t.Fatalf("second check %+v %v, want nothing new", rep, err)
	}
	report("rev-slow", 150*time.Second)
	if out, err := tr.Settle(ctx, "rev-slow"); err != nil || out != tracker.OutcomeCompleted {
		t.Fatalf("settle rev-slow: %s %v", out, err)
	}
	if out, err := tr.Settle(ctx, "rev-slow"); err != nil || out != tracker.OutcomeDone {
		t.Fatalf("settle rev-slow again: %s %v", out, err)
	}
	recs, err := ob.Records(ctx, partner)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.DetailType)
	}
	want := []string{events.TypeRevocationCompleted, events.TypeRevocationStalled, events.TypeRevocationCompleted}
	if !slices.Equal(got, want) {
		t.Errorf("outbox %v, want %v", got, want)
	}
	if err := ob.VerifyPartner(ctx, partner); err != nil {
		t.Errorf("the partner's chain: %v", err)
	}
	for id, tte := range map[string]int64{"rev-fast": 36000, "rev-slow": 150000} {
		r, _, err := store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != revocations.StatusCompleted || r.TimeToEnforceMS != tte {
			t.Errorf("%s %+v, want completed in %d ms", id, r, tte)
		}
	}
}

// createDeclared creates table name as the production topology declares table decl (keys and
// indexes) and deletes it when the test ends.
func createDeclared(t *testing.T, env *harness.Env, decl, name string) {
	t.Helper()
	tb, ok := topology.Lanyard().Table(decl)
	if !ok {
		t.Fatalf("no table %s declared", decl)
	}
	attrs := map[string]types.ScalarAttributeType{}
	schema := func(pk topology.Attr, sk *topology.Attr) []types.KeySchemaElement {
		attrs[pk.Name] = types.ScalarAttributeType(pk.Type)
		out := []types.KeySchemaElement{{AttributeName: aws.String(pk.Name), KeyType: types.KeyTypeHash}}
		if sk != nil {
			attrs[sk.Name] = types.ScalarAttributeType(sk.Type)
			out = append(out, types.KeySchemaElement{AttributeName: aws.String(sk.Name), KeyType: types.KeyTypeRange})
		}
		return out
	}
	in := &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest, KeySchema: schema(tb.PartitionKey, tb.SortKey)}
	for _, ix := range tb.Indexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{IndexName: aws.String(ix.Name),
			KeySchema: schema(ix.PartitionKey, ix.SortKey), Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}})
	}
	for n, ty := range attrs {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: ty})
	}
	if _, err := env.DynamoDB.CreateTable(t.Context(), in); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = env.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	if err := dynamodb.NewTableExistsWaiter(env.DynamoDB).Wait(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("table %s never became active: %v", name, err)
	}
}
