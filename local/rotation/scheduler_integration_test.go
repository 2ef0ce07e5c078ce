//go:build integration

package rotation_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/rotation"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
)

// recording passes the Scheduler's calls to LocalStack and keeps what the test checks: when each
// RotateSecret started and how it ended, and the LastRotatedDate of each description.
type recording struct {
	rotation.SecretsAPI

	mu          sync.Mutex
	rotations   []recordedRotation
	lastRotated map[string][]time.Time // by SecretId
}

type recordedRotation struct {
	secretID string
	start    time.Time
	version  string
	err      error
}

func (r *recording) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	out, err := r.SecretsAPI.DescribeSecret(ctx, in, opts...)
	if err == nil && out.LastRotatedDate != nil {
		r.mu.Lock()
		id := aws.ToString(in.SecretId)
		if seen := r.lastRotated[id]; len(seen) == 0 || !seen[len(seen)-1].Equal(*out.LastRotatedDate) {
			r.lastRotated[id] = append(seen, *out.LastRotatedDate)
		}
		r.mu.Unlock()
	}
	return out, err
}

func (r *recording) RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	start := time.Now()
	out, err := r.SecretsAPI.RotateSecret(ctx, in, opts...)
	rec := recordedRotation{secretID: aws.ToString(in.SecretId), start: start, err: err}
	if err == nil {
		rec.version = aws.ToString(out.VersionId)
	}
	r.mu.Lock()
	r.rotations = append(r.rotations, rec)
	r.mu.Unlock()
	return out, err
}

func (r *recording) calls(secretID string) []recordedRotation {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recordedRotation
	for _, c := range r.rotations {
		if c.secretID == secretID {
			out = append(out, c)
		}
	}
	return out
}

// step is one rotation step the rotator test function recorded (integration/functions/rotator).
type step struct {
	Step, SecretID, Token, Outcome, Note string
}

func readSteps(ctx context.Context, env *harness.Env, table string) ([]step, error) {
	var steps []step
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
			steps = append(steps, step{Step: str("step"), SecretID: str("secretId"), Token: str("token"), Outcome: str("outcome"), Note: str("note")})
		}
	}
	return steps, nil
}

// rotationsOf returns, in order, the tokens whose finishSecret succeeded for the secret (named
// by its name or ARN: LocalStack's immediate rotation sends the name, AWS the ARN).
func rotationsOf(steps []step, ids ...string) []string {
	var tokens []string
	for _, s := range steps {
		if slices.Contains(ids, s.SecretID) && s.Step == "finishSecret" && s.Outcome == "ok" && !slices.Contains(tokens, s.Token) {
			tokens = append(tokens, s.Token)
		}
	}
	return tokens
}

// rig is one test's rotator, its steps table, its secrets and its Scheduler.
type rig struct {
	t      *testing.T
	c      *secrettest.Canaries
	env    *harness.Env
	table  string
	fn     string
	fnARN  string
	prefix string // a prefix of this run only: other tests' secrets are never touched
	rec    *recording
	stop   func() // stops the Scheduler and waits for Run to return
}

func newRig(t *testing.T, c *secrettest.Canaries, rotatorEnv map[string]string) *rig {
	t.Helper()
	env, err := harness.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, c: c, env: env, prefix: harness.Name("lanyard-it-rotation") + "/"}
	r.table = env.CreateTable(t, "lanyard-it-rotator-steps", dbtypes.ScalarAttributeTypeN)
	vars := map[string]string{"ROTATOR_TABLE": r.table}
	maps.Copy(vars, rotatorEnv)
	r.fn, r.fnARN = env.DeployFunction(t, "rotator", harness.FunctionOptions{Timeout: 30, Environment: vars})
	r.rec = &recording{SecretsAPI: env.SecretsManager, lastRotated: map[string][]time.Time{}}
	return r
}

