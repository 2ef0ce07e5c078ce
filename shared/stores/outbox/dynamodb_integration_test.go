//go:build integration

package outbox_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/topology"
)

// The scenarios the fake answers (conformance_test.go), against DynamoDB Local: the check
// that the fake's semantics are DynamoDB's. The tables are created as the production
// declaration keys them; the scenarios keep apart by partner.
func TestScenariosOnDynamoDBLocal(t *testing.T) {
	t.Parallel()
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	decl := outboxDeclaration(t)
	b := backend{db: env.DynamoDB, outbox: harness.Name("lanyard-outbox"), state: harness.Name("lanyard-state"), local: true}
	var gsis []types.GlobalSecondaryIndex
	attrs := []types.AttributeDefinition{
		{AttributeName: aws.String(decl.PartitionKey.Name), AttributeType: types.ScalarAttributeType(decl.PartitionKey.Type)},
		{AttributeName: aws.String(decl.SortKey.Name), AttributeType: types.ScalarAttributeType(decl.SortKey.Type)},
	}
	for _, ix := range decl.Indexes {
		ks := []types.KeySchemaElement{{AttributeName: aws.String(ix.PartitionKey.Name), KeyType: types.KeyTypeHash}}
		attrs = addAttr(attrs, ix.PartitionKey.Name, ix.PartitionKey.Type)
		if ix.SortKey != nil {
			ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(ix.SortKey.Name), KeyType: types.KeyTypeRange})
			attrs = addAttr(attrs, ix.SortKey.Name, ix.SortKey.Type)
		}
		projection := types.ProjectionTypeAll
		if ix.KeysOnly {
			projection = types.ProjectionTypeKeysOnly
		}
		gsis = append(gsis, types.GlobalSecondaryIndex{IndexName: aws.String(ix.Name), KeySchema: ks, Projection: &types.Projection{ProjectionType: projection}})
	}
	createTable(t, env, b.outbox, attrs[:2], gsis, attrs[2:]...)
	createTable(t, env, b.state, []types.AttributeDefinition{
		{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
	}, nil)
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, b)
		})
	}
}

func addAttr(attrs []types.AttributeDefinition, name string, typ topology.AttrType) []types.AttributeDefinition {
	for _, a := range attrs {
		if aws.ToString(a.AttributeName) == name {
			return attrs
		}
	}
	return append(attrs, types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeType(typ)})
}

// createTable creates an on-demand table keyed by attrs (partition key, then sort key), with
// the indexes gsis (whose other key attributes are more), and deletes it when the test ends.
func createTable(t *testing.T, env *harness.Env, name string, attrs []types.AttributeDefinition, gsis []types.GlobalSecondaryIndex, more ...types.AttributeDefinition) {
	t.Helper()
	ctx := t.Context()
	schema := []types.KeySchemaElement{{AttributeName: attrs[0].AttributeName, KeyType: types.KeyTypeHash}}
	if len(attrs) > 1 {
		schema = append(schema, types.KeySchemaElement{AttributeName: attrs[1].AttributeName, KeyType: types.KeyTypeRange})
	}
	if _, err := env.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name), AttributeDefinitions: append(slices.Clone(attrs), more...), KeySchema: schema, BillingMode: types.BillingModePayPerRequest,
		GlobalSecondaryIndexes: gsis,
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
