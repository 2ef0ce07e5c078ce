package rotation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secretsmanagertest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/authorizer"
	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/topology"
)

var testTables = rotation.Tables{Partners: "partners", Credentials: "credentials", Outbox: "outbox"}

const (
	testSecretPrefix = "lanyard/partners/"
	testTier         = "standard"
	rotationLambda   = "arn:aws:lambda:us-east-1:123456789012:function:rotation"
	stageARN         = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/v1"
)

var (
	start      = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	testScopes = []string{"orders:read", "inventory:read"}
	steps      = []string{events.StepCreateSecret, events.StepSetSecret, events.StepTestSecret, events.StepFinishSecret}
)

// clock is a settable clock shared by the handler and the Secrets Manager fake.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var errCrashed = errors.New("injected: the function crashed")

// faults stands between the handler and its AWS clients. It knows which step is running, lists
// the AWS calls each step makes, and injects faults:
//
//   - a crash after call n of a step: the call is made, its answer lost, and every later call
//     of that invocation fails too, as when the process dies (Lambda, then Secrets Manager,
//     see the invocation fail); it fires once;
//   - a failure of every call matching fail, made without doing the call.
type faults struct {
	mu         sync.Mutex
	step       string
	calls      []string // this invocation's calls, "Service.Operation"
	crashed    bool
	crashStep  string
	crashAfter int
	fail       func(step, op string) bool
	// intercept, when set, runs before each call (outside the lock): a competing writer.
	intercept func(step, op string)
	// perStep records each step's calls in the last invocation of the step.
	perStep map[string][]string
}

func (f *faults) begin(step string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.step, f.calls, f.crashed = step, nil, false
}

func (f *faults) end() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.perStep == nil {
		f.perStep = map[string][]string{}
	}
	f.perStep[f.step] = f.calls
	f.step = ""
}

// crashAfterCall arms a crash after call n of step.
func (f *faults) crashAfterCall(step string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashStep, f.crashAfter = step, n
}

func (f *faults) failing(fn func(step, op string) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fn
}

func (f *faults) before(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed {
		return fmt.Errorf("%s: %w", op, errCrashed)
	}
	if f.fail != nil && f.fail(f.step, op) {
		return fmt.Errorf("%s: injected failure", op)
	}
	return nil
}

func (f *faults) after(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	if f.step != "" && f.step == f.crashStep && len(f.calls) == f.crashAfter {
		f.crashed, f.crashStep = true, ""
		return fmt.Errorf("%s: %w", op, errCrashed)
	}
	return nil
}

func (f *faults) intercepting(fn func(step, op string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intercept = fn
}

func call[O any](f *faults, op string, do func() (*O, error)) (*O, error) {
	f.mu.Lock()
	intercept, step := f.intercept, f.step
	f.mu.Unlock()
	if intercept != nil {
		intercept(step, op)
	}
	if err := f.before(op); err != nil {
		return nil, err
	}
	out, err := do()
	if ferr := f.after(op); ferr != nil {
		return nil, ferr
	}
	return out, err
}

type faultyDynamoDB struct {
	db *dynamodbtest.DynamoDB
	f  *faults
}

func (d faultyDynamoDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return call(d.f, "DynamoDB.GetItem", func() (*dynamodb.GetItemOutput, error) { return d.db.GetItem(ctx, in, opts...) })
}

func (d faultyDynamoDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return call(d.f, "DynamoDB.BatchGetItem", func() (*dynamodb.BatchGetItemOutput, error) { return d.db.BatchGetItem(ctx, in, opts...) })
}

func (d faultyDynamoDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return call(d.f, "DynamoDB.Query", func() (*dynamodb.QueryOutput, error) { return d.db.Query(ctx, in, opts...) })
}

func (d faultyDynamoDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return call(d.f, "DynamoDB.TransactWriteItems", func() (*dynamodb.TransactWriteItemsOutput, error) { return d.db.TransactWriteItems(ctx, in, opts...) })
}

type faultySecrets struct {
	sm *secretsmanagertest.SecretsManager
	f  *faults
}

func (s faultySecrets) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return call(s.f, "SecretsManager.DescribeSecret", func() (*secretsmanager.DescribeSecretOutput, error) { return s.sm.DescribeSecret(ctx, in, opts...) })
}

func (s faultySecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return call(s.f, "SecretsManager.GetSecretValue", func() (*secretsmanager.GetSecretValueOutput, error) { return s.sm.GetSecretValue(ctx, in, opts...) })
}