// create creates a secret holding a canary, deleted when the test ends, and switches rotation on
// with the rotator every day, not now: LocalStack (with our patch) stores the schedule and runs
// testSecret once; nothing fires it later. It returns the secret's ARN and first version.
func (r *rig) create(name string) (arn, version string) {
	r.t.Helper()
	ctx := context.Background()
	sm := r.env.SecretsManager
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(r.c.New("initial").Reveal()),
	})
	r.c.CheckError(err)
	if err != nil {
		r.t.Fatalf("create secret: %v", err)
	}
	r.t.Cleanup(func() {
		_, _ = sm.DeleteSecret(context.WithoutCancel(ctx), &secretsmanager.DeleteSecretInput{
			SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true),
		})
	})
	_, err = sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(name),
		RotationLambdaARN: aws.String(r.fnARN),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(1)},
		RotateImmediately: aws.Bool(false),
	})
	r.c.CheckError(err)
	if err != nil {
		r.t.Fatalf("enable rotation: %v", err)
	}
	return aws.ToString(out.ARN), aws.ToString(out.VersionId)
}

func (r *rig) describe(id string) *secretsmanager.DescribeSecretOutput {
	r.t.Helper()
	out, err := r.env.SecretsManager.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	r.c.CheckError(err)
	if err != nil {
		r.t.Fatalf("describe secret: %v", err)
	}
	return out
}

// run starts the Scheduler over the rig's prefix: one-second days, a pass every 200 ms.
func (r *rig) run() {
	s := &rotation.Scheduler{
		Secrets: r.rec, Prefix: r.prefix, Interval: 200 * time.Millisecond, DayLength: time.Second,
		Logger: r.c.Logger(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					r.t.Errorf("Run: %v", err)
				}
			case <-time.After(60 * time.Second):
				r.t.Error("Run did not return after its context ended")
			}
		})
	}
	r.t.Cleanup(r.stop)
}

// steps reads the steps the rotator recorded and hands them to the canary check.
func (r *rig) steps() []step {
	r.t.Helper()
	steps, err := readSteps(context.Background(), r.env, r.table)
	if err != nil {
		r.t.Fatalf("read steps: %v", err)
	}
	for i, st := range steps {
		r.c.CheckText("steps table item "+strconv.Itoa(i+1), st.SecretID+" "+st.Token+" "+st.Note)
	}
	return steps
}

// waitRotations waits until the rotator has finished n rotations of the secret and returns
// their tokens.
func (r *rig) waitRotations(n int, name, arn string) []string {
	r.t.Helper()
	var tokens []string
	harness.Eventually(r.t, 60*time.Second, func() (bool, string) {
		steps, err := readSteps(context.Background(), r.env, r.table)
		if err != nil {
			return false, "read steps: " + err.Error()
		}
		tokens = rotationsOf(steps, name, arn)
		return len(tokens) >= n, "rotations finished so far: " + strconv.Itoa(len(tokens)) + " of " + strconv.Itoa(n)
	})
	return tokens
}

