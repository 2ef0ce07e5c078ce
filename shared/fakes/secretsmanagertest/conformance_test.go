package secretsmanagertest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/shared/fakes/secretsmanagertest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/platform/polltest"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// The scenarios run against the fake here and against LocalStack in the integration test
// (conformance_integration_test.go): what the fake answers, LocalStack answers, except at the
// points where LocalStack does not do what AWS does. There the scenario checks AWS's behaviour,
// citing AWS's documentation, on the fake, and LocalStack's own behaviour on LocalStack, in a
// subtest named "LocalStack differs: …". Every error goes to the canary check, and failure
// messages name versions, never values. Plant swaps process-wide state, so nothing here runs in
// parallel.

// api is every Secrets Manager operation the scenarios use.
type api interface {
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
	ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error)
	TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	CancelRotateSecret(ctx context.Context, in *secretsmanager.CancelRotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CancelRotateSecretOutput, error)
}

var (
	_ api = (*secretsmanager.Client)(nil)
	_ api = (*secretsmanagertest.SecretsManager)(nil)
)

const (
	current  = secretsmanagertest.StageCurrent
	pending  = secretsmanagertest.StagePending
	previous = secretsmanagertest.StagePrevious

	fakeAccount = "111122223333"
	fakeRegion  = "eu-west-1"
)

// backend is a Secrets Manager the scenarios run against.
type backend struct {
	sm              api
	account, region string
	// rotationLambdaARN is a rotation function that works like integration/functions/rotator.
	rotationLambdaARN string
	// unique returns a secret name no other test uses.
	unique func(prefix string) string
	// localStack says the backend is LocalStack 4.7.0.
	localStack bool
}

type scenario struct {
	name string
	run  func(t *testing.T, b *backend, c *secrettest.Canaries)
}

var fakeNames atomic.Int64

func TestScenariosOnTheFake(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			c := secrettest.Plant(t)
			fake := secretsmanagertest.New(secretsmanagertest.Options{Account: fakeAccount, Region: fakeRegion})
			fake.Rotate = rotationFunction(fake)
			sc.run(t, &backend{
				sm: fake, account: fakeAccount, region: fakeRegion,
				rotationLambdaARN: "arn:aws:lambda:" + fakeRegion + ":" + fakeAccount + ":function:rotator",
				unique:            func(prefix string) string { return fmt.Sprintf("%s-%d", prefix, fakeNames.Add(1)) },
			}, c)
		})
	}
}

func scenarios() []scenario {
	return []scenario{
		{"CreateSecret answers an ARN of the name and a first version staged AWSCURRENT", createAndRead},
		{"binary values round-trip", binaryValue},
		{"an invalid name is a ValidationException", invalidName},
		{"every operation on an unknown secret is ResourceNotFoundException", unknownSecret},
		{"CreateSecret with a taken name is ResourceExistsException", createTakenName},
		{"CreateSecret retried with its token and value succeeds without change", createRetry},
		{"CreateSecret reusing a token with another value is ResourceExistsException", createTokenReuse},
		{"PutSecretValue without stages moves AWSCURRENT, and AWSPREVIOUS after it", putMovesCurrent},
		{"PutSecretValue retried with its token and value changes nothing", putRetry},
		{"PutSecretValue reusing a token with another value is ResourceExistsException", putTokenReuse},
		{"PutSecretValue with VersionStages attaches exactly those labels", putWithStages},
		{"PutSecretValue making the first version makes it AWSCURRENT", putFirstVersion},
		{"UpdateSecretVersionStage moves AWSCURRENT and AWSPREVIOUS follows", updateStage},
		{"UpdateSecretVersionStage takes a label from another version only when asked to", updateStageHeldElsewhere},
		{"UpdateSecretVersionStage to an unknown version is refused", updateStageUnknownVersion},
		{"GetSecretValue by VersionId and VersionStage", getByVersion},
		{"a secret scheduled for deletion can be described, not used", scheduledDeletion},
		{"ForceDeleteWithoutRecovery of an unknown secret succeeds", forceDeleteUnknown},
		{"TagResource adds and replaces tags", tagResource},
		{"RotateSecret without immediate rotation records the schedule only", rotateNotImmediately},
		{"RotateSecret needs a rotation function and a valid interval", rotateRefused},
		{"RotateSecret rotates through the rotation function", rotateImmediately},
		{"RotateSecret refuses while a previous rotation is unfinished", rotateUnfinished},
		{"CancelRotateSecret turns rotation off and leaves AWSPENDING to the caller", cancelRotation},
	}
}

func createAndRead(t *testing.T, b *backend, c *secrettest.Canaries) {
	value := c.New("value")
	token := uuid.NewString()
	key := "arn:aws:kms:" + b.region + ":" + b.account + ":key/" + uuid.NewString()
	out := b.create(t, c, &secretsmanager.CreateSecretInput{
		ClientRequestToken: aws.String(token),
		SecretString:       aws.String(value.Reveal()),
		KmsKeyId:           aws.String(key),
		Description:        aws.String("conformance"),
		Tags:               []types.Tag{{Key: aws.String("lanyard:partner"), Value: aws.String("p-1")}},
	})
	name, arn := aws.ToString(out.Name), aws.ToString(out.ARN)
	prefix := "arn:aws:secretsmanager:" + b.region + ":" + b.account + ":secret:" + name + "-"
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `[A-Za-z0-9]{6}$`).MatchString(arn) {
		t.Errorf("ARN %q, want %s followed by 6 random characters", arn, prefix)
	}
	if got := aws.ToString(out.VersionId); got != token {
		t.Errorf("CreateSecret answered version %s, want the ClientRequestToken %s", got, token)
	}

	// SecretId may be the name, the ARN, or the ARN without its random suffix.
	for _, id := range []string{name, arn, arn[:len(arn)-7]} {
		got := expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}, token, value)
		if aws.ToString(got.ARN) != arn || aws.ToString(got.Name) != name || got.CreatedDate == nil {
			t.Errorf("GetSecretValue %s: ARN %q, Name %q, CreatedDate %v; want %q, %q, set", id, aws.ToString(got.ARN), aws.ToString(got.Name), got.CreatedDate, arn, name)
		}
		if !slices.Equal(got.VersionStages, []string{current}) {
			t.Errorf("GetSecretValue %s: stages %v, want [AWSCURRENT]", id, got.VersionStages)
		}
	}

	desc := b.describe(t, c, name)
	if aws.ToString(desc.ARN) != arn || aws.ToString(desc.Name) != name {
		t.Errorf("DescribeSecret: ARN %q, Name %q; want %q, %q", aws.ToString(desc.ARN), aws.ToString(desc.Name), arn, name)
	}
	if aws.ToString(desc.KmsKeyId) != key {
		t.Errorf("KmsKeyId = %q, want %q", aws.ToString(desc.KmsKeyId), key)
	}
	if aws.ToString(desc.Description) != "conformance" {
		t.Errorf("Description = %q, want conformance", aws.ToString(desc.Description))
	}
	if got, want := tagMap(desc.Tags), map[string]string{"lanyard:partner": "p-1"}; !maps.Equal(got, want) {
		t.Errorf("Tags = %v, want %v", got, want)
	}
	expectStages(t, "after CreateSecret", desc.VersionIdsToStages, map[string][]string{token: {current}})
	if desc.CreatedDate == nil || desc.DeletedDate != nil || desc.LastRotatedDate != nil || aws.ToBool(desc.RotationEnabled) {
		t.Errorf("DescribeSecret: CreatedDate %v, DeletedDate %v, LastRotatedDate %v, RotationEnabled %v; want set, none, none, false",
			desc.CreatedDate, desc.DeletedDate, desc.LastRotatedDate, aws.ToBool(desc.RotationEnabled))
	}
}

