//go:build integration

package integration

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// The tests here plant canary secrets (secrettest.Plant swaps the process-wide logger and
// tracer), so none of them runs in parallel. Failure messages name versions, never values.

const (
	stageCurrent  = "AWSCURRENT"
	stagePending  = "AWSPENDING"
	stagePrevious = "AWSPREVIOUS"
)

// rotationStep is one step the rotator recorded (integration/functions/rotator).
type rotationStep struct {
	Step, SecretID, Token, Outcome, Note string
}

func (s rotationStep) String() string {
	return s.Step + "(" + s.Outcome + ", token " + s.Token + ", " + s.Note + ")"
}

func TestSecretsStagingLabelsMoveBetweenVersions(t *testing.T) {
	c := secrettest.Plant(t)
	ctx := context.Background()
	oldValue, newValue := c.New("old"), c.New("new")
	name, _, oldVersion := createSecret(t, c, oldValue)

	// A new version staged AWSPENDING only: AWSCURRENT stays where it was.
	token := uuid.NewString()
	put, err := env.SecretsManager.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(name),
		ClientRequestToken: aws.String(token),
		SecretString:       aws.String(newValue.Reveal()),
		VersionStages:      []string{stagePending},
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("put AWSPENDING version: %v", err)
	}
	if aws.ToString(put.VersionId) != token || !slices.Equal(put.VersionStages, []string{stagePending}) {
		t.Fatalf("PutSecretValue answered version %s stages %v, want %s [AWSPENDING]", aws.ToString(put.VersionId), put.VersionStages, token)
	}
	expectValue(t, c, name, stagePending, token, newValue)
	expectValue(t, c, name, stageCurrent, oldVersion, oldValue)

	// Moving AWSCURRENT to the new version makes the old one AWSPREVIOUS.
	_, err = env.SecretsManager.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(name),
		VersionStage:        aws.String(stageCurrent),
		MoveToVersionId:     aws.String(token),
		RemoveFromVersionId: aws.String(oldVersion),
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("move AWSCURRENT: %v", err)
	}
	stages := versionStages(t, c, name)
	if !slices.Contains(stages[token], stageCurrent) {
		t.Errorf("new version %s has stages %v, want AWSCURRENT among them (all: %v)", token, stages[token], stages)
	}
	if !slices.Equal(stages[oldVersion], []string{stagePrevious}) {
		t.Errorf("old version %s has stages %v, want [AWSPREVIOUS] (all: %v)", oldVersion, stages[oldVersion], stages)
	}
	// ListSecretVersionIds tells the same.
	list, err := env.SecretsManager.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(name)})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("list secret versions: %v", err)
	}
	listed := map[string][]string{}
	for _, v := range list.Versions {
		listed[aws.ToString(v.VersionId)] = v.VersionStages
	}
	if !slices.Contains(listed[token], stageCurrent) || !slices.Equal(listed[oldVersion], []string{stagePrevious}) {
		t.Errorf("ListSecretVersionIds shows %v; want %s AWSCURRENT and %s [AWSPREVIOUS]", listed, token, oldVersion)
	}
	expectValue(t, c, name, stageCurrent, token, newValue)
	expectValue(t, c, name, stagePrevious, oldVersion, oldValue)
}

