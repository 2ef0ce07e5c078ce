package rotation_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// scanDB adds Scan to the DynamoDB fake: every item of the table in key order, PageSize at a
// time (the fake has no Scan; the Enabler reads every page, so paging is what matters here).
type scanDB struct {
	*dynamodbtest.DynamoDB
	PageSize int
	// Fail, when set, fails every Scan.
	Fail error
}

func (d scanDB) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	if d.Fail != nil {
		return nil, d.Fail
	}
	items := d.Items(aws.ToString(in.TableName))
	id := func(it dynamodbtest.Item) string {
		return it[partners.PartitionKey].(*types.AttributeValueMemberS).Value
	}
	start := 0
	if in.ExclusiveStartKey != nil {
		last := in.ExclusiveStartKey[partners.PartitionKey].(*types.AttributeValueMemberS).Value
		if start = slices.IndexFunc(items, func(it dynamodbtest.Item) bool { return id(it) > last }); start < 0 {
			start = len(items)
		}
	}
	end := min(start+d.PageSize, len(items))
	out := &dynamodb.ScanOutput{Items: items[start:end], Count: int32(end - start)} //nolint:gosec // a test's handful of items
	if end < len(items) {
		out.LastEvaluatedKey = partners.Key(id(items[end-1]))
	}
	return out, nil
}

// addPartner adds a partner in tier with status: its secret (holding a new key, tagged) and its
// item, with rotation switched on (the fixture's function, the tier's interval,
// RotateImmediately=false) when rotating. It returns the partner id and the secret's ARN.
func addPartner(fx *fixture, tier, status string, rotating bool) (string, string) {
	fx.t.Helper()
	ctx := fx.t.Context()
	id := partners.NewID()
	k, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.c.Add("key of "+id, k.Plaintext().Reveal())
	out, err := fx.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String(testSecretPrefix + id),
		ClientRequestToken: aws.String(uuid.NewString()),
		SecretString:       aws.String(k.Plaintext().Reveal()),
		Tags:               []smtypes.Tag{{Key: aws.String(rotation.PartnerTag), Value: aws.String(id)}},
	})
	if err != nil {
		fx.t.Fatal(err)
	}
	arn := aws.ToString(out.ARN)
	p := partners.Partner{
		PartnerID: id, PartnerName: "Partner " + id, Tier: tier, Scopes: []string{"orders:read"}, Status: status,
		KeyID: string(k.ID()), SecretARN: arn, IdentityMethod: partners.IdentityMethodInvite, InviteID: "inv-1",
		Justification: "test", PolicyRevision: 1, CreatedAt: fx.clock.Now(),
	}
	if _, err := fx.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(testTables.Partners), Item: itemtest.Must(p.Item())(fx.t)}); err != nil {
		fx.t.Fatal(err)
	}
	if rotating {
		t, _ := fx.policy.Tier(tier)
		_, err := fx.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
			SecretId: aws.String(arn), RotationLambdaARN: aws.String(rotationLambda),
			RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(int64(t.Rotation.IntervalDays))},
			RotateImmediately: aws.Bool(false),
		})
		if err != nil {
			fx.t.Fatal(err)
		}
	}
	return id, arn
}

// putAccountClaim adds an AWS account's claim item to the partners table, as onboarding writes
// it for a partner that proved an AWS identity.
func putAccountClaim(fx *fixture) {
	fx.t.Helper()
	item := map[string]types.AttributeValue{
		partners.PartitionKey: &types.AttributeValueMemberS{Value: partners.AccountKeyPrefix + "123456789012"},
		"ownerPartnerId":      &types.AttributeValueMemberS{Value: fx.partnerID},
		"state":               &types.AttributeValueMemberS{Value: "onboarded"},
	}
	if _, err := fx.db.PutItem(fx.t.Context(), &dynamodb.PutItemInput{TableName: aws.String(testTables.Partners), Item: item}); err != nil {
		fx.t.Fatal(err)
	}
}