func binaryValue(t *testing.T, b *backend, c *secrettest.Canaries) {
	value := c.New("binary")
	out := b.create(t, c, &secretsmanager.CreateSecretInput{SecretBinary: []byte(value.Reveal())})
	got, err := b.sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: out.ARN})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("get binary secret: %v", err)
	}
	if string(got.SecretBinary) != value.Reveal() || got.SecretString != nil {
		t.Errorf("version %s: SecretBinary is not the value written, or a SecretString came back", aws.ToString(got.VersionId))
	}
}

func invalidName(t *testing.T, b *backend, c *secrettest.Canaries) {
	_, err := b.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("lanyard smtest invalid!"), SecretString: aws.String(c.New("value").Reveal()),
	})
	c.CheckError(err)
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" {
		t.Errorf("CreateSecret with spaces in the name: %v, want ValidationException", err)
	}
}

func unknownSecret(t *testing.T, b *backend, c *secrettest.Canaries) {
	ctx := t.Context()
	existing := b.create(t, c, &secretsmanager.CreateSecretInput{SecretString: aws.String(c.New("value").Reveal())})
	arn := aws.ToString(existing.ARN)
	suffix := "zzzzzz"
	if strings.HasSuffix(arn, suffix) {
		suffix = "yyyyyy"
	}
	for _, id := range []string{b.unique("lanyard-smtest-missing"), arn[:len(arn)-6] + suffix} {
		calls := []struct {
			op   string
			call func() error
		}{
			{"GetSecretValue", func() error {
				_, err := b.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
				return err
			}},
			{"DescribeSecret", func() error {
				_, err := b.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
				return err
			}},
			{"PutSecretValue", func() error {
				_, err := b.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(c.New("put").Reveal())})
				return err
			}},
			{"UpdateSecretVersionStage", func() error {
				_, err := b.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
					SecretId: aws.String(id), VersionStage: aws.String(pending), MoveToVersionId: aws.String(uuid.NewString()),
				})
				return err
			}},
			{"DeleteSecret", func() error {
				_, err := b.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(id)})
				return err
			}},
			{"RotateSecret", func() error {
				_, err := b.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(id), RotationLambdaARN: aws.String(b.rotationLambdaARN)})
				return err
			}},
			{"ListSecretVersionIds", func() error {
				_, err := b.sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(id)})
				return err
			}},
		}
		for _, call := range calls {
			expectErr[*types.ResourceNotFoundException](t, c, call.call(), call.op+" "+id)
		}
	}

	tag := func(opts ...func(*secretsmanager.Options)) error {
		_, err := b.sm.TagResource(ctx, &secretsmanager.TagResourceInput{
			SecretId: aws.String(b.unique("lanyard-smtest-missing")), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
		}, opts...)
		return err
	}
	b.differs(t, "TagResource on an unknown secret",
		// AWS: the API reference lists ResourceNotFoundException for TagResource, "Secrets
		// Manager can't find the resource that you asked for".
		func(t *testing.T) { expectErr[*types.ResourceNotFoundException](t, c, tag(), "TagResource") },
		// LocalStack 4.7.0 turns moto's not-found into an internal error (HTTP 500); one
		// attempt is enough to see it.
		func(t *testing.T) {
			err := tag(func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
			c.CheckError(err)
			if err == nil || isErr[*types.ResourceNotFoundException](err) {
				t.Errorf("TagResource on an unknown secret: %v; LocalStack was seen to fail with an internal error", err)
			}
		})
}

func createTakenName(t *testing.T, b *backend, c *secrettest.Canaries) {
	first := c.New("first")
	out := b.create(t, c, &secretsmanager.CreateSecretInput{SecretString: aws.String(first.Reveal())})
	_, err := b.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: out.Name, ClientRequestToken: aws.String(uuid.NewString()), SecretString: aws.String(c.New("second").Reveal()),
	})
	expectErr[*types.ResourceExistsException](t, c, err, "CreateSecret with a taken name")
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: out.Name}, aws.ToString(out.VersionId), first)
}

func createRetry(t *testing.T, b *backend, c *secrettest.Canaries) {
	value := c.New("value")
	in := &secretsmanager.CreateSecretInput{
		Name: aws.String(b.unique("lanyard-smtest")), ClientRequestToken: aws.String(uuid.NewString()), SecretString: aws.String(value.Reveal()),
	}
	first := b.create(t, c, in)
	again, err := b.sm.CreateSecret(t.Context(), in)
	c.CheckError(err)
	b.differs(t, "a retried CreateSecret",
		// AWS, CreateSecret, ClientRequestToken: "If a version with this value already exists
		// and the version SecretString and SecretBinary values are the same as those in the
		// request, then the request is ignored." Seen on AWS: the retry answers as the first
		// call did (moto's AWS-verified test_create_duplicate_secret_with_same_token).
		func(t *testing.T) {
			if err != nil {
				t.Fatalf("retried CreateSecret: %v", err)
			}
			if aws.ToString(again.ARN) != aws.ToString(first.ARN) || aws.ToString(again.Name) != aws.ToString(first.Name) || aws.ToString(again.VersionId) != aws.ToString(first.VersionId) {
				t.Errorf("retry answered %s %s %s, want the first answer %s %s %s", aws.ToString(again.ARN), aws.ToString(again.Name), aws.ToString(again.VersionId),
					aws.ToString(first.ARN), aws.ToString(first.Name), aws.ToString(first.VersionId))
			}
		},
		// LocalStack 4.7.0 refuses any CreateSecret of an existing name.
		func(t *testing.T) { expectErr[*types.ResourceExistsException](t, c, err, "retried CreateSecret") })
	expectStages(t, "after the retry", b.stages(t, c, *in.Name), map[string][]string{aws.ToString(first.VersionId): {current}})
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: in.Name}, aws.ToString(first.VersionId), value)
}