func TestSecretsRotateSecretRunsTheRotationFunction(t *testing.T) {
	c := secrettest.Plant(t)
	ctx := context.Background()
	table, fn, fnARN := deployRotator(t, nil)
	initial := c.New("initial")
	name, arn, oldVersion := createSecret(t, c, initial)

	rot, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(name),
		RotationLambdaARN: aws.String(fnARN),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
		RotateImmediately: aws.Bool(true),
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("rotate secret: %v", err)
	}
	token := aws.ToString(rot.VersionId)
	if token == "" {
		t.Fatal("RotateSecret answered no VersionId")
	}

	// LocalStack runs the four steps inside the RotateSecret call; AWS runs them after it has
	// answered, so wait for them either way.
	steps := waitForSteps(t, c, table, 4)
	if got := stepNames(steps); !slices.Equal(got, []string{"createSecret", "setSecret", "testSecret", "finishSecret"}) {
		t.Fatalf("steps ran %v, want createSecret, setSecret, testSecret, finishSecret", steps)
	}
	for _, s := range steps {
		if s.Token != token || s.Outcome != "ok" {
			t.Errorf("step %v: want token %s and outcome ok", s, token)
		}
		// LocalStack sends the secret's name here, AWS its ARN; both identify the secret.
		if s.SecretID != name && s.SecretID != arn {
			t.Errorf("step %s got SecretId %q, want the secret's name or ARN", s.Step, s.SecretID)
		}
	}
	if steps[0].Note != "pending value created" {
		t.Errorf("createSecret: %q, want a new pending value created", steps[0].Note)
	}

	stages := versionStages(t, c, name)
	t.Logf("versions after rotation: %v", stages)
	if !slices.Contains(stages[token], stageCurrent) {
		t.Errorf("rotated version %s has stages %v, want AWSCURRENT (all: %v)", token, stages[token], stages)
	}
	if !slices.Equal(stages[oldVersion], []string{stagePrevious}) {
		t.Errorf("initial version %s has stages %v, want [AWSPREVIOUS] (all: %v)", oldVersion, stages[oldVersion], stages)
	}
	rotated := currentValue(t, c, name, token)
	c.Add("rotated", rotated.Reveal())
	if rotated.Reveal() == initial.Reveal() {
		t.Error("the rotated AWSCURRENT value is the initial value")
	}
	expectValue(t, c, name, stagePrevious, oldVersion, initial)

	desc := describeSecret(t, c, name)
	if !aws.ToBool(desc.RotationEnabled) || aws.ToString(desc.RotationLambdaARN) != fnARN || desc.LastRotatedDate == nil {
		t.Errorf("after rotation: RotationEnabled %v, RotationLambdaARN %q, LastRotatedDate %v; want true, %q, set",
			aws.ToBool(desc.RotationEnabled), aws.ToString(desc.RotationLambdaARN), desc.LastRotatedDate, fnARN)
	}

	checkFunctionLogs(t, c, fn, token, "createSecret", "setSecret", "testSecret", "finishSecret")
}