func (s faultySecrets) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	return call(s.f, "SecretsManager.PutSecretValue", func() (*secretsmanager.PutSecretValueOutput, error) { return s.sm.PutSecretValue(ctx, in, opts...) })
}

func (s faultySecrets) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	return call(s.f, "SecretsManager.UpdateSecretVersionStage", func() (*secretsmanager.UpdateSecretVersionStageOutput, error) {
		return s.sm.UpdateSecretVersionStage(ctx, in, opts...)
	})
}

// fixture is one onboarded partner with rotation switched on, and the rotation function wired
// as the Secrets Manager fake's rotation function.
type fixture struct {
	t      *testing.T
	c      *secrettest.Canaries
	clock  *clock
	db     *dynamodbtest.DynamoDB
	sm     *secretsmanagertest.SecretsManager
	faults *faults
	h      *rotation.Handler
	policy *policy.Policy

	partnerID  string
	secretARN  string
	secretName string
	// key0 and version0 are the key onboarding issued and its secret version.
	key0     credential.Key
	version0 string
	// errs collects the errors of the steps the fake's RotateSecret ran.
	errs []error
	// untagged: the secret has no partner tag, only its name says whose it is.
	untagged bool
	// stepsByName: the fake's RotateSecret hands the steps the secret's name, not its ARN.
	stepsByName bool
}

func newFixture(t *testing.T, c *secrettest.Canaries, opts ...func(*fixture)) *fixture {
	t.Helper()
	clk := &clock{t: start}
	db := dynamodbtest.NewDynamoDB()
	s := func(name string) dynamodbtest.KeyAttr {
		return dynamodbtest.KeyAttr{Name: name, Type: types.ScalarAttributeTypeS}
	}
	db.CreateTable(testTables.Partners, s(partners.PartitionKey), nil)
	db.CreateTable(testTables.Credentials, s(registry.PartitionKey), nil)
	db.CreateTable(testTables.Outbox, s(outbox.PartitionKey), &dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: types.ScalarAttributeTypeN})
	sm := secretsmanagertest.New(secretsmanagertest.Options{Now: clk.Now})
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	f := &faults{}
	fx := &fixture{t: t, c: c, clock: clk, db: db, sm: sm, faults: f, policy: pol}
	for _, o := range opts {
		o(fx)
	}
	fx.h = &rotation.Handler{
		DB:           faultyDynamoDB{db: db, f: f},
		Secrets:      faultySecrets{sm: sm, f: f},
		Tables:       testTables,
		Policy:       pol,
		SecretPrefix: testSecretPrefix,
		Env:          credential.EnvLocal,
		Now:          clk.Now,
	}
	// RotateSecret drives the rotation function through the four steps, as Secrets Manager
	// does, stopping at the first failure.
	sm.Rotate = func(ctx context.Context, secretID, token string) error {
		if fx.stepsByName {
			secretID = fx.secretName
		}
		for _, step := range steps {
			if err := fx.step(ctx, step, secretID, token); err != nil {
				fx.errs = append(fx.errs, err)
				return err
			}
		}
		return nil
	}
	fx.onboard()
	return fx
}

// onboard creates the partner as onboarding does — its secret (tagged, version 0 holding the
// key), its item and the key's registry entry — and switches rotation on as onboarding will:
// RotateSecret with the function, the tier's interval, RotateImmediately=false.
func (fx *fixture) onboard() {
	t := fx.t
	fx.partnerID = partners.NewID()
	k, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		t.Fatal(err)
	}
	fx.c.Add("key issued at onboarding", k.Plaintext().Reveal())
	fx.key0, fx.version0 = k, uuid.NewString()
	fx.secretName = testSecretPrefix + fx.partnerID
	in := &secretsmanager.CreateSecretInput{
		Name:               aws.String(fx.secretName),
		ClientRequestToken: aws.String(fx.version0),
		SecretString:       aws.String(k.Plaintext().Reveal()),
		Tags:               []smtypes.Tag{{Key: aws.String(rotation.PartnerTag), Value: aws.String(fx.partnerID)}},
	}
	if fx.untagged {
		in.Tags = nil
	}
	out, err := fx.sm.CreateSecret(t.Context(), in)
	if err != nil {
		t.Fatalf("create the secret: %v", err)
	}
	fx.secretARN = aws.ToString(out.ARN)
	tier, _ := fx.policy.Tier(testTier)
	now := fx.clock.Now()
	_, err = fx.db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		itemtest.Must(partners.PutNew(testTables.Partners, partners.Partner{
			PartnerID: fx.partnerID, PartnerName: "Acme Logistics", Tier: testTier, Scopes: testScopes,
			Status: partners.StatusActive, KeyID: string(k.ID()), SecretARN: fx.secretARN,
			IdentityMethod: partners.IdentityMethodInvite, InviteID: "inv-1", Justification: "test", PolicyRevision: 1, CreatedAt: now,
		}))(t),
		itemtest.Must(registry.PutNew(testTables.Credentials, registry.Entry{
			KeyID: k.ID(), PartnerID: fx.partnerID, Verifier: credential.NewVerifier(k), Scopes: testScopes, Tier: testTier,
			Status: registry.StatusActive, NotBefore: now, NotAfter: now.Add(tier.KeyLifetime.Std()),
			SecretARN: fx.secretARN, SecretVersionID: fx.version0, CreatedAt: now,
		}))(t),
	}})
	if err != nil {
		t.Fatalf("onboard: %v", err)
	}
	_, err = fx.sm.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(fx.secretARN),
		RotationLambdaARN: aws.String(rotationLambda),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(int64(tier.Rotation.IntervalDays))},
		RotateImmediately: aws.Bool(false),
	})
	if err != nil {
		t.Fatalf("switch rotation on: %v", err)
	}
}