func createTokenReuse(t *testing.T, b *backend, c *secrettest.Canaries) {
	value := c.New("value")
	in := &secretsmanager.CreateSecretInput{
		Name: aws.String(b.unique("lanyard-smtest")), ClientRequestToken: aws.String(uuid.NewString()), SecretString: aws.String(value.Reveal()),
	}
	first := b.create(t, c, in)
	_, err := b.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: in.Name, ClientRequestToken: in.ClientRequestToken, SecretString: aws.String(c.New("other").Reveal()),
	})
	// AWS answers "You can't use ClientRequestToken … because that value is already in use";
	// LocalStack that the secret already exists. Both are ResourceExistsException.
	expectErr[*types.ResourceExistsException](t, c, err, "CreateSecret reusing the token with another value")
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: in.Name}, aws.ToString(first.VersionId), value)
}

func putMovesCurrent(t *testing.T, b *backend, c *secrettest.Canaries) {
	ctx := t.Context()
	name, v1, t1 := b.createWithValue(t, c)
	v2, t2 := c.New("v2"), uuid.NewString()
	out := b.put(t, c, name, t2, v2)
	if aws.ToString(out.VersionId) != t2 || !slices.Equal(out.VersionStages, []string{current}) {
		t.Errorf("PutSecretValue answered %s %v, want %s [AWSCURRENT]", aws.ToString(out.VersionId), out.VersionStages, t2)
	}
	expectStages(t, "after the second version", b.stages(t, c, name), map[string][]string{t1: {previous}, t2: {current}})

	v3, t3 := c.New("v3"), uuid.NewString()
	b.put(t, c, name, t3, v3)
	// t1 has no label left: deprecated, but still there.
	expectStages(t, "after the third version", b.stages(t, c, name), map[string][]string{t2: {previous}, t3: {current}})
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}, t3, v3)
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionStage: aws.String(previous)}, t2, v2)
	if got := expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(t1)}, t1, v1); len(got.VersionStages) != 0 {
		t.Errorf("deprecated version %s has stages %v, want none", t1, got.VersionStages)
	}

	list := func(deprecated bool) map[string][]string {
		out, err := b.sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(name), IncludeDeprecated: aws.Bool(deprecated)})
		c.CheckError(err)
		if err != nil {
			t.Fatalf("list versions: %v", err)
		}
		got := map[string][]string{}
		for _, v := range out.Versions {
			got[aws.ToString(v.VersionId)] = v.VersionStages
			if v.CreatedDate == nil {
				t.Errorf("ListSecretVersionIds: version %s has no CreatedDate", aws.ToString(v.VersionId))
			}
		}
		return got
	}
	expectStages(t, "ListSecretVersionIds", list(false), map[string][]string{t2: {previous}, t3: {current}})
	expectStages(t, "ListSecretVersionIds with IncludeDeprecated", list(true), map[string][]string{t1: nil, t2: {previous}, t3: {current}})
}

func putRetry(t *testing.T, b *backend, c *secrettest.Canaries) {
	name, _, t1 := b.createWithValue(t, c)
	v2, t2 := c.New("v2"), uuid.NewString()
	b.put(t, c, name, t2, v2)
	v3, t3 := c.New("v3"), uuid.NewString()
	b.put(t, c, name, t3, v3, pending)
	before := map[string][]string{t1: {previous}, t2: {current}, t3: {pending}}
	expectStages(t, "before the retries", b.stages(t, c, name), before)

	retry := b.put(t, c, name, t2, v2)
	if aws.ToString(retry.VersionId) != t2 || !slices.Equal(retry.VersionStages, []string{current}) {
		t.Errorf("retried PutSecretValue answered %s %v, want %s [AWSCURRENT]", aws.ToString(retry.VersionId), retry.VersionStages, t2)
	}
	afterFirst := b.stages(t, c, name)
	b.put(t, c, name, t3, v3) // the AWSPENDING version again, now without VersionStages
	afterSecond := b.stages(t, c, name)
	b.differs(t, "a retried PutSecretValue",
		// AWS, PutSecretValue: "If you call this operation with a ClientRequestToken that
		// matches an existing version's VersionId, and you specify the same secret data, the
		// operation succeeds but does nothing."
		func(t *testing.T) {
			expectStages(t, "after retrying the AWSCURRENT version", afterFirst, before)
			expectStages(t, "after retrying the AWSPENDING version without stages", afterSecond, before)
		},
		// LocalStack 4.7.0 applies the labels again: AWSCURRENT "moves" to the version that
		// has it, which strips AWSPREVIOUS, and a retry without VersionStages makes the
		// AWSPENDING version AWSCURRENT.
		func(t *testing.T) {
			expectStages(t, "after retrying the AWSCURRENT version", afterFirst, map[string][]string{t2: {current}, t3: {pending}})
			expectStages(t, "after retrying the AWSPENDING version without stages", afterSecond, map[string][]string{t2: {previous}, t3: {current}})
		})
}

func putTokenReuse(t *testing.T, b *backend, c *secrettest.Canaries) {
	name, v1, t1 := b.createWithValue(t, c)
	other := c.New("other")
	_, err := b.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(name), ClientRequestToken: aws.String(t1), SecretString: aws.String(other.Reveal()),
	})
	c.CheckError(err)
	b.differs(t, "PutSecretValue reusing a token with another value",
		// AWS, PutSecretValue: "if the secret data is different, then the operation fails
		// because you can't modify an existing version; you can only create new versions", as
		// ResourceExistsException (moto's AWS-verified test_put_different_secret_value_with_same_token).
		func(t *testing.T) {
			expectErr[*types.ResourceExistsException](t, c, err, "PutSecretValue reusing the token")
			expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}, t1, v1)
		},
		// LocalStack 4.7.0 overwrites the version's value.
		func(t *testing.T) {
			if err != nil {
				t.Fatalf("PutSecretValue reusing the token: %v; LocalStack was seen to overwrite", err)
			}
			expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}, t1, other)
		})
}