func TestSecretsFailedRotationStepIsSwallowedByLocalStack(t *testing.T) {
	c := secrettest.Plant(t)
	ctx := context.Background()
	table, fn, fnARN := deployRotator(t, map[string]string{"ROTATOR_FAIL_STEP": "setSecret"})
	initial := c.New("initial")
	name, _, oldVersion := createSecret(t, c, initial)

	// LocalStack: the steps run inside the call, the failing setSecret stops them, and the
	// failure is swallowed: RotateSecret answers 200 with the new version id, which is left
	// staged AWSPENDING. AWS instead answers RotateSecret before running any step, leaves the
	// same AWSPENDING version behind when a step fails, and retries the rotation itself; a
	// RotateSecret made meanwhile is refused with InvalidRequestException (a previous rotation
	// is still in progress).
	rot, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(name),
		RotationLambdaARN: aws.String(fnARN),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
		RotateImmediately: aws.Bool(true),
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("LocalStack swallows a failed step, but RotateSecret answered: %v", err)
	}
	token := aws.ToString(rot.VersionId)
	if token == "" {
		t.Fatal("RotateSecret answered no VersionId")
	}
	steps := waitForSteps(t, c, table, 2)
	want := []rotationStep{
		{Step: "createSecret", SecretID: name, Token: token, Outcome: "ok", Note: "pending value created"},
		{Step: "setSecret", SecretID: name, Token: token, Outcome: "failed"},
	}
	// LocalStack's immediate rotation sends the secret's name as SecretId; AWS sends the ARN.
	if !slices.Equal(steps, want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}
	desc := describeSecret(t, c, name)
	if stages := desc.VersionIdsToStages; !slices.Equal(stages[token], []string{stagePending}) || !slices.Equal(stages[oldVersion], []string{stageCurrent}) {
		t.Fatalf("after the failed step: stages %v; want %s [AWSPENDING] and %s [AWSCURRENT]", stages, token, oldVersion)
	}
	// LocalStack also records the failed rotation as done; AWS sets LastRotatedDate only when a
	// rotation completes.
	if desc.LastRotatedDate == nil {
		t.Error("LocalStack left LastRotatedDate unset after the swallowed failure")
	}
	expectValue(t, c, name, stageCurrent, oldVersion, initial)

	// Switch the failure off.
	setFunctionEnvironment(t, fn, func(vars map[string]string) { delete(vars, "ROTATOR_FAIL_STEP") })

	// LocalStack: the next RotateSecret (with a new ClientRequestToken) re-runs all four
	// steps on the pending version and completes; it would raise InvalidRequestException only
	// if they failed again. (On AWS this call is refused while the rotation is unfinished.)
	again, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:           aws.String(name),
		ClientRequestToken: aws.String(uuid.NewString()),
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("second RotateSecret: %v", err)
	}
	if got := aws.ToString(again.VersionId); got != token {
		t.Errorf("second RotateSecret answered version %s, want the pending %s", got, token)
	}
	steps = waitForSteps(t, c, table, 6)
	want = append(want,
		rotationStep{Step: "createSecret", SecretID: name, Token: token, Outcome: "ok", Note: "pending value exists"},
		rotationStep{Step: "setSecret", SecretID: name, Token: token, Outcome: "ok", Note: "nothing to set"},
		rotationStep{Step: "testSecret", SecretID: name, Token: token, Outcome: "ok", Note: "pending value readable"},
		rotationStep{Step: "finishSecret", SecretID: name, Token: token, Outcome: "ok", Note: "AWSCURRENT moved from " + oldVersion},
	)
	if !slices.Equal(steps, want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}
	stages := versionStages(t, c, name)
	if !slices.Contains(stages[token], stageCurrent) || !slices.Equal(stages[oldVersion], []string{stagePrevious}) {
		t.Errorf("after the retry: stages %v; want %s AWSCURRENT and %s [AWSPREVIOUS]", stages, token, oldVersion)
	}
	rotated := currentValue(t, c, name, token)
	c.Add("rotated", rotated.Reveal())

	checkFunctionLogs(t, c, fn, token, "setSecret", "finishSecret")
}

func TestSecretsRotateSecretNotImmediatelyRunsOnlyTestSecret(t *testing.T) {
	c := secrettest.Plant(t)
	ctx := context.Background()
	table, fn, fnARN := deployRotator(t, nil)
	initial := c.New("initial")
	name, arn, version := createSecret(t, c, initial)

	// LocalStack 4.7.0 alone fails this call (InternalError); the executor plugin's patch makes
	// it behave as AWS: store the configuration, then run testSecret on a temporary AWSPENDING
	// copy of the current value, created under the ClientRequestToken and removed afterwards.
	token := uuid.NewString()
	before := time.Now()
	_, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:           aws.String(name),
		ClientRequestToken: aws.String(token),
		RotationLambdaARN:  aws.String(fnARN),
		RotationRules:      &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
		RotateImmediately:  aws.Bool(false),
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("rotate secret without immediate rotation: %v", err)
	}

	// AWS runs testSecret after answering, so wait for it before looking at the versions. The
	// patch sends the ARN as SecretId, as AWS does.
	steps := waitForSteps(t, c, table, 1)
	want := []rotationStep{{Step: "testSecret", SecretID: arn, Token: token, Outcome: "ok", Note: "pending value readable"}}
	if !slices.Equal(steps, want) {
		t.Errorf("steps %v, want %v", steps, want)
	}

	desc := describeSecret(t, c, name)
	if !aws.ToBool(desc.RotationEnabled) {
		t.Error("RotationEnabled is not set")
	}
	if aws.ToString(desc.RotationLambdaARN) != fnARN {
		t.Errorf("RotationLambdaARN = %q, want %q", aws.ToString(desc.RotationLambdaARN), fnARN)
	}
	if desc.RotationRules == nil || aws.ToInt64(desc.RotationRules.AutomaticallyAfterDays) != 30 {
		t.Errorf("RotationRules = %+v, want AutomaticallyAfterDays 30", desc.RotationRules)
	}
	if desc.NextRotationDate == nil {
		t.Error("no NextRotationDate")
	} else if ahead := desc.NextRotationDate.Sub(before); ahead < 29*24*time.Hour || ahead > 31*24*time.Hour {
		t.Errorf("NextRotationDate %s is %s ahead, want about 30 days", desc.NextRotationDate, ahead)
	}
	if desc.LastRotatedDate != nil {
		t.Errorf("LastRotatedDate = %s, want none: nothing was rotated", desc.LastRotatedDate)
	}
	stages := desc.VersionIdsToStages
	if len(stages) != 1 || !slices.Equal(stages[version], []string{stageCurrent}) {
		t.Errorf("versions %v, want only %s [AWSCURRENT] (no AWSPENDING left)", stages, version)
	}
	expectValue(t, c, name, stageCurrent, version, initial)
	_, err = env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(name), VersionStage: aws.String(stagePending),
	})
	c.CheckError(err)
	if !isNotFound(err) {
		t.Errorf("GetSecretValue AWSPENDING: %v, want ResourceNotFoundException", err)
	}

	// testSecret read the AWSPENDING copy, i.e. the canary: it must not show in the logs.
	checkFunctionLogs(t, c, fn, token, "testSecret")
}