func TestSchedulerRotatesDueSecretsThroughLocalStack(t *testing.T) {
	c := secrettest.Plant(t)
	ctx := context.Background()
	r := newRig(t, c, nil)
	sm := r.env.SecretsManager
	name := r.prefix + "partner-1"
	arn, initialVersion := r.create(name)
	outside := harness.Name("lanyard-it-rotation-outside") + "/partner-1"
	outsideARN, outsideVersion := r.create(outside)
	enabled := r.describe(name)
	t.Logf("after enabling rotation: CreatedDate %s, LastRotatedDate %v, NextRotationDate %v",
		aws.ToTime(enabled.CreatedDate).Format(time.RFC3339Nano), enabled.LastRotatedDate, enabled.NextRotationDate)
	if enabled.LastRotatedDate != nil {
		t.Errorf("LastRotatedDate %s before any rotation", enabled.LastRotatedDate)
	}
	r.run()
	rec := r.rec

	// The first rotation: nobody but the Scheduler calls RotateSecret.
	first := r.waitRotations(1, name, arn)[0]
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("get AWSCURRENT: %v", err)
	}
	c.Add("rotated", aws.ToString(out.SecretString))
	if got := aws.ToString(out.VersionId); got != first && !slices.Contains(rotationsOf(r.steps(), name, arn), got) {
		t.Errorf("AWSCURRENT is version %s, want one the rotator finished (first %s)", got, first)
	}
	if aws.ToString(out.VersionId) == initialVersion {
		t.Error("AWSCURRENT is still the initial version")
	}
	after := r.describe(name)
	t.Logf("after the first rotation: LastRotatedDate %v, NextRotationDate %v", after.LastRotatedDate, after.NextRotationDate)
	if after.LastRotatedDate == nil {
		t.Error("LocalStack left LastRotatedDate unset after a rotation")
	}

	// Then one rotation a (one-second) day, and none in between.
	r.waitRotations(3, name, arn)
	// The rotator finishes inside RotateSecret, before the call answers: stop once the third
	// call has answered too, or the stop cancels it in flight.
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		n := len(rec.calls(arn))
		return n >= 3, strconv.Itoa(n) + " RotateSecret calls answered"
	})
	r.stop()
	steps := r.steps()
	tokens := rotationsOf(steps, name, arn)
	calls := rec.calls(arn)
	var versions []string
	for i, call := range calls {
		c.CheckError(call.err)
		if call.err != nil {
			t.Errorf("RotateSecret %d failed: %v", i+1, call.err)
		}
		versions = append(versions, call.version)
		if i > 0 {
			if gap := call.start.Sub(calls[i-1].start); gap < time.Second {
				t.Errorf("RotateSecret %d started %s after the previous one, want at least a day (1s)", i+1, gap)
			}
		}
	}
	// LocalStack runs the steps inside RotateSecret: each call is one rotation, all finished.
	if !slices.Equal(versions, tokens) {
		t.Errorf("RotateSecret answered versions %v; the rotator finished %v; want the same, in order", versions, tokens)
	}
	for _, token := range tokens {
		var ran []string
		for _, st := range steps {
			if st.Token == token {
				ran = append(ran, st.Step+":"+st.Outcome)
			}
		}
		if want := []string{"createSecret:ok", "setSecret:ok", "testSecret:ok", "finishSecret:ok"}; !slices.Equal(ran, want) {
			t.Errorf("version %s: steps %v, want %v", token, ran, want)
		}
	}
	rec.mu.Lock()
	seen := append([]time.Time(nil), rec.lastRotated[arn]...)
	rec.mu.Unlock()
	t.Logf("LastRotatedDate values the Scheduler read: %v; RotateSecret calls started at %v", seen, starts(calls))
	for i := 1; i < len(seen); i++ {
		if gap := seen[i].Sub(seen[i-1]); gap < time.Second {
			t.Errorf("LastRotatedDate moved from %s to %s, less than a day (1s)", seen[i-1], seen[i])
		}
	}
	if len(seen) < len(calls)-1 {
		t.Errorf("the Scheduler saw %d LastRotatedDate values for %d rotations: LastRotatedDate does not move", len(seen), len(calls))
	}

	final := r.describe(name)
	t.Logf("after %d rotations: LastRotatedDate %v, NextRotationDate %v, versions %v",
		len(tokens), final.LastRotatedDate, final.NextRotationDate, final.VersionIdsToStages)
	last := tokens[len(tokens)-1]
	for version, stages := range final.VersionIdsToStages {
		if version == last && !slices.Contains(stages, "AWSCURRENT") {
			t.Errorf("the last rotated version %s has stages %v, want AWSCURRENT", version, stages)
		}
		if version != last && slices.Contains(stages, "AWSPENDING") {
			t.Errorf("version %s is left AWSPENDING", version)
		}
	}
	if final.LastRotatedDate == nil || final.LastRotatedDate.Before(calls[len(calls)-1].start.Truncate(time.Second)) {
		t.Errorf("LastRotatedDate %v is before the last rotation started (%s)", final.LastRotatedDate, calls[len(calls)-1].start)
	}

	// The secret outside the prefix is due too, but never rotated.
	if n := len(rec.calls(outsideARN)); n != 0 {
		t.Errorf("the secret outside the prefix got %d RotateSecret calls, want none", n)
	}
	if got := rotationsOf(steps, outside, outsideARN); len(got) != 0 {
		t.Errorf("the secret outside the prefix was rotated to %v", got)
	}
	if o := r.describe(outside); o.LastRotatedDate != nil || !slices.Contains(o.VersionIdsToStages[outsideVersion], "AWSCURRENT") {
		t.Errorf("the secret outside the prefix: LastRotatedDate %v, versions %v; want never rotated", o.LastRotatedDate, o.VersionIdsToStages)
	}
}