func putWithStages(t *testing.T, b *backend, c *secrettest.Canaries) {
	ctx := t.Context()
	name, v1, t1 := b.createWithValue(t, c)
	v2, t2 := c.New("v2"), uuid.NewString()
	out := b.put(t, c, name, t2, v2, pending)
	if aws.ToString(out.VersionId) != t2 || !slices.Equal(out.VersionStages, []string{pending}) {
		t.Errorf("PutSecretValue answered %s %v, want %s [AWSPENDING]", aws.ToString(out.VersionId), out.VersionStages, t2)
	}
	expectStages(t, "after the AWSPENDING version", b.stages(t, c, name), map[string][]string{t1: {current}, t2: {pending}})
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionStage: aws.String(pending)}, t2, v2)
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}, t1, v1)

	// A second AWSPENDING version takes the label: t2 is left with none.
	v3, t3 := c.New("v3"), uuid.NewString()
	b.put(t, c, name, t3, v3, pending)
	expectStages(t, "after a second AWSPENDING version", b.stages(t, c, name), map[string][]string{t1: {current}, t3: {pending}})
	get, err := b.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(t2)})
	c.CheckError(err)
	listed := false
	list, lerr := b.sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(name), IncludeDeprecated: aws.Bool(true)})
	c.CheckError(lerr)
	if lerr != nil {
		t.Fatalf("list versions: %v", lerr)
	}
	for _, v := range list.Versions {
		listed = listed || aws.ToString(v.VersionId) == t2
	}
	b.differs(t, "a version that lost its last label",
		// AWS keeps it, deprecated: ListSecretVersionIds, IncludeDeprecated: "Versions without
		// staging labels are considered deprecated and are subject to deletion by Secrets
		// Manager"; PutSecretValue: "Secrets Manager removes outdated versions when there are
		// more than 100, but it does not remove versions created less than 24 hours ago."
		func(t *testing.T) {
			if err != nil {
				t.Fatalf("get deprecated version %s: %v", t2, err)
			}
			if aws.ToString(get.SecretString) != v2.Reveal() || len(get.VersionStages) != 0 {
				t.Errorf("deprecated version %s: not its value, or stages %v", t2, get.VersionStages)
			}
			if !listed {
				t.Errorf("ListSecretVersionIds with IncludeDeprecated does not list %s", t2)
			}
		},
		// LocalStack 4.7.0 deletes it at once.
		func(t *testing.T) {
			expectErr[*types.ResourceNotFoundException](t, c, err, "get deprecated version "+t2)
			if listed {
				t.Errorf("ListSecretVersionIds lists %s; LocalStack was seen to delete it", t2)
			}
		})

	// Naming AWSCURRENT moves AWSPREVIOUS to the version it leaves (PutSecretValue: "If this
	// operation moves the staging label AWSCURRENT from another version to this version, then
	// Secrets Manager also automatically moves the staging label AWSPREVIOUS to the version
	// that AWSCURRENT was removed from").
	v4, t4 := c.New("v4"), uuid.NewString()
	b.put(t, c, name, t4, v4, current)
	expectStages(t, "after an explicit AWSCURRENT version", b.stages(t, c, name), map[string][]string{t1: {previous}, t3: {pending}, t4: {current}})
}

func putFirstVersion(t *testing.T, b *backend, c *secrettest.Canaries) {
	ctx := t.Context()
	out := b.create(t, c, &secretsmanager.CreateSecretInput{})
	name := aws.ToString(out.Name)
	if out.VersionId != nil {
		t.Errorf("CreateSecret without a value answered version %s", aws.ToString(out.VersionId))
	}
	if stages := b.stages(t, c, name); len(stages) != 0 {
		t.Errorf("a secret without a value has versions %v", stages)
	}
	_, err := b.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	expectErr[*types.ResourceNotFoundException](t, c, err, "GetSecretValue of a secret without a value")

	value, token := c.New("value"), uuid.NewString()
	b.put(t, c, name, token, value, pending)
	stages := b.stages(t, c, name)
	b.differs(t, "the first version, put as AWSPENDING",
		// AWS, PutSecretValue: "If this operation creates the first version for the secret,
		// then Secrets Manager automatically attaches the staging label AWSCURRENT to it."
		func(t *testing.T) {
			expectStages(t, "after the first version", stages, map[string][]string{token: {current, pending}})
			expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}, token, value)
		},
		// LocalStack 4.7.0 attaches only the labels given.
		func(t *testing.T) {
			expectStages(t, "after the first version", stages, map[string][]string{token: {pending}})
		})
}

func updateStage(t *testing.T, b *backend, c *secrettest.Canaries) {
	ctx := t.Context()
	name, _, t1 := b.createWithValue(t, c)
	v2, t2 := c.New("v2"), uuid.NewString()
	b.put(t, c, name, t2, v2)
	v3, t3 := c.New("v3"), uuid.NewString()
	b.put(t, c, name, t3, v3, pending)
	before := map[string][]string{t1: {previous}, t2: {current}, t3: {pending}}

	move := func(label, remove, to string) error {
		in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(name), VersionStage: aws.String(label)}
		if remove != "" {
			in.RemoveFromVersionId = aws.String(remove)
		}
		if to != "" {
			in.MoveToVersionId = aws.String(to)
		}
		out, err := b.sm.UpdateSecretVersionStage(ctx, in)
		c.CheckError(err)
		if err == nil && aws.ToString(out.Name) != name {
			t.Errorf("UpdateSecretVersionStage answered Name %q, want %q", aws.ToString(out.Name), name)
		}
		return err
	}

	// AWSCURRENT is on t2: moving it needs RemoveFromVersionId t2 (the message AWS answers is
	// moto's AWS-verified test_update_secret_version_stage_dont_specify_current_stage).
	expectErr[*types.InvalidParameterException](t, c, move(current, "", t3), "move AWSCURRENT without RemoveFromVersionId")
	expectErr[*types.InvalidParameterException](t, c, move(current, t1, t3), "move AWSCURRENT with the wrong RemoveFromVersionId")
	expectStages(t, "after the refused moves", b.stages(t, c, name), before)

	// UpdateSecretVersionStage: "Whenever you move AWSCURRENT, Secrets Manager automatically
	// moves the label AWSPREVIOUS to the version that AWSCURRENT was removed from." t1 is left
	// without a label.
	if err := move(current, t2, t3); err != nil {
		t.Fatalf("move AWSCURRENT from %s to %s: %v", t2, t3, err)
	}
	expectStages(t, "after moving AWSCURRENT", b.stages(t, c, name), map[string][]string{t2: {previous}, t3: {current, pending}})
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}, t3, v3)
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionStage: aws.String(previous)}, t2, v2)

	// Without MoveToVersionId the label is only removed.
	if err := move(pending, t3, ""); err != nil {
		t.Fatalf("remove AWSPENDING from %s: %v", t3, err)
	}
	expectStages(t, "after removing AWSPENDING", b.stages(t, c, name), map[string][]string{t2: {previous}, t3: {current}})
}

