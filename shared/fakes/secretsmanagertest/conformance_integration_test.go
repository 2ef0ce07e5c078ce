//go:build integration

package secretsmanagertest_test

import (
	"testing"

	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
)

// The scenarios the fake answers (conformance_test.go), against LocalStack: the check that the
// fake's semantics are Secrets Manager's. The rotation scenarios use the integration rotator
// (bin/local/rotator, built by `make build-local`) as the rotation function; the LocalStack
// executor plugin runs it, and its patch makes RotateImmediately=false work as on AWS.
func TestScenariosOnLocalStack(t *testing.T) {
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	steps := env.CreateTable(t, "lanyard-smtest-rotator-steps", dbtypes.ScalarAttributeTypeN)
	_, rotator := env.DeployFunction(t, "rotator", harness.FunctionOptions{Timeout: 30, Environment: map[string]string{"ROTATOR_TABLE": steps}})
	b := &backend{
		sm: env.SecretsManager, account: harness.Account, region: harness.Region,
		rotationLambdaARN: rotator, unique: harness.Name, localStack: true,
	}
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			c := secrettest.Plant(t)
			sc.run(t, b, c)
		})
	}
}