func starts(calls []recordedRotation) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.start.Format("15:04:05.000"))
	}
	return out
}

// TestSchedulerRetriesAFailedRotationUntilItConverges shows LocalStack's path when the rotation
// function fails: the first RotateSecret answers 200 although setSecret failed (LocalStack
// swallows it, leaves the new version AWSPENDING and sets LastRotatedDate), so the Scheduler
// waits a day; its next RotateSecret re-runs the steps on the pending version and, while they
// keep failing, is refused (InvalidRequestException), then retried once an Interval until the
// function works again and the same pending version becomes AWSCURRENT.
func TestSchedulerRetriesAFailedRotationUntilItConverges(t *testing.T) {
	c := secrettest.Plant(t)
	r := newRig(t, c, map[string]string{"ROTATOR_FAIL_STEP": "setSecret"})
	name := r.prefix + "partner-1"
	arn, initialVersion := r.create(name)
	r.run()

	var calls []recordedRotation
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		calls = r.rec.calls(arn)
		failed := 0
		for _, call := range calls {
			if call.err != nil {
				failed++
			}
		}
		return failed >= 3, "RotateSecret calls so far: " + strconv.Itoa(len(calls)) + ", failed: " + strconv.Itoa(failed)
	})
	if calls[0].err != nil || calls[0].version == "" {
		t.Fatalf("first RotateSecret: %v (version %q); want LocalStack to answer 200 with the new version", calls[0].err, calls[0].version)
	}
	pending := calls[0].version
	for i, call := range calls[1:] {
		c.CheckError(call.err)
		var invalid *smtypes.InvalidRequestException
		if !errors.As(call.err, &invalid) {
			t.Errorf("RotateSecret %d: %v; want InvalidRequestException while the steps keep failing", i+2, call.err)
		}
		if gap := call.start.Sub(calls[i].start); i > 0 && gap < 200*time.Millisecond {
			t.Errorf("RotateSecret %d started %s after the previous one, want at least an interval (200ms)", i+2, gap)
		}
	}
	if stages := r.describe(name).VersionIdsToStages; !slices.Equal(stages[pending], []string{"AWSPENDING"}) ||
		!slices.Contains(stages[initialVersion], "AWSCURRENT") {
		t.Fatalf("while failing: versions %v; want %s AWSPENDING and %s still AWSCURRENT", stages, pending, initialVersion)
	}

	// The function works again: the next retry finishes the same pending version.
	setFunctionEnvironment(t, r.env, r.fn, func(vars map[string]string) { delete(vars, "ROTATOR_FAIL_STEP") })
	tokens := r.waitRotations(1, name, arn)
	r.stop()
	if tokens[0] != pending {
		t.Errorf("the first finished rotation is version %s, want the pending %s", tokens[0], pending)
	}
	stages := r.describe(name).VersionIdsToStages
	if !slices.Contains(stages[pending], "AWSCURRENT") {
		t.Errorf("after the retry: versions %v; want %s AWSCURRENT", stages, pending)
	}
	steps := r.steps()
	for _, st := range steps {
		if st.Token != pending && (st.SecretID == name || st.SecretID == arn) && st.Step != "testSecret" {
			t.Errorf("step %s ran on version %s: only the pending %s should have been rotated", st.Step, st.Token, pending)
			break
		}
	}
	t.Logf("%d RotateSecret calls until the rotation converged; versions now %v", len(r.rec.calls(arn)), stages)
}

// setFunctionEnvironment edits the function's environment variables and waits until the update
// is done, so the next invocation runs with them.
func setFunctionEnvironment(t *testing.T, env *harness.Env, fn string, edit func(map[string]string)) {
	t.Helper()
	ctx := context.Background()
	cfg, err := env.Lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(fn)})
	if err != nil {
		t.Fatalf("get function configuration: %v", err)
	}
	vars := map[string]string{}
	if cfg.Environment != nil {
		maps.Copy(vars, cfg.Environment.Variables)
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