func updateStageHeldElsewhere(t *testing.T, b *backend, c *secrettest.Canaries) {
	name, _, t1 := b.createWithValue(t, c)
	t2 := uuid.NewString()
	b.put(t, c, name, t2, c.New("v2"), pending)
	_, err := b.sm.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(name), VersionStage: aws.String(pending), MoveToVersionId: aws.String(t1),
	})
	c.CheckError(err)
	stages := b.stages(t, c, name)
	b.differs(t, "attaching AWSPENDING held by another version without RemoveFromVersionId",
		// AWS, UpdateSecretVersionStage, RemoveFromVersionId: "If the staging label you are
		// trying to attach to one version is already attached to a different version, then
		// you must include this parameter … If the label is attached and you either do not
		// specify this parameter, or the version ID does not match, then the operation fails."
		func(t *testing.T) {
			expectErr[*types.InvalidParameterException](t, c, err, "move AWSPENDING without RemoveFromVersionId")
			expectStages(t, "after the refused move", stages, map[string][]string{t1: {current}, t2: {pending}})
		},
		// LocalStack 4.7.0 attaches it a second time: two versions carry AWSPENDING.
		func(t *testing.T) {
			if err != nil {
				t.Fatalf("move AWSPENDING without RemoveFromVersionId: %v; LocalStack was seen to accept it", err)
			}
			expectStages(t, "after the move", stages, map[string][]string{t1: {current, pending}, t2: {pending}})
		})
}

func updateStageUnknownVersion(t *testing.T, b *backend, c *secrettest.Canaries) {
	name, v1, t1 := b.createWithValue(t, c)
	_, err := b.sm.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(name), VersionStage: aws.String(current), RemoveFromVersionId: aws.String(t1), MoveToVersionId: aws.String(uuid.NewString()),
	})
	// AWS documents no answer for an unknown MoveToVersionId; the fake answers as LocalStack.
	expectErr[*types.InvalidParameterException](t, c, err, "move AWSCURRENT to an unknown version")
	stages := b.stages(t, c, name)
	b.differs(t, "a refused UpdateSecretVersionStage",
		// AWS: the call fails, and a failed call changes nothing.
		func(t *testing.T) {
			expectStages(t, "after the refused move", stages, map[string][]string{t1: {current}})
			expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}, t1, v1)
		},
		// LocalStack 4.7.0 takes AWSCURRENT off RemoveFromVersionId before it looks for
		// MoveToVersionId: the refused call leaves no version AWSCURRENT.
		func(t *testing.T) {
			expectStages(t, "after the refused move", stages, map[string][]string{})
			_, err := b.sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
			expectErr[*types.ResourceNotFoundException](t, c, err, "GetSecretValue of AWSCURRENT after the refused move")
		})
}

func getByVersion(t *testing.T, b *backend, c *secrettest.Canaries) {
	ctx := t.Context()
	name, v1, t1 := b.createWithValue(t, c)
	v2, t2 := c.New("v2"), uuid.NewString()
	b.put(t, c, name, t2, v2, pending)

	get := func(versionID, stage string) (*secretsmanager.GetSecretValueOutput, error) {
		in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}
		if versionID != "" {
			in.VersionId = aws.String(versionID)
		}
		if stage != "" {
			in.VersionStage = aws.String(stage)
		}
		out, err := b.sm.GetSecretValue(ctx, in)
		c.CheckError(err)
		return out, err
	}
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(t2)}, t2, v2)
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(t2), VersionStage: aws.String(pending)}, t2, v2)
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(t1), VersionStage: aws.String(current)}, t1, v1)

	// A VersionStage that is not on the VersionId: AWS documents only that "the two
	// parameters must refer to the same secret version"; the fake answers as LocalStack.
	_, err := get(t1, pending)
	expectErr[*types.InvalidRequestException](t, c, err, "GetSecretValue of "+t1+" as AWSPENDING")
	_, err = get("", previous)
	expectErr[*types.ResourceNotFoundException](t, c, err, "GetSecretValue of AWSPREVIOUS, which no version has")
	_, err = get(uuid.NewString(), "")
	expectErr[*types.ResourceNotFoundException](t, c, err, "GetSecretValue of an unknown version")
}

func scheduledDeletion(t *testing.T, b *backend, c *secrettest.Canaries) {
	ctx := t.Context()
	name, _, t1 := b.createWithValue(t, c)
	arn := aws.ToString(b.describe(t, c, name).ARN)

	del := func(in *secretsmanager.DeleteSecretInput) (*secretsmanager.DeleteSecretOutput, error) {
		in.SecretId = aws.String(name)
		out, err := b.sm.DeleteSecret(ctx, in)
		c.CheckError(err)
		return out, err
	}
	_, err := del(&secretsmanager.DeleteSecretInput{RecoveryWindowInDays: aws.Int64(3)})
	expectErr[*types.InvalidParameterException](t, c, err, "DeleteSecret with a 3-day window")
	_, err = del(&secretsmanager.DeleteSecretInput{RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)})
	expectErr[*types.InvalidParameterException](t, c, err, "DeleteSecret with a window and ForceDeleteWithoutRecovery")

	before := time.Now()
	out, err := del(&secretsmanager.DeleteSecretInput{RecoveryWindowInDays: aws.Int64(7)})
	after := time.Now()
	if err != nil {
		t.Fatalf("schedule deletion: %v", err)
	}
	week := 7 * 24 * time.Hour
	if d := out.DeletionDate; d == nil || d.Before(before.Add(week-2*time.Second)) || d.After(after.Add(week+2*time.Second)) {
		t.Errorf("DeletionDate %v, want 7 days from now", d)
	}
	if aws.ToString(out.ARN) != arn || aws.ToString(out.Name) != name {
		t.Errorf("DeleteSecret answered %s %s, want %s %s", aws.ToString(out.ARN), aws.ToString(out.Name), arn, name)
	}

	// DescribeSecret still answers; DeletedDate is "the date the secret is scheduled for
	// deletion".
	desc := b.describe(t, c, name)
	if d := desc.DeletedDate; d == nil || out.DeletionDate == nil || d.Sub(*out.DeletionDate).Abs() > 2*time.Second {
		t.Errorf("DeletedDate %v, want the DeletionDate %v", d, out.DeletionDate)
	}
	expectStages(t, "while scheduled for deletion", desc.VersionIdsToStages, map[string][]string{t1: {current}})

	// Everything else is InvalidRequestException, whose first documented cause is "The secret
	// is scheduled for deletion".
	_, err = b.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	expectErr[*types.InvalidRequestException](t, c, err, "GetSecretValue while scheduled for deletion")
	_, err = b.sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(name)})
	expectErr[*types.InvalidRequestException](t, c, err, "ListSecretVersionIds while scheduled for deletion")
	_, err = b.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(name), RotationLambdaARN: aws.String(b.rotationLambdaARN), RotateImmediately: aws.Bool(false)})
	expectErr[*types.InvalidRequestException](t, c, err, "RotateSecret while scheduled for deletion")
	_, err = del(&secretsmanager.DeleteSecretInput{})
	expectErr[*types.InvalidRequestException](t, c, err, "DeleteSecret again")
	_, err = b.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(c.New("again").Reveal())})
	expectErr[*types.InvalidRequestException](t, c, err, "CreateSecret of the name while scheduled for deletion")

	_, err = b.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(c.New("put").Reveal())})
	c.CheckError(err)
	b.differs(t, "PutSecretValue while scheduled for deletion",
		// AWS: InvalidRequestException, "The secret is scheduled for deletion"; DescribeSecret,
		// DeletedDate: "If a secret is scheduled for deletion, then its details, including the
		// encrypted secret value, is not accessible."
		func(t *testing.T) {
			expectErr[*types.InvalidRequestException](t, c, err, "PutSecretValue while scheduled for deletion")
		},
		// LocalStack 4.7.0 adds the version.
		func(t *testing.T) {
			if err != nil {
				t.Errorf("PutSecretValue while scheduled for deletion: %v; LocalStack was seen to accept it", err)
			}
		})

	// Forced deletion of the scheduled secret: gone, and the name is free again.
	if _, err := del(&secretsmanager.DeleteSecretInput{ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatalf("force deletion of the scheduled secret: %v", err)
	}
	_, err = b.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	expectErr[*types.ResourceNotFoundException](t, c, err, "GetSecretValue after forced deletion")
	_, err = b.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	expectErr[*types.ResourceNotFoundException](t, c, err, "DescribeSecret after forced deletion")
	again := b.create(t, c, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(c.New("again").Reveal())})
	if aws.ToString(again.ARN) == arn {
		t.Errorf("the new secret %s has the deleted one's ARN", name)
	}
}