// createSecret creates a secret holding value, deleted when the test ends, and returns its
// name, ARN and first version id.
func createSecret(t *testing.T, c *secrettest.Canaries, value secret.Value) (name, arn, version string) {
	t.Helper()
	name = harness.Name("lanyard-it-secret")
	out, err := env.SecretsManager.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name:         aws.String(name),
		SecretString: aws.String(value.Reveal()),
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}
	t.Cleanup(func() {
		_, _ = env.SecretsManager.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{
			SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true),
		})
	})
	if aws.ToString(out.VersionId) == "" {
		t.Fatal("CreateSecret answered no VersionId")
	}
	return name, aws.ToString(out.ARN), aws.ToString(out.VersionId)
}

func describeSecret(t *testing.T, c *secrettest.Canaries, id string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	out, err := env.SecretsManager.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("describe secret: %v", err)
	}
	return out
}

func versionStages(t *testing.T, c *secrettest.Canaries, id string) map[string][]string {
	t.Helper()
	return describeSecret(t, c, id).VersionIdsToStages
}

// expectValue checks that stage of the secret is version and holds want, without printing it.
func expectValue(t *testing.T, c *secrettest.Canaries, id, stage, version string, want secret.Value) {
	t.Helper()
	out, err := env.SecretsManager.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(id), VersionStage: aws.String(stage),
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("get %s: %v", stage, err)
	}
	if got := aws.ToString(out.VersionId); got != version {
		t.Errorf("%s is version %s, want %s", stage, got, version)
	}
	if aws.ToString(out.SecretString) != want.Reveal() {
		t.Errorf("%s (version %s) does not hold the expected value", stage, aws.ToString(out.VersionId))
	}
}

// currentValue returns the AWSCURRENT value after checking it is version.
func currentValue(t *testing.T, c *secrettest.Canaries, id, version string) secret.Value {
	t.Helper()
	out, err := env.SecretsManager.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("get AWSCURRENT: %v", err)
	}
	if got := aws.ToString(out.VersionId); got != version {
		t.Errorf("AWSCURRENT is version %s, want %s", got, version)
	}
	if aws.ToString(out.SecretString) == "" {
		t.Errorf("AWSCURRENT (version %s) is empty", version)
	}
	return secret.New(aws.ToString(out.SecretString))
}

func isNotFound(err error) bool {
	var nf *smtypes.ResourceNotFoundException
	return errors.As(err, &nf)
}

