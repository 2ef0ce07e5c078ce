package secretsmanagertest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/shared/fakes/secretsmanagertest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
)

// What the fake does beyond what the scenarios check against LocalStack: its clock, the Rotate
// hook, the SDK's client-side behaviour, copies, paging and concurrency.

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newFake() (*secretsmanagertest.SecretsManager, *clock) {
	clk := &clock{now: t0}
	return secretsmanagertest.New(secretsmanagertest.Options{Now: clk.Now, Account: "111122223333", Region: "eu-west-1"}), clk
}

func mustCreate(t *testing.T, sm *secretsmanagertest.SecretsManager, name, value string) *secretsmanager.CreateSecretOutput {
	t.Helper()
	out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return out
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	sm := secretsmanagertest.New(secretsmanagertest.Options{})
	before := time.Now()
	out := mustCreate(t, sm, "s", "v")
	prefix := "arn:aws:secretsmanager:" + secretsmanagertest.DefaultRegion + ":" + secretsmanagertest.DefaultAccount + ":secret:s-"
	if arn := aws.ToString(out.ARN); !strings.HasPrefix(arn, prefix) || len(arn) != len(prefix)+6 {
		t.Errorf("ARN %q, want %s and 6 characters", arn, prefix)
	}
	desc, err := sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if desc.CreatedDate == nil || desc.CreatedDate.Before(before) {
		t.Errorf("CreatedDate %v, want the time of creation (after %v)", desc.CreatedDate, before)
	}
}

func TestDatesFollowTheClock(t *testing.T) {
	t.Parallel()
	sm, clk := newFake()
	ctx := t.Context()
	mustCreate(t, sm, "s", "v1")
	clk.Advance(time.Hour)
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v2")}); err != nil {
		t.Fatalf("put: %v", err)
	}
	clk.Advance(time.Hour)
	got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if !got.CreatedDate.Equal(t0.Add(time.Hour)) {
		t.Errorf("version CreatedDate %v, want %v", got.CreatedDate, t0.Add(time.Hour))
	}
	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if !desc.CreatedDate.Equal(t0) || !desc.LastChangedDate.Equal(t0.Add(time.Hour)) || !desc.LastAccessedDate.Equal(day) {
		t.Errorf("CreatedDate %v, LastChangedDate %v, LastAccessedDate %v; want %v, %v, %v", desc.CreatedDate, desc.LastChangedDate, desc.LastAccessedDate, t0, t0.Add(time.Hour), day)
	}

	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String("s"), RotationLambdaARN: aws.String("arn:aws:lambda:eu-west-1:111122223333:function:r"),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(10)}, RotateImmediately: aws.Bool(false),
	}); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	desc, err = sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if want := t0.Add(2*time.Hour + 10*24*time.Hour); !desc.NextRotationDate.Equal(want) {
		t.Errorf("NextRotationDate %v, want %v", desc.NextRotationDate, want)
	}

	del, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("s")})
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if want := t0.Add(2*time.Hour + 30*24*time.Hour); !del.DeletionDate.Equal(want) {
		t.Errorf("DeletionDate %v, want the default 30 days later, %v", del.DeletionDate, want)
	}
	// Within the window the name is taken; once it has passed the secret is gone.
	clk.Advance(30*24*time.Hour - time.Second)
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s")}); !isErr[*types.InvalidRequestException](err) {
		t.Errorf("create within the recovery window: %v, want InvalidRequestException", err)
	}
	clk.Advance(time.Second)
	if _, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")}); !isErr[*types.ResourceNotFoundException](err) {
		t.Errorf("describe after the recovery window: %v, want ResourceNotFoundException", err)
	}
	mustCreate(t, sm, "s", "new")
}