func forceDeleteUnknown(t *testing.T, b *backend, c *secrettest.Canaries) {
	name := b.unique("lanyard-smtest-missing")
	// DeleteSecret, ForceDeleteWithoutRecovery: "If you forcibly delete an already deleted or
	// nonexistent secret, the operation does not return ResourceNotFoundException."
	out, err := b.sm.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("force deletion of an unknown secret: %v", err)
	}
	if aws.ToString(out.Name) != name {
		t.Errorf("DeleteSecret answered Name %q, want %q", aws.ToString(out.Name), name)
	}
	_, err = b.sm.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(name)})
	expectErr[*types.ResourceNotFoundException](t, c, err, "DeleteSecret of an unknown secret without force")
}

func tagResource(t *testing.T, b *backend, c *secrettest.Canaries) {
	out := b.create(t, c, &secretsmanager.CreateSecretInput{
		SecretString: aws.String(c.New("value").Reveal()),
		Tags:         []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("lanyard:partner"), Value: aws.String("p-1")}},
	})
	_, err := b.sm.TagResource(t.Context(), &secretsmanager.TagResourceInput{
		SecretId: out.ARN,
		Tags:     []types.Tag{{Key: aws.String("lanyard:partner"), Value: aws.String("p-2")}, {Key: aws.String("b"), Value: aws.String("2")}},
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("tag secret: %v", err)
	}
	want := map[string]string{"a": "1", "lanyard:partner": "p-2", "b": "2"}
	if got := tagMap(b.describe(t, c, aws.ToString(out.Name)).Tags); !maps.Equal(got, want) {
		t.Errorf("Tags = %v, want %v", got, want)
	}
}

func rotateNotImmediately(t *testing.T, b *backend, c *secrettest.Canaries) {
	name, value, t1 := b.createWithValue(t, c)
	before := time.Now()
	out, err := b.sm.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId:           aws.String(name),
		ClientRequestToken: aws.String(uuid.NewString()),
		RotationLambdaARN:  aws.String(b.rotationLambdaARN),
		RotationRules:      &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
		RotateImmediately:  aws.Bool(false),
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("RotateSecret without immediate rotation: %v", err)
	}
	if aws.ToString(out.Name) != name {
		t.Errorf("RotateSecret answered Name %q, want %q", aws.ToString(out.Name), name)
	}
	desc := b.describe(t, c, name)
	if !aws.ToBool(desc.RotationEnabled) || aws.ToString(desc.RotationLambdaARN) != b.rotationLambdaARN {
		t.Errorf("RotationEnabled %v, RotationLambdaARN %q; want true, %q", aws.ToBool(desc.RotationEnabled), aws.ToString(desc.RotationLambdaARN), b.rotationLambdaARN)
	}
	if desc.RotationRules == nil || aws.ToInt64(desc.RotationRules.AutomaticallyAfterDays) != 30 {
		t.Errorf("RotationRules = %+v, want AutomaticallyAfterDays 30", desc.RotationRules)
	}
	expectAbout(t, "NextRotationDate", desc.NextRotationDate, before.Add(30*24*time.Hour), 24*time.Hour)
	if desc.LastRotatedDate != nil {
		t.Errorf("LastRotatedDate = %v, want none: nothing was rotated", desc.LastRotatedDate)
	}
	// AWS runs the function's testSecret step on a temporary AWSPENDING version, then removes it.
	expectStages(t, "after RotateSecret", desc.VersionIdsToStages, map[string][]string{t1: {current}})
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}, t1, value)
}

func rotateRefused(t *testing.T, b *backend, c *secrettest.Canaries) {
	ctx := t.Context()
	name, _, t1 := b.createWithValue(t, c)
	// InvalidRequestException: "You tried to enable rotation on a secret that doesn't already
	// have a Lambda function ARN configured and you didn't include such an ARN".
	_, err := b.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(name), RotateImmediately: aws.Bool(false)})
	expectErr[*types.InvalidRequestException](t, c, err, "RotateSecret without a rotation function")
	for _, days := range []int64{0, 1001} {
		_, err := b.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
			SecretId: aws.String(name), RotationLambdaARN: aws.String(b.rotationLambdaARN),
			RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(days)}, RotateImmediately: aws.Bool(false),
		})
		expectErr[*types.InvalidParameterException](t, c, err, fmt.Sprintf("RotateSecret every %d days", days))
	}
	desc := b.describe(t, c, name)
	if aws.ToBool(desc.RotationEnabled) || desc.NextRotationDate != nil {
		t.Errorf("after refused rotations: RotationEnabled %v, NextRotationDate %v; want false, none", aws.ToBool(desc.RotationEnabled), desc.NextRotationDate)
	}
	expectStages(t, "after refused rotations", desc.VersionIdsToStages, map[string][]string{t1: {current}})
}