// step runs one step of the rotation function as Lambda would, its AWS calls recorded.
func (fx *fixture) step(ctx context.Context, step, secretID, token string) error {
	fx.faults.begin(step)
	defer fx.faults.end()
	err := fx.h.Handle(ctx, lambdaevents.SecretsManagerSecretRotationEvent{Step: step, SecretID: secretID, ClientRequestToken: token})
	fx.c.CheckError(err)
	return err
}

// steps runs the four steps with token, as Secrets Manager retries a rotation, and returns the
// first error.
func (fx *fixture) steps(token string) error {
	for _, step := range steps {
		if err := fx.step(fx.t.Context(), step, fx.secretARN, token); err != nil {
			return err
		}
	}
	return nil
}

// rotate starts a rotation with RotateSecret, rotating immediately, and returns the token. It
// fails the test when RotateSecret refuses.
func (fx *fixture) rotate() string {
	fx.t.Helper()
	token := uuid.NewString()
	if _, err := fx.rotateSecret(token, true); err != nil {
		fx.t.Fatalf("RotateSecret: %v", err)
	}
	return token
}

// pendingVersion starts a rotation whose function does not run: RotateSecret leaves the
// token's version empty and staged AWSPENDING, as Secrets Manager does before it calls the
// function.
func (fx *fixture) pendingVersion() string {
	fx.t.Helper()
	hook := fx.sm.Rotate
	fx.sm.Rotate = func(context.Context, string, string) error { return errors.New("the rotation function is not called") }
	defer func() { fx.sm.Rotate = hook }()
	return fx.rotate()
}

func (fx *fixture) rotateSecret(token string, immediately bool) (*secretsmanager.RotateSecretOutput, error) {
	out, err := fx.sm.RotateSecret(fx.t.Context(), &secretsmanager.RotateSecretInput{
		SecretId:           aws.String(fx.secretARN),
		ClientRequestToken: aws.String(token),
		RotateImmediately:  aws.Bool(immediately),
	})
	fx.c.CheckError(err)
	return out, err
}

// stages is the secret's VersionIdsToStages.
func (fx *fixture) stages() map[string][]string {
	fx.t.Helper()
	out, err := fx.sm.DescribeSecret(fx.t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(fx.secretARN)})
	if err != nil {
		fx.t.Fatalf("describe: %v", err)
	}
	for _, s := range out.VersionIdsToStages {
		sort.Strings(s)
	}
	return out.VersionIdsToStages
}

// keyAt reads the key in a version (by id, or by stage when versionID is "").
func (fx *fixture) keyAt(versionID, stage string) credential.Key {
	fx.t.Helper()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(fx.secretARN)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	out, err := fx.sm.GetSecretValue(fx.t.Context(), in)
	if err != nil {
		fx.t.Fatalf("read version %q stage %q: %v", versionID, stage, err)
	}
	k, err := credential.Parse(aws.ToString(out.SecretString))
	if err != nil {
		fx.t.Fatalf("version %q stage %q does not hold a key: %v", versionID, stage, err)
	}
	fx.c.Add("key in version "+aws.ToString(out.VersionId), k.Plaintext().Reveal())
	return k
}

// entry reads a registry entry.
func (fx *fixture) entry(id credential.KeyID) registry.Entry {
	fx.t.Helper()
	e, err := (&registry.Store{DB: fx.db, Table: testTables.Credentials}).Get(fx.t.Context(), id)
	if err != nil {
		fx.t.Fatalf("registry entry %s: %v", id, err)
	}
	return e
}

