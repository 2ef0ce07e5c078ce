//go:build integration

package stsdenies_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/stores/stsdenies"
)

// The scenarios the fake answers (store_test.go), against DynamoDB Local, each on a fresh
// table keyed as the production declaration says.
func TestScenariosOnDynamoDBLocal(t *testing.T) {
	t.Parallel()
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			name := harness.Name("lanyard-sts-denies")
			ctx := t.Context()
			if _, err := env.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{
				TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(stsdenies.PartitionKey), AttributeType: types.ScalarAttributeTypeS}},
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(stsdenies.PartitionKey), KeyType: types.KeyTypeHash}},
			}); err != nil {
				t.Fatalf("create table %s: %v", name, err)
			}
			t.Cleanup(func() {
				_, _ = env.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
			})
			if err := dynamodb.NewTableExistsWaiter(env.DynamoDB).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
				t.Fatalf("table %s never became active: %v", name, err)
			}
			sc.run(t, env.DynamoDB, name)
		})
	}
}