func TestRotateHook(t *testing.T) {
	t.Parallel()
	const fn = "arn:aws:lambda:eu-west-1:111122223333:function:r"
	type call struct{ id, token string }
	tests := []struct {
		name      string
		hook      func(sm *secretsmanagertest.SecretsManager, calls *[]call) func(context.Context, string, string) error
		rotated   bool     // LastRotatedDate set
		wantStage []string // the token's labels afterwards
	}{
		{
			name: "the function completes the rotation",
			hook: func(sm *secretsmanagertest.SecretsManager, calls *[]call) func(context.Context, string, string) error {
				rotate := rotationFunction(sm)
				return func(ctx context.Context, id, token string) error {
					*calls = append(*calls, call{id, token})
					return rotate(ctx, id, token)
				}
			},
			rotated: true, wantStage: []string{current, pending},
		},
		{
			name: "the function fails after createSecret",
			hook: func(sm *secretsmanagertest.SecretsManager, calls *[]call) func(context.Context, string, string) error {
				return func(ctx context.Context, id, token string) error {
					*calls = append(*calls, call{id, token})
					if err := rotationStep(ctx, sm, "createSecret", id, token); err != nil {
						return err
					}
					return errors.New("setSecret failed")
				}
			},
			wantStage: []string{pending},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sm, clk := newFake()
			ctx := t.Context()
			created := mustCreate(t, sm, "s", "v1")
			var calls []call
			sm.Rotate = tt.hook(sm, &calls)
			token := uuid.NewString()
			clk.Advance(time.Hour)
			out, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
				SecretId: aws.String("s"), ClientRequestToken: aws.String(token), RotationLambdaARN: aws.String(fn),
				RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(7)},
			})
			if err != nil {
				t.Fatalf("rotate: %v (a failing function is not RotateSecret's error)", err)
			}
			if aws.ToString(out.VersionId) != token {
				t.Errorf("VersionId %s, want %s", aws.ToString(out.VersionId), token)
			}
			if want := []call{{aws.ToString(created.ARN), token}}; !slices.Equal(calls, want) {
				t.Errorf("Rotate called %v, want once with the ARN and the token: %v", calls, want)
			}
			desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
			if err != nil {
				t.Fatalf("describe: %v", err)
			}
			expectStages(t, "the token's version", map[string][]string{token: desc.VersionIdsToStages[token]}, map[string][]string{token: tt.wantStage})
			if rotated := desc.LastRotatedDate != nil; rotated != tt.rotated {
				t.Errorf("LastRotatedDate %v, want set: %v", desc.LastRotatedDate, tt.rotated)
			} else if rotated && (!desc.LastRotatedDate.Equal(t0.Add(time.Hour)) || !desc.NextRotationDate.Equal(t0.Add(time.Hour+7*24*time.Hour))) {
				t.Errorf("LastRotatedDate %v, NextRotationDate %v; want %v and 7 days later", desc.LastRotatedDate, desc.NextRotationDate, t0.Add(time.Hour))
			}
			if !tt.rotated {
				// The stranded AWSPENDING blocks the next rotation.
				_, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("s")})
				if !isErr[*types.InvalidRequestException](err) {
					t.Errorf("RotateSecret after a failed rotation: %v, want InvalidRequestException", err)
				}
			}
		})
	}
}

func TestRotateWithoutHook(t *testing.T) {
	t.Parallel()
	sm, _ := newFake()
	ctx := t.Context()
	mustCreate(t, sm, "s", "v1")
	in := &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), RotationLambdaARN: aws.String("arn:aws:lambda:eu-west-1:111122223333:function:r")}
	_, err := sm.RotateSecret(ctx, in)
	var apiErr smithy.APIError
	if err == nil || errors.As(err, &apiErr) || !strings.Contains(err.Error(), "Rotate hook") {
		t.Errorf("immediate rotation without a Rotate hook: %v, want the fake's own error naming the hook", err)
	}
	// Nothing was recorded; without immediate rotation the hook is not needed.
	desc, _ := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	if desc.RotationLambdaARN != nil || len(desc.VersionIdsToStages) != 1 {
		t.Errorf("after the refused rotation: RotationLambdaARN %v, versions %v", desc.RotationLambdaARN, desc.VersionIdsToStages)
	}
	in.RotateImmediately = aws.Bool(false)
	if _, err := sm.RotateSecret(ctx, in); err != nil {
		t.Errorf("rotation without immediate rotation: %v", err)
	}
}

func TestRotationPlaceholderIsEmpty(t *testing.T) {
	t.Parallel()
	sm, _ := newFake()
	mustCreate(t, sm, "s", "v1")
	var getErr error
	sm.Rotate = func(ctx context.Context, id, token string) error {
		_, getErr = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionId: aws.String(token), VersionStage: aws.String(pending)})
		return errors.New("stop")
	}
	if _, err := sm.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), RotationLambdaARN: aws.String("arn:aws:lambda:eu-west-1:111122223333:function:r")}); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if !isErr[*types.ResourceNotFoundException](getErr) {
		t.Errorf("reading the token's version before createSecret: %v, want ResourceNotFoundException (it has no value yet)", getErr)
	}
}