// deployRotator deploys the test rotation function with its own steps table (sk a number: the
// step's order) and any extra environment; both are removed when the test ends.
func deployRotator(t *testing.T, extra map[string]string) (table, fn, fnARN string) {
	t.Helper()
	table = env.CreateTable(t, "lanyard-it-rotator-steps", dbtypes.ScalarAttributeTypeN)
	vars := map[string]string{"ROTATOR_TABLE": table}
	maps.Copy(vars, extra)
	fn, fnARN = env.DeployFunction(t, "rotator", harness.FunctionOptions{Timeout: 30, Environment: vars})
	return table, fn, fnARN
}

// readSteps returns the steps the rotator recorded, in the order they ran.
func readSteps(ctx context.Context, table string) ([]rotationStep, error) {
	var steps []rotationStep
	p := dynamodb.NewQueryPaginator(env.DynamoDB, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":p": &dbtypes.AttributeValueMemberS{Value: "step"}},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, item := range page.Items {
			str := func(k string) string {
				if v, ok := item[k].(*dbtypes.AttributeValueMemberS); ok {
					return v.Value
				}
				return ""
			}
			steps = append(steps, rotationStep{Step: str("step"), SecretID: str("secretId"), Token: str("token"), Outcome: str("outcome"), Note: str("note")})
		}
	}
	return steps, nil
}

// waitForSteps waits until the rotator has recorded at least n steps and returns them all,
// after handing them to the canary check.
func waitForSteps(t *testing.T, c *secrettest.Canaries, table string, n int) []rotationStep {
	t.Helper()
	var steps []rotationStep
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		var err error
		steps, err = readSteps(context.Background(), table)
		if err != nil {
			return false, "query steps: " + err.Error()
		}
		return len(steps) >= n, "steps recorded so far: " + strconv.Itoa(len(steps))
	})
	for i, s := range steps {
		c.CheckText("steps table item "+strconv.Itoa(i+1), s.SecretID+" "+s.String())
	}
	return steps
}

func stepNames(steps []rotationStep) []string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.Step
	}
	return names
}

// setFunctionEnvironment edits the function's environment variables and waits until the
// update is done, so the next invocation runs with them.
func setFunctionEnvironment(t *testing.T, fn string, edit func(map[string]string)) {
	t.Helper()
	ctx := context.Background()
	cfg, err := env.Lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(fn)})
	if err != nil {
		t.Fatalf("get function configuration: %v", err)
	}
	vars := map[string]string{}
	if cfg.Environment != nil {
		for k, v := range cfg.Environment.Variables {
			vars[k] = v
		}
	}
	edit(vars)
	if _, err := env.Lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(fn),
		Environment:  &lambdatypes.Environment{Variables: vars},
	}); err != nil {
		t.Fatalf("update function configuration: %v", err)
	}
	if err := lambda.NewFunctionUpdatedV2Waiter(env.Lambda).Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(fn)}, 60*time.Second); err != nil {
		t.Fatalf("function %s update never finished: %v", fn, err)
	}
}

// checkFunctionLogs waits until the function's CloudWatch Logs hold its log line for each of
// steps on token, then hands every event to the canary check.
func checkFunctionLogs(t *testing.T, c *secrettest.Canaries, fn, token string, steps ...string) {
	t.Helper()
	group := "/aws/lambda/" + fn
	var events []string
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		events = events[:0]
		p := cloudwatchlogs.NewFilterLogEventsPaginator(env.Logs, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)})
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				return false, "filter log events: " + err.Error()
			}
			for _, ev := range page.Events {
				events = append(events, aws.ToString(ev.Message))
			}
		}
		for _, step := range steps {
			if !slices.ContainsFunc(events, func(m string) bool { return strings.Contains(m, step) && strings.Contains(m, token) }) {
				return false, "no log line yet for " + step + " in " + group
			}
		}
		return true, ""
	})
	for i, m := range events {
		c.CheckText(group+" event "+strconv.Itoa(i), m)
	}
}
