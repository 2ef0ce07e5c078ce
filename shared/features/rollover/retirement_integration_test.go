//go:build integration

package rollover_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/features/rollover"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// The retirement against DynamoDB Local: its Scan filter and paging, its conditioned
// transactions and the flush markers, which the unit tests' fake models in Go
// (scanDB). Pages of one item make most pages empty after the filter, as DynamoDB pages are.
func TestRetirementOnDynamoDBLocal(t *testing.T) {
	t.Parallel()
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	tables := rollover.Tables{Partners: harness.Name("lanyard-partners"), Credentials: harness.Name("lanyard-credentials"), Outbox: harness.Name("lanyard-outbox")}
	s := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	createTable(t, env, tables.Partners, []types.AttributeDefinition{s(partners.PartitionKey)})
	createTable(t, env, tables.Credentials, []types.AttributeDefinition{s(registry.PartitionKey)})
	createTable(t, env, tables.Outbox, []types.AttributeDefinition{s(outbox.PartitionKey), {AttributeName: aws.String(outbox.SortKey), AttributeType: types.ScalarAttributeTypeN}})
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	db := env.DynamoDB
	ctx := t.Context()

	// Partner A: its previous key's grace ended. Partner B: its previous key is acknowledged,
	// retiring in an hour, and an older key retired with a flush still owed.
	newKey := func() credential.KeyID {
		k, err := credential.Generate(credential.EnvLocal, nil)
		if err != nil {
			t.Fatal(err)
		}
		return k.ID()
	}
	put := func(e registry.Entry) {
		k, err := credential.Generate(credential.EnvLocal, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.Verifier, e.Scopes, e.Tier = credential.NewVerifier(k), testScopes, testTier
		e.NotBefore, e.NotAfter, e.CreatedAt = now.Add(-grace), now.Add(90*24*time.Hour), now.Add(-grace)
		e.SecretARN, e.SecretVersionID = "arn:aws:secretsmanager:us-east-1:000000000000:secret:x", "v-"+string(e.KeyID)
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tables.Credentials), Item: itemtest.Must(e.Item())(t)}); err != nil {
			t.Fatal(err)
		}
	}
	putPartner := func(id string, current, previous credential.KeyID) {
		item := itemtest.Must(partners.Partner{
			PartnerID: id, PartnerName: "Acme", Tier: testTier, Scopes: testScopes, Status: partners.StatusActive, KeyID: string(current),
			SecretARN: "arn:aws:secretsmanager:us-east-1:000000000000:secret:x", IdentityMethod: partners.IdentityMethodInvite, CreatedAt: now,
		}.Item())(t)
		item[partners.AttrPreviousKeyID] = &types.AttributeValueMemberS{Value: string(previous)}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tables.Partners), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	a, b := partners.NewID(), partners.NewID()
	a0, a1, b0, b1, b2 := newKey(), newKey(), newKey(), newKey(), newKey()
	put(registry.Entry{KeyID: a0, PartnerID: a, Status: registry.StatusPrevious, GraceUntil: now.Add(-time.Minute)})
	put(registry.Entry{KeyID: a1, PartnerID: a, Status: registry.StatusActive})
	put(registry.Entry{KeyID: b0, PartnerID: b, Status: registry.StatusRetired, GraceUntil: now.Add(-time.Hour), RetiredAt: now.Add(-time.Hour), FlushPending: true})
	put(registry.Entry{KeyID: b1, PartnerID: b, Status: registry.StatusPrevious, GraceUntil: now.Add(grace), AcknowledgedAt: now, RetireAt: now.Add(time.Hour)})
	put(registry.Entry{KeyID: b2, PartnerID: b, Status: registry.StatusActive})
	putPartner(a, a1, a0)
	putPartner(b, b2, b1)

	gw := &gateway{}
	r := &rollover.Retirer{DB: db, Tables: tables, Gateway: gw, RestAPIID: restAPIID, Stage: stageName, Policy: pol, Now: func() time.Time { return now }, PageSize: 1}
	rep, err := r.Run(ctx)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if !reflect.DeepEqual(rep.Retired, []string{string(a0)}) || !rep.Flushed || rep.Scanned != 3 || gw.count() != 1 {
		t.Errorf("report %+v, %d flushes; want %s retired of 3 scanned, one flush", rep, gw.count(), a0)
	}
	store := &registry.Store{DB: db, Table: tables.Credentials}
	for id, want := range map[credential.KeyID]registry.Status{a0: registry.StatusRetired, a1: registry.StatusActive, b0: registry.StatusRetired, b1: registry.StatusPrevious, b2: registry.StatusActive} {
		e, err := store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status != want || e.FlushPending {
			t.Errorf("key %s: %s, flush pending %v; want %s, none", id, e.Status, e.FlushPending, want)
		}
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tables.Partners), Key: partners.Key(a), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out.Item[partners.AttrPreviousKeyID]; ok {
		t.Error("partner A's previousKeyId stays")
	}
	recs, err := (&outbox.Store{DB: db, Table: tables.Outbox}).Records(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].DetailType != events.TypeCredentialRetired {
		t.Errorf("partner A's outbox: %d records, want one Credential Retired", len(recs))
	}

	// Again: the key is retired, nothing is owed.
	rep, err = r.Run(ctx)
	if err != nil || len(rep.Retired) != 0 || rep.Flushed || rep.Scanned != 1 {
		t.Errorf("second run: %+v, %v; want only B's previous key scanned, nothing done", rep, err)
	}
	// An hour later B's previous key retires.
	r.Now = func() time.Time { return now.Add(time.Hour) }
	if rep, err = r.Run(ctx); err != nil || !slices.Equal(rep.Retired, []string{string(b1)}) {
		t.Errorf("an hour later: %+v, %v; want %s retired", rep, err, b1)
	}
}

// createTable creates an on-demand table keyed by attrs (partition key, then sort key) and
// deletes it when the test ends.
func createTable(t *testing.T, env *harness.Env, name string, attrs []types.AttributeDefinition) {
	t.Helper()
	ctx := t.Context()
	schema := []types.KeySchemaElement{{AttributeName: attrs[0].AttributeName, KeyType: types.KeyTypeHash}}
	if len(attrs) > 1 {
		schema = append(schema, types.KeySchemaElement{AttributeName: attrs[1].AttributeName, KeyType: types.KeyTypeRange})
	}
	if _, err := env.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name), AttributeDefinitions: attrs, KeySchema: schema, BillingMode: types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = env.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	if err := dynamodb.NewTableExistsWaiter(env.DynamoDB).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("table %s never became active: %v", name, err)
	}
}