// entries lists the partner's registry entries.
func (fx *fixture) entries() []registry.Entry {
	fx.t.Helper()
	var out []registry.Entry
	for _, item := range fx.db.Items(testTables.Credentials) {
		e, err := registry.EntryFromItem(item)
		if err != nil {
			fx.t.Fatal(err)
		}
		if e.PartnerID == fx.partnerID {
			out = append(out, e)
		}
	}
	return out
}

// partnerItem reads the partner's raw item.
func (fx *fixture) partnerItem() map[string]types.AttributeValue {
	fx.t.Helper()
	out, err := fx.db.GetItem(fx.t.Context(), &dynamodb.GetItemInput{TableName: aws.String(testTables.Partners), Key: partners.Key(fx.partnerID)})
	if err != nil || out.Item == nil {
		fx.t.Fatalf("partner item: %v", err)
	}
	return out.Item
}

func attrS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// records decodes the partner's outbox records, checking the chain and each event against
// its schema.
func (fx *fixture) records() []events.Detail {
	fx.t.Helper()
	store := &outbox.Store{DB: fx.db, Table: testTables.Outbox}
	if err := store.VerifyPartner(fx.t.Context(), fx.partnerID); err != nil {
		fx.t.Fatalf("the partner's outbox chain does not verify: %v", err)
	}
	recs, err := store.Records(fx.t.Context(), fx.partnerID)
	if err != nil {
		fx.t.Fatal(err)
	}
	var out []events.Detail
	for _, r := range recs {
		fx.c.CheckText("outbox record", string(r.Detail))
		env, err := json.Marshal(map[string]any{
			"version": "0", "id": r.EventID, "detail-type": r.DetailType, "source": events.Source,
			"account": "123456789012", "time": r.Time, "region": "us-east-1", "resources": []string{}, "detail": r.Detail,
		})
		if err != nil {
			fx.t.Fatal(err)
		}
		if err := events.Validate(env); err != nil {
			fx.t.Errorf("record %d does not match its schema: %v", r.Seq, err)
		}
		_, d, err := events.Decode(env)
		if err != nil {
			fx.t.Fatalf("record %d: %v", r.Seq, err)
		}
		out = append(out, d)
	}
	return out
}

func rotated(ds []events.Detail) []*events.CredentialRotated {
	var out []*events.CredentialRotated
	for _, d := range ds {
		if r, ok := d.(*events.CredentialRotated); ok {
			out = append(out, r)
		}
	}
	return out
}

func failed(ds []events.Detail) []*events.CredentialRotationFailed {
	var out []*events.CredentialRotationFailed
	for _, d := range ds {
		if r, ok := d.(*events.CredentialRotationFailed); ok {
			out = append(out, r)
		}
	}
	return out
}

// snapshot is everything a rotation step can change, to compare before and after.
type snapshot struct {
	Tables map[string][]dynamodbtest.Item
	Stages map[string][]string
}

func (fx *fixture) snapshot() snapshot {
	s := snapshot{Tables: map[string][]dynamodbtest.Item{}, Stages: fx.stages()}
	for _, name := range []string{testTables.Partners, testTables.Credentials, testTables.Outbox} {
		s.Tables[name] = fx.db.Items(name)
	}
	return s
}

func (fx *fixture) unchanged(what string, before snapshot) {
	fx.t.Helper()
	after := fx.snapshot()
	if !reflect.DeepEqual(before.Stages, after.Stages) {
		fx.t.Errorf("%s changed the staging labels: %v, then %v", what, before.Stages, after.Stages)
	}
	for name, items := range before.Tables {
		if !reflect.DeepEqual(items, after.Tables[name]) {
			fx.t.Errorf("%s changed table %s", what, name) // items may hold verifiers: not printed
		}
	}
}

// authorize runs the authorizer, the verify path's code, on the key.
func (fx *fixture) authorize(k credential.Key) (allowed bool, err error) {
	a := &authorizer.Authorizer{
		Lookup:      &registry.Store{DB: fx.db, Table: testTables.Credentials},
		Routes:      topology.PartnerKeyRoutes(topology.Lanyard().Routes),
		Environment: credential.EnvLocal,
		Now:         fx.clock.Now,
	}
	resp, err := a.Authorize(fx.t.Context(), lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type: "REQUEST", MethodArn: stageARN + "/GET/v1/partners/me", Resource: "/v1/partners/me", Path: "/v1/partners/me",
		HTTPMethod: "GET", Headers: map[string]string{"Authorization": "Bearer " + k.Plaintext().Reveal()},
	})
	fx.c.CheckError(err)
	if err != nil {
		return false, err
	}
	b, _ := json.Marshal(resp)
	fx.c.CheckText("authorizer response", string(b))
	return len(resp.PolicyDocument.Statement) > 0 && resp.PolicyDocument.Statement[0].Effect == "Allow", nil
}