func rotateImmediately(t *testing.T, b *backend, c *secrettest.Canaries) {
	name, initial, t1 := b.createWithValue(t, c)
	token := uuid.NewString()
	out, err := b.sm.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId:           aws.String(name),
		ClientRequestToken: aws.String(token),
		RotationLambdaARN:  aws.String(b.rotationLambdaARN),
		RotationRules:      &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("rotate secret: %v", err)
	}
	if got := aws.ToString(out.VersionId); got != token {
		t.Errorf("RotateSecret answered version %s, want the ClientRequestToken %s", got, token)
	}
	// AWS runs the function after answering; wait for the rotation to complete.
	var desc *secretsmanager.DescribeSecretOutput
	polltest.Eventually(t, 30*time.Second, func() (bool, string) {
		desc = b.describe(t, c, name)
		return desc.LastRotatedDate != nil, fmt.Sprintf("not rotated yet: versions %v", desc.VersionIdsToStages)
	})
	stages := desc.VersionIdsToStages
	if !slices.Contains(stages[token], current) || !slices.Equal(stages[t1], []string{previous}) {
		t.Errorf("versions %v; want %s AWSCURRENT and %s [AWSPREVIOUS]", stages, token, t1)
	}
	if !aws.ToBool(desc.RotationEnabled) || aws.ToString(desc.RotationLambdaARN) != b.rotationLambdaARN {
		t.Errorf("RotationEnabled %v, RotationLambdaARN %q; want true, %q", aws.ToBool(desc.RotationEnabled), aws.ToString(desc.RotationLambdaARN), b.rotationLambdaARN)
	}
	expectAbout(t, "NextRotationDate", desc.NextRotationDate, desc.LastRotatedDate.Add(30*24*time.Hour), 24*time.Hour)
	got, err := b.sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("get AWSCURRENT: %v", err)
	}
	c.Add("rotated", aws.ToString(got.SecretString))
	if aws.ToString(got.VersionId) != token || aws.ToString(got.SecretString) == "" || aws.ToString(got.SecretString) == initial.Reveal() {
		t.Errorf("AWSCURRENT is version %s, want %s holding a new value", aws.ToString(got.VersionId), token)
	}
	expectValue(t, b, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionStage: aws.String(previous)}, t1, initial)
}

func rotateUnfinished(t *testing.T, b *backend, c *secrettest.Canaries) {
	ctx := t.Context()
	name, _, t1 := b.createWithValue(t, c)
	t2 := uuid.NewString()
	b.put(t, c, name, t2, c.New("stranded"), pending) // as a rotation that stopped after createSecret leaves it
	rotate := func(immediately bool) (*secretsmanager.RotateSecretOutput, error) {
		out, err := b.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
			SecretId: aws.String(name), ClientRequestToken: aws.String(uuid.NewString()), RotationLambdaARN: aws.String(b.rotationLambdaARN),
			RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}, RotateImmediately: aws.Bool(immediately),
		})
		c.CheckError(err)
		return out, err
	}
	// RotateSecret: "If the AWSPENDING staging label is present but not attached to the same
	// version as AWSCURRENT, then any later invocation of RotateSecret assumes that a previous
	// rotation request is still in progress and returns an error."
	_, err := rotate(false)
	expectErr[*types.InvalidRequestException](t, c, err, "RotateSecret without immediate rotation")
	expectStages(t, "after the refused rotation", b.stages(t, c, name), map[string][]string{t1: {current}, t2: {pending}})

	out, err := rotate(true)
	stages := b.stages(t, c, name)
	b.differs(t, "rotating immediately while AWSPENDING is stranded",
		func(t *testing.T) {
			expectErr[*types.InvalidRequestException](t, c, err, "RotateSecret")
			expectStages(t, "after the refused rotation", stages, map[string][]string{t1: {current}, t2: {pending}})
		},
		// LocalStack 4.7.0 runs the rotation function again on the pending version, which
		// completes the stranded rotation.
		func(t *testing.T) {
			if err != nil {
				t.Fatalf("RotateSecret: %v; LocalStack was seen to rotate the pending version", err)
			}
			if got := aws.ToString(out.VersionId); got != t2 {
				t.Errorf("RotateSecret answered version %s, want the pending %s", got, t2)
			}
			expectStages(t, "after the rotation", stages, map[string][]string{t1: {previous}, t2: {current, pending}})
		})
}

func cancelRotation(t *testing.T, b *backend, c *secrettest.Canaries) {
	ctx := t.Context()
	name, _, t1 := b.createWithValue(t, c)
	cancel := func(id string) error {
		_, err := b.sm.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: aws.String(id)})
		c.CheckError(err)
		return err
	}
	// "You tried to enable rotation on a secret that doesn't already have a Lambda function ARN
	// configured" is CancelRotateSecret's InvalidRequestException too.
	expectErr[*types.InvalidRequestException](t, c, cancel(name), "CancelRotateSecret of a secret never rotated")
	_, err := b.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String(name), RotationLambdaARN: aws.String(b.rotationLambdaARN),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}, RotateImmediately: aws.Bool(false),
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("rotate secret: %v", err)
	}
	t2 := uuid.NewString()
	b.put(t, c, name, t2, c.New("pending"), pending) // a rotation in progress, after createSecret
	// A second cancel succeeds as well.
	for i := range 2 {
		if err := cancel(name); err != nil {
			t.Fatalf("CancelRotateSecret %d: %v", i+1, err)
		}
	}
	desc := b.describe(t, c, name)
	if aws.ToBool(desc.RotationEnabled) || aws.ToString(desc.RotationLambdaARN) != b.rotationLambdaARN {
		t.Errorf("after CancelRotateSecret: RotationEnabled %v, RotationLambdaARN %q; want false, the function kept", aws.ToBool(desc.RotationEnabled), aws.ToString(desc.RotationLambdaARN))
	}
	// "If you cancel a rotation in progress, it can leave the VersionStage labels in an
	// unexpected state. You might need to remove the staging label AWSPENDING".
	expectStages(t, "after CancelRotateSecret", desc.VersionIdsToStages, map[string][]string{t1: {current}, t2: {pending}})
	_, err = b.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(name), VersionStage: aws.String(pending), RemoveFromVersionId: aws.String(t2),
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("remove AWSPENDING: %v", err)
	}
	expectStages(t, "after AWSPENDING is removed", b.stages(t, c, name), map[string][]string{t1: {current}})
	_, err = b.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), RecoveryWindowInDays: aws.Int64(7)})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("delete secret: %v", err)
	}
	expectErr[*types.InvalidRequestException](t, c, cancel(name), "CancelRotateSecret of a secret scheduled for deletion")
}

