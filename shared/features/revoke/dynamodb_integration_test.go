//go:build integration

package revoke_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/features/revoke"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// The ops revocation of every key against DynamoDB Local, which the unit tests' fake cannot
// answer: the registry's by-partner index (registry.PartnerKeyIDs, Query on a GSI) finds a
// live key the partner's item does not name, the batch read and the partner item's condition
// (partners.StillKeys) hold in a real transaction, and a retired key is reported ended.
func TestAdminRevokeEveryKeyOnDynamoDBLocal(t *testing.T) {
	t.Parallel()
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	ctx := t.Context()
	db := env.DynamoDB
	tbl := revoke.AdminTables{Tables: revoke.Tables{Credentials: harness.Name("lanyard-credentials"), Outbox: harness.Name("lanyard-outbox")},
		Partners: harness.Name("lanyard-partners")}
	s := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	createTable(t, db, &dynamodb.CreateTableInput{TableName: aws.String(tbl.Partners), AttributeDefinitions: []types.AttributeDefinition{s(partners.PartitionKey)},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(partners.PartitionKey), KeyType: types.KeyTypeHash}}})
	createTable(t, db, &dynamodb.CreateTableInput{TableName: aws.String(tbl.Credentials),
		AttributeDefinitions: []types.AttributeDefinition{s(registry.PartitionKey), s(registry.AttrPartnerID)},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(registry.PartitionKey), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String(registry.PartnerIndex),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String(registry.AttrPartnerID), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}}})
	createTable(t, db, &dynamodb.CreateTableInput{TableName: aws.String(tbl.Outbox),
		AttributeDefinitions: []types.AttributeDefinition{s(outbox.PartitionKey), {AttributeName: aws.String(outbox.SortKey), AttributeType: types.ScalarAttributeTypeN}},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(outbox.PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(outbox.SortKey), KeyType: types.KeyTypeRange}}})

	now := time.Now().UTC().Truncate(time.Millisecond)
	put := func(pid string, status registry.Status) credential.KeyID {
		t.Helper()
		k, err := credential.Generate(credential.EnvLocal, nil)
		if err != nil {
			t.Fatal(err)
		}
		e := registry.Entry{KeyID: k.ID(), PartnerID: pid, Verifier: credential.NewVerifier(k), Scopes: []string{"orders:read"}, Tier: "standard",
			Status: status, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour), CreatedAt: now.Add(-time.Hour),
			SecretARN: "arn:aws:secretsmanager:us-east-1:000000000000:secret:x", SecretVersionID: "v-" + string(k.ID())}
		switch status {
		case registry.StatusPrevious:
			e.GraceUntil = now.Add(24 * time.Hour)
		case registry.StatusRetired:
			e.RetiredAt = now.Add(-time.Minute)
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl.Credentials), Item: itemtest.Must(e.Item())(t)}); err != nil {
			t.Fatal(err)
		}
		return k.ID()
	}
	pid, other := partners.NewID(), partners.NewID()
	current := put(pid, registry.StatusActive)
	previous := put(pid, registry.StatusPrevious) // not named by the partner's item
	pending := put(pid, registry.StatusPending)
	retired := put(pid, registry.StatusRetired)
	bystander := put(other, registry.StatusActive)
	item := itemtest.Must(partners.Partner{PartnerID: pid, PartnerName: "Acme", Tier: "standard", Scopes: []string{"orders:read"},
		Status: partners.StatusActive, KeyID: string(current), SecretARN: "arn:aws:secretsmanager:us-east-1:000000000000:secret:x",
		IdentityMethod: partners.IdentityMethodInvite, CreatedAt: now}.Item())(t)
	item[partners.AttrPendingKeyID] = &types.AttributeValueMemberS{Value: string(pending)}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl.Partners), Item: item}); err != nil {
		t.Fatal(err)
	}

	// The index lists every key of the partner, whatever its status, and no other's.
	all := []credential.KeyID{current, previous, pending, retired}
	slices.Sort(all)
	harness.Eventually(t, 10*time.Second, func() (bool, string) {
		got, err := registry.PartnerKeyIDs(ctx, db, tbl.Credentials, pid)
		if err != nil {
			return false, err.Error()
		}
		slices.Sort(got)
		return reflect.DeepEqual(got, all), fmt.Sprintf("the index lists %v, want %v", got, all)
	})

	h := &revoke.AdminHandler{DB: db, Tables: tbl, Now: time.Now}
	resp, err := h.Handle(ctx, adminRequest(pid, `{"all":true,"reason":"offboarded"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("answer %d %s %v", resp.StatusCode, resp.Body, err)
	}
	live := []string{string(current), string(previous), string(pending)}
	slices.Sort(live)
	matchesSchema(t, "AdminRevocation", resp.Body)
	var out revoke.AdminRevocation
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.KeyIDs, live) || !reflect.DeepEqual(out.AlreadyEnded, []string{string(retired)}) {
		t.Errorf("answer %+v, want %v revoked and %s ended", out, live, retired)
	}
	reg := &registry.Store{DB: db, Table: tbl.Credentials}
	for _, id := range []credential.KeyID{current, previous, pending, retired, bystander} {
		e, err := reg.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want := registry.StatusRevoked
		switch id {
		case retired:
			want = registry.StatusRetired
		case bystander:
			want = registry.StatusActive
		}
		if e.Status != want {
			t.Errorf("key %s is %s, want %s", id, e.Status, want)
		}
	}
	if err := (&outbox.Store{DB: db, Table: tbl.Outbox}).VerifyPartner(ctx, pid); err != nil {
		t.Errorf("the audit chain: %v", err)
	}
}

func createTable(t *testing.T, db *dynamodb.Client, in *dynamodb.CreateTableInput) {
	t.Helper()
	in.BillingMode = types.BillingModePayPerRequest
	if _, err := db.CreateTable(t.Context(), in); err != nil {
		t.Fatalf("create table %s: %v", aws.ToString(in.TableName), err)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: in.TableName})
	})
	if err := dynamodb.NewTableExistsWaiter(db).Wait(t.Context(), &dynamodb.DescribeTableInput{TableName: in.TableName}, 30*time.Second); err != nil {
		t.Fatalf("table %s never became active: %v", aws.ToString(in.TableName), err)
	}
}