func invalidRequest(msg string) error {
	return &smtypes.InvalidRequestException{Message: aws.String(msg)}
}

func (fx *fixture) enabler() *rotation.Enabler {
	return &rotation.Enabler{
		DB: scanDB{DynamoDB: fx.db, PageSize: 2}, Secrets: fx.sm, PartnersTable: testTables.Partners,
		FunctionARN: rotationLambda, Policy: fx.policy,
	}
}

// describe is the secret's description.
func (fx *fixture) describe(arn string) *secretsmanager.DescribeSecretOutput {
	fx.t.Helper()
	d, err := fx.sm.DescribeSecret(fx.t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		fx.t.Fatal(err)
	}
	return d
}

// `lanyard rotation enable --all` switches rotation on for every partner whose secret has it
// off — the function, the tier's interval, no rotation now — leaves the others as they are,
// skips the AWS account claims and partners that are not active, and reports each partner
// once, failures included. A second run finds every rotation on.
func TestEnableAll(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c) // a standard partner whose rotation onboarding switched on
	sandbox, sandboxARN := addPartner(fx, "sandbox", partners.StatusActive, false)
	premium, premiumARN := addPartner(fx, "premium", partners.StatusActive, false)
	deleted, deletedARN := addPartner(fx, "sandbox", partners.StatusActive, false)
	if _, err := fx.sm.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(deletedARN)}); err != nil {
		t.Fatal(err)
	}
	unknownTier, _ := addPartner(fx, "gold", partners.StatusActive, false)
	suspended, suspendedARN := addPartner(fx, "sandbox", "suspended", false)
	putAccountClaim(fx)
	broken := partners.NewID()
	if _, err := fx.db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(testTables.Partners),
		Item: partners.Key(broken)}); err != nil {
		t.Fatal(err)
	}
	versions := map[string]map[string][]string{}
	for _, arn := range []string{sandboxARN, premiumARN, suspendedARN} {
		versions[arn] = fx.describe(arn).VersionIdsToStages
	}

	var reported []rotation.Result
	results, err := fx.enabler().All(t.Context(), func(r rotation.Result) { reported = append(reported, r) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(results, reported, func(a, b rotation.Result) bool { return a == b }) {
		t.Errorf("reported %v, returned %v", reported, results)
	}
	got := map[string]rotation.Result{}
	for _, r := range results {
		if _, dup := got[r.PartnerID]; dup {
			t.Errorf("partner %s reported twice", r.PartnerID)
		}
		got[r.PartnerID] = r
	}
	want := map[string]struct {
		outcome rotation.Outcome
		days    int64
		detail  string
	}{
		fx.partnerID: {rotation.OutcomeAlreadyOn, 30, ""},
		sandbox:      {rotation.OutcomeEnabled, 7, ""},
		premium:      {rotation.OutcomeEnabled, 30, ""},
		deleted:      {rotation.OutcomeFailed, 0, "scheduled for deletion"},
		unknownTier:  {rotation.OutcomeFailed, 0, `tier "gold" is not in policy revision`},
		suspended:    {rotation.OutcomeSkipped, 0, "partner is suspended"},
		broken:       {rotation.OutcomeFailed, 0, "attribute partnerName missing"},
	}
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("results for %v, want %v (no account claim)", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for id, w := range want {
		r := got[id]
		if r.Outcome != w.outcome || r.IntervalDays != w.days || !strings.Contains(r.Detail, w.detail) || (w.detail == "" && r.Detail != "") {
			t.Errorf("partner %s: %+v, want %s every %d days, detail %q", id, r, w.outcome, w.days, w.detail)
		}
	}
	for arn, days := range map[string]int64{sandboxARN: 7, premiumARN: 30} {
		d := fx.describe(arn)
		if !aws.ToBool(d.RotationEnabled) || aws.ToString(d.RotationLambdaARN) != rotationLambda || d.RotationRules == nil ||
			aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != days || d.NextRotationDate == nil {
			t.Errorf("secret %s: enabled %v, function %s, rules %+v", arn, aws.ToBool(d.RotationEnabled), aws.ToString(d.RotationLambdaARN), d.RotationRules)
		}
	}
	for arn, stages := range versions {
		if d := fx.describe(arn); !maps.EqualFunc(d.VersionIdsToStages, stages, slices.Equal) {
			t.Errorf("secret %s: versions %v, then %v; nothing may rotate now", arn, stages, d.VersionIdsToStages)
		}
	}
	if d := fx.describe(suspendedARN); aws.ToBool(d.RotationEnabled) {
		t.Error("rotation switched on for a suspended partner")
	}
	if len(fx.errs) > 0 {
		t.Errorf("a rotation ran: %v", fx.errs)
	}

	// Again: every rotation the first run switched on is on now.
	again, err := fx.enabler().All(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again {
		if (r.PartnerID == sandbox || r.PartnerID == premium) && r.Outcome != rotation.OutcomeAlreadyOn {
			t.Errorf("second run, partner %s: %+v", r.PartnerID, r)
		}
	}
}

// Partners named one by one: those the table does not hold fail; a rotation already on with
// another function is reported, not changed.
func TestEnablePartners(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	off, offARN := addPartner(fx, "sandbox", partners.StatusActive, false)
	missing := partners.NewID()
	e := fx.enabler()
	e.FunctionARN = "arn:aws:lambda:us-east-1:123456789012:function:another-rotation"
	results, err := e.Partners(t.Context(), []string{off, missing, fx.partnerID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []rotation.Result{
		{PartnerID: off, Tier: "sandbox", SecretARN: offARN, Outcome: rotation.OutcomeEnabled, IntervalDays: 7},
		{PartnerID: missing, Outcome: rotation.OutcomeFailed, Detail: "no such partner"},
		{PartnerID: fx.partnerID, Tier: testTier, SecretARN: fx.secretARN, Outcome: rotation.OutcomeAlreadyOn, IntervalDays: 30,
			Detail: "rotated by another function: " + rotationLambda},
	}
	if len(results) != len(want) {
		t.Fatalf("%d results, want %d", len(results), len(want))
	}
	for i, w := range want {
		if results[i] != w {
			t.Errorf("result %d: %+v, want %+v", i, results[i], w)
		}
	}
	if d := fx.describe(fx.secretARN); aws.ToString(d.RotationLambdaARN) != rotationLambda {
		t.Errorf("the rotation already on was changed to function %s", aws.ToString(d.RotationLambdaARN))
	}
}

// A failure to list the partners is the Enabler's error; a failing RotateSecret is the
// partner's failure, and the next partner is still done.
func TestEnableFailures(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	e := fx.enabler()
	e.DB = scanDB{DynamoDB: fx.db, PageSize: 2, Fail: errors.New("access denied")}
	if _, err := e.All(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "scan partners table partners: access denied") {
		t.Errorf("All with a failing scan: %v", err)
	}

	a, _ := addPartner(fx, "sandbox", partners.StatusActive, false)
	b, _ := addPartner(fx, "sandbox", partners.StatusActive, false)
	e = fx.enabler()
	first := true
	e.Secrets = rotateOnce{EnableSecretsAPI: fx.sm, first: &first}
	results, err := e.Partners(t.Context(), []string{a, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Outcome != rotation.OutcomeFailed || !strings.Contains(results[0].Detail, "RotateSecret: throttled") ||
		results[1].Outcome != rotation.OutcomeEnabled {
		t.Errorf("results %+v", results)
	}
}

// rotateOnce fails the first RotateSecret.
type rotateOnce struct {
	rotation.EnableSecretsAPI
	first *bool
}

func (r rotateOnce) RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	if *r.first {
		*r.first = false
		return nil, errors.New("throttled")
	}
	return r.EnableSecretsAPI.RotateSecret(ctx, in, opts...)
}