func TestSDKBehaviour(t *testing.T) {
	t.Parallel()
	sm, _ := newFake()
	mustCreate(t, sm, "s", "v")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		call func() error
		want func(error) bool
	}{
		{"a nil input misses its required members", func() error { _, err := sm.GetSecretValue(t.Context(), nil); return err }, isErr[smithy.InvalidParamsError]},
		{"CreateSecret without Name", func() error {
			_, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{SecretString: aws.String("v")})
			return err
		}, isErr[smithy.InvalidParamsError]},
		{"UpdateSecretVersionStage without VersionStage", func() error {
			_, err := sm.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("s")})
			return err
		}, isErr[smithy.InvalidParamsError]},
		{"TagResource without Tags", func() error {
			_, err := sm.TagResource(t.Context(), &secretsmanager.TagResourceInput{SecretId: aws.String("s")})
			return err
		}, isErr[smithy.InvalidParamsError]},
		{"a cancelled context", func() error {
			_, err := sm.DescribeSecret(cancelled, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
			return err
		}, func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"a short ClientRequestToken", func() error {
			_, err := sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v2"), ClientRequestToken: aws.String("short")})
			return err
		}, isErr[*types.InvalidParameterException]},
		{"PutSecretValue without a value", func() error {
			_, err := sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("s")})
			return err
		}, isErr[*types.InvalidRequestException]},
		{"PutSecretValue with both kinds of value", func() error {
			_, err := sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v2"), SecretBinary: []byte("v2")})
			return err
		}, isErr[*types.InvalidParameterException]},
		{"a bad NextToken", func() error {
			_, err := sm.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s"), NextToken: aws.String("x")})
			return err
		}, isErr[*types.InvalidNextTokenException]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call()
			var op *smithy.OperationError
			if !tt.want(err) || !errors.As(err, &op) || op.Service() != "Secrets Manager" {
				t.Errorf("got %v, want the kind of error the client answers, in a *smithy.OperationError", err)
			}
		})
	}
}

func TestOutputsAreCopies(t *testing.T) {
	t.Parallel()
	sm, _ := newFake()
	ctx := t.Context()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("s"), SecretBinary: []byte("value"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
	}); err != nil {
		t.Fatalf("create: %v", err)
	}
	got, _ := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	got.SecretBinary[0] = 'X'
	got.VersionStages[0] = "MINE"
	desc, _ := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	*desc.Tags[0].Value = "changed"
	for id := range desc.VersionIdsToStages {
		desc.VersionIdsToStages[id][0] = "MINE"
	}

	again, _ := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	desc, _ = sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	if string(again.SecretBinary) != "value" || !slices.Equal(again.VersionStages, []string{current}) || aws.ToString(desc.Tags[0].Value) != "v" {
		t.Error("changing an output changed the fake's state")
	}
}

func TestListSecretVersionIdsPages(t *testing.T) {
	t.Parallel()
	sm, clk := newFake()
	ctx := t.Context()
	ids := []string{aws.ToString(mustCreate(t, sm, "s", "v0").VersionId)}
	for i := 1; i < 5; i++ {
		clk.Advance(time.Minute)
		out, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String(fmt.Sprint("v", i))})
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		ids = append(ids, aws.ToString(out.VersionId))
	}
	var got []string
	p := secretsmanager.NewListSecretVersionIdsPaginator(sm, &secretsmanager.ListSecretVersionIdsInput{
		SecretId: aws.String("s"), IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(2),
	})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("page: %v", err)
		}
		pages++
		for _, v := range page.Versions {
			got = append(got, aws.ToString(v.VersionId))
		}
	}
	slices.Reverse(ids)
	if !slices.Equal(got, ids) || pages != 3 {
		t.Errorf("%d pages listing %v, want 3 pages listing the versions newest first %v", pages, got, ids)
	}
}

func TestErrorsHoldNoValues(t *testing.T) {
	c := secrettest.Plant(t)
	sm, _ := newFake()
	ctx := t.Context()
	value := c.New("value")
	token := uuid.NewString()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), ClientRequestToken: aws.String(token), SecretString: aws.String(value.Reveal())}); err != nil {
		t.Fatalf("create: %v", err)
	}
	other := c.New("other").Reveal()
	calls := []func() error{
		func() error {
			_, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), ClientRequestToken: aws.String(token), SecretString: aws.String(other)})
			return err
		},
		func() error {
			_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), ClientRequestToken: aws.String(token), SecretString: aws.String(other)})
			return err
		},
		func() error {
			_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String(other), SecretBinary: []byte(other)})
			return err
		},
		func() error {
			_, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bad name"), SecretString: aws.String(other)})
			return err
		},
	}
	for i, call := range calls {
		err := call()
		if err == nil {
			t.Errorf("call %d succeeded, want an error", i)
		}
		c.CheckError(err)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	sm, _ := newFake()
	ctx := t.Context()
	mustCreate(t, sm, "s", "v0")
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers*4)
	for i := range writers {
		wg.Add(3)
		go func() {
			defer wg.Done()
			_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String(fmt.Sprint("v", i+1))})
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("s"), Tags: []types.Tag{{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")}}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent call: %v", err)
		}
	}
	list, err := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s"), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	currents := 0
	for _, v := range list.Versions {
		if slices.Contains(v.VersionStages, current) {
			currents++
		}
	}
	desc, _ := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	if len(list.Versions) != writers+1 || currents != 1 || len(desc.Tags) != writers {
		t.Errorf("%d versions (%d AWSCURRENT), %d tags; want %d, 1, %d", len(list.Versions), currents, len(desc.Tags), writers+1, writers)
	}
}