// converged checks the rotation with token finished from the key previous (in its version
// previousVersion), and returns the new key: the token's version is AWSCURRENT holding a new
// key, the previous version AWSPREVIOUS, no AWSPENDING stranded; the registry holds the new key
// active and the previous one previous until finishedAt + the grace window; the partner's
// keyId is the new key; the outbox chain verifies and holds one Credential Rotated for token.
func (fx *fixture) converged(token string, previous credential.Key, previousVersion string, finishedAt time.Time) credential.Key {
	fx.t.Helper()
	t := fx.t
	stages := fx.stages()
	if !slices.Contains(stages[token], "AWSCURRENT") {
		t.Fatalf("version %s is not AWSCURRENT: stages %v", token, stages)
	}
	if !slices.Contains(stages[previousVersion], "AWSPREVIOUS") {
		t.Errorf("version %s is not AWSPREVIOUS: stages %v", previousVersion, stages)
	}
	for v, s := range stages {
		if slices.Contains(s, "AWSPENDING") && !slices.Contains(s, "AWSCURRENT") {
			t.Errorf("AWSPENDING stranded on version %s: stages %v", v, stages)
		}
	}
	k := fx.keyAt(token, "")
	if k.ID() == previous.ID() {
		t.Fatalf("the new version holds the previous key %s", k.ID())
	}
	tier, _ := fx.policy.Tier(testTier)
	e := fx.entry(k.ID())
	if e.Status != registry.StatusActive || !e.Verifier.Matches(k) || e.SecretVersionID != token || e.SecretARN != fx.secretARN ||
		e.Tier != testTier || !slices.Equal(e.Scopes, []string{"inventory:read", "orders:read"}) {
		t.Errorf("new key's entry: status %s, matches %v, version %s, secret %s, tier %s, scopes %v", e.Status, e.Verifier.Matches(k), e.SecretVersionID, e.SecretARN, e.Tier, e.Scopes)
	}
	if !e.NotAfter.Equal(e.NotBefore.Add(tier.KeyLifetime.Std())) {
		t.Errorf("new key valid %s to %s, want the tier's lifetime %s", e.NotBefore, e.NotAfter, tier.KeyLifetime.Std())
	}
	p := fx.entry(previous.ID())
	if want := finishedAt.Add(tier.Rotation.GraceWindow.Std()); p.Status != registry.StatusPrevious || !p.GraceUntil.Equal(want) {
		t.Errorf("previous key's entry: status %s, grace until %s; want previous until %s", p.Status, p.GraceUntil, want)
	}
	item := fx.partnerItem()
	if got := attrS(item, "keyId"); got != string(k.ID()) {
		t.Errorf("partner keyId %s, want the new key %s", got, k.ID())
	}
	if got := attrS(item, partners.AttrPreviousKeyID); got != string(previous.ID()) {
		t.Errorf("partner previousKeyId %s, want %s", got, previous.ID())
	}
	if _, ok := item[partners.AttrPendingKeyID]; ok {
		t.Errorf("partner still has a pendingKeyId")
	}
	var mine []*events.CredentialRotated
	for _, r := range rotated(fx.records()) {
		if r.VersionID == token {
			mine = append(mine, r)
		}
	}
	if len(mine) != 1 {
		t.Fatalf("%d Credential Rotated for version %s, want 1", len(mine), token)
	}
	r := mine[0]
	if r.KeyID != string(k.ID()) || r.PreviousKeyID != string(previous.ID()) || r.SecretARN != fx.secretARN ||
		!r.GraceUntil.Equal(p.GraceUntil) || r.Actor != (events.Actor{Kind: events.ActorSystem, ID: rotation.DefaultActor}) {
		t.Errorf("Credential Rotated %+v", *r)
	}
	fx.checkTables()
	return k
}

// checkTables hands every item of the tables to the canaries: no key is ever stored in DynamoDB.
func (fx *fixture) checkTables() {
	fx.t.Helper()
	for _, name := range []string{testTables.Partners, testTables.Credentials, testTables.Outbox} {
		b, err := json.Marshal(fx.db.Items(name))
		if err != nil {
			fx.t.Fatal(err)
		}
		fx.c.CheckText("table "+name, string(b))
	}
}