// differs checks a point where LocalStack does not do what AWS does: aws, on the fake, checks
// AWS's behaviour; localStack, on LocalStack, checks what LocalStack was seen to do instead.
func (b *backend) differs(t *testing.T, what string, aws, localStack func(t *testing.T)) {
	t.Helper()
	if b.localStack {
		t.Run("LocalStack differs: "+what, localStack)
		return
	}
	t.Run("AWS: "+what, aws)
}

// create creates a secret (named uniquely unless in names it) and force-deletes it when the
// test ends.
func (b *backend) create(t *testing.T, c *secrettest.Canaries, in *secretsmanager.CreateSecretInput) *secretsmanager.CreateSecretOutput {
	t.Helper()
	if in.Name == nil {
		in.Name = aws.String(b.unique("lanyard-smtest"))
	}
	name := *in.Name
	out, err := b.sm.CreateSecret(t.Context(), in)
	c.CheckError(err)
	if err != nil {
		t.Fatalf("create secret %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = b.sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	return out
}

// createWithValue creates a secret holding a fresh canary under a known token and returns its
// name, value and first version id.
func (b *backend) createWithValue(t *testing.T, c *secrettest.Canaries) (string, secret.Value, string) {
	t.Helper()
	value, token := c.New("v1"), uuid.NewString()
	out := b.create(t, c, &secretsmanager.CreateSecretInput{ClientRequestToken: aws.String(token), SecretString: aws.String(value.Reveal())})
	return aws.ToString(out.Name), value, token
}

// put adds version token holding value, with stages (none: PutSecretValue's default).
func (b *backend) put(t *testing.T, c *secrettest.Canaries, id, token string, value secret.Value, stages ...string) *secretsmanager.PutSecretValueOutput {
	t.Helper()
	out, err := b.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(id), ClientRequestToken: aws.String(token), SecretString: aws.String(value.Reveal()), VersionStages: stages,
	})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("put version %s %v: %v", token, stages, err)
	}
	return out
}

func (b *backend) describe(t *testing.T, c *secrettest.Canaries, id string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	out, err := b.sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	c.CheckError(err)
	if err != nil {
		t.Fatalf("describe secret %s: %v", id, err)
	}
	return out
}

func (b *backend) stages(t *testing.T, c *secrettest.Canaries, id string) map[string][]string {
	t.Helper()
	return b.describe(t, c, id).VersionIdsToStages
}

// expectValue reads a version, checks it is version and holds want (without printing it) and
// returns what was read.
func expectValue(t *testing.T, b *backend, c *secrettest.Canaries, in *secretsmanager.GetSecretValueInput, version string, want secret.Value) *secretsmanager.GetSecretValueOutput {
	t.Helper()
	out, err := b.sm.GetSecretValue(t.Context(), in)
	c.CheckError(err)
	what := fmt.Sprintf("GetSecretValue %s (VersionId %q, VersionStage %q)", aws.ToString(in.SecretId), aws.ToString(in.VersionId), aws.ToString(in.VersionStage))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got := aws.ToString(out.VersionId); got != version {
		t.Errorf("%s is version %s, want %s", what, got, version)
	}
	if aws.ToString(out.SecretString) != want.Reveal() {
		t.Errorf("%s: version %s does not hold the expected value", what, aws.ToString(out.VersionId))
	}
	return out
}

// expectStages compares versions to stages, the order of each version's labels aside.
func expectStages(t *testing.T, when string, got, want map[string][]string) {
	t.Helper()
	norm := func(m map[string][]string) map[string][]string {
		out := map[string][]string{}
		for k, v := range m {
			out[k] = slices.Sorted(slices.Values(v))
		}
		return out
	}
	if g, w := norm(got), norm(want); !maps.EqualFunc(g, w, slices.Equal) {
		t.Errorf("%s: versions %v, want %v", when, g, w)
	}
}

func expectAbout(t *testing.T, what string, got *time.Time, want time.Time, within time.Duration) {
	t.Helper()
	if got == nil || got.Sub(want).Abs() > within {
		t.Errorf("%s = %v, want about %v", what, got, want)
	}
}

func isErr[E error](err error) bool {
	var target E
	return errors.As(err, &target)
}

// expectErr checks err is an E (a *types.XxxException).
func expectErr[E error](t *testing.T, c *secrettest.Canaries, err error, doing string) {
	t.Helper()
	c.CheckError(err)
	if !isErr[E](err) {
		var want E
		t.Errorf("%s: %v, want %T", doing, err, want)
	}
}

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, tag := range tags {
		m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return m
}

// rotationFunction is the fake's stand-in for integration/functions/rotator: the four steps
// of an AWS rotation template, reduced to what the scenarios need.
func rotationFunction(sm api) func(ctx context.Context, secretID, token string) error {
	return func(ctx context.Context, secretID, token string) error {
		for _, step := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
			if err := rotationStep(ctx, sm, step, secretID, token); err != nil {
				return fmt.Errorf("%s of %s, version %s: %w", step, secretID, token, err)
			}
		}
		return nil
	}
}

func rotationStep(ctx context.Context, sm api, step, id, token string) error {
	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	stages, ok := desc.VersionIdsToStages[token]
	switch {
	case !aws.ToBool(desc.RotationEnabled):
		return errors.New("rotation is not enabled")
	case !ok:
		return errors.New("the token is not a version of the secret")
	case slices.Contains(stages, current):
		return nil
	case !slices.Contains(stages, pending):
		return errors.New("the token's version is not AWSPENDING")
	}
	pendingValue := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionId: aws.String(token), VersionStage: aws.String(pending)}
	switch step {
	case "createSecret":
		if _, err := sm.GetSecretValue(ctx, pendingValue); err == nil {
			return nil
		} else if !isErr[*types.ResourceNotFoundException](err) {
			return fmt.Errorf("get AWSPENDING: %w", err)
		}
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(id), ClientRequestToken: aws.String(token), SecretString: aws.String(hex.EncodeToString(b)), VersionStages: []string{pending},
		})
		return err
	case "testSecret":
		_, err := sm.GetSecretValue(ctx, pendingValue)
		return err
	case "finishSecret":
		var from string
		for v, s := range desc.VersionIdsToStages {
			if slices.Contains(s, current) {
				from = v
			}
		}
		_, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(id), VersionStage: aws.String(current), MoveToVersionId: aws.String(token), RemoveFromVersionId: aws.String(from),
		})
		return err
	}
	return nil
}
