//go:build integration

package revocations_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/integration/harness"
)

// The scenarios the fake answers (store_test.go), against DynamoDB Local, each on a fresh table
// keyed and indexed as the production declaration says: the check that the fake's index and
// scan semantics are DynamoDB's.
func TestScenariosOnDynamoDBLocal(t *testing.T) {
	t.Parallel()
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			table := harness.Name("lanyard-revocations")
			createTable(t, env, table)
			sc.run(t, env.DynamoDB, table)
		})
	}
}

// createTable creates the revocations table as declared (keys and indexes) and deletes it when
// the test ends.
func createTable(t *testing.T, env *harness.Env, name string) {
	t.Helper()
	ctx := t.Context()
	decl := declaration(t)
	attrs := map[string]types.ScalarAttributeType{decl.PartitionKey.Name: types.ScalarAttributeType(decl.PartitionKey.Type), decl.SortKey.Name: types.ScalarAttributeType(decl.SortKey.Type)}
	var gsis []types.GlobalSecondaryIndex
	for _, ix := range decl.Indexes {
		attrs[ix.PartitionKey.Name] = types.ScalarAttributeType(ix.PartitionKey.Type)
		attrs[ix.SortKey.Name] = types.ScalarAttributeType(ix.SortKey.Type)
		gsis = append(gsis, types.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(ix.PartitionKey.Name), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(ix.SortKey.Name), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	var defs []types.AttributeDefinition
	for n, ty := range attrs {
		defs = append(defs, types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: ty})
	}
	if _, err := env.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name), AttributeDefinitions: defs, BillingMode: types.BillingModePayPerRequest,
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(decl.PartitionKey.Name), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(decl.SortKey.Name), KeyType: types.KeyTypeRange},
		},
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
