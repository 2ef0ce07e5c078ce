package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secretsmanagertest"
	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

const (
	testFunctionARN = "arn:aws:lambda:us-east-1:123456789012:function:lanyard-RotationFunction-AbC123"
	testTable       = "lanyard-PartnersTable-XYZ"
)

// scanningDB adds Scan to the DynamoDB fake: the table's items in key order, one page.
type scanningDB struct{ *dynamodbtest.DynamoDB }

func (d scanningDB) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	items := d.Items(aws.ToString(in.TableName))
	return &dynamodb.ScanOutput{Items: items, Count: int32(len(items))}, nil //nolint:gosec // a test's handful of items
}

// world is a partners table and Secrets Manager with partners in it.
type world struct {
	t     *testing.T
	db    *dynamodbtest.DynamoDB
	sm    *secretsmanagertest.SecretsManager
	table string
	// target is what the command asked to connect to.
	target *rotationTarget
}

func newWorld(t *testing.T, table string) *world {
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable(table, dynamodbtest.KeyAttr{Name: partners.PartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	return &world{t: t, db: db, sm: secretsmanagertest.New(secretsmanagertest.Options{}), table: table}
}

func (w *world) connect(_ context.Context, t rotationTarget) (rotation.EnableDynamoDBAPI, rotation.EnableSecretsAPI, error) {
	w.target = &t
	return scanningDB{w.db}, w.sm, nil
}

// add puts a partner of tier with its secret; rotating switches rotation on with days.
func (w *world) add(id, tier string, rotatingDays int64) string {
	w.t.Helper()
	ctx := w.t.Context()
	k, err := credential.Generate(credential.EnvTest, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	out, err := w.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(partnersecret.Name(partnersecret.Prefix("lanyard"), id)), SecretString: aws.String(k.Plaintext().Reveal())})
	if err != nil {
		w.t.Fatal(err)
	}
	arn := aws.ToString(out.ARN)
	p := partners.Partner{PartnerID: id, PartnerName: "Partner " + id, Tier: tier, Scopes: []string{"orders:read"}, Status: partners.StatusActive,
		KeyID: string(k.ID()), SecretARN: arn, IdentityMethod: partners.IdentityMethodInvite, InviteID: "inv-1", Justification: "test", PolicyRevision: 1}
	if _, err := w.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: itemtest.Must(p.Item())(w.t)}); err != nil {
		w.t.Fatal(err)
	}
	if rotatingDays > 0 {
		if _, err := w.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn), RotationLambdaARN: aws.String(testFunctionARN),
			RotationRules: &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(rotatingDays)}, RotateImmediately: aws.Bool(false)}); err != nil {
			w.t.Fatal(err)
		}
	}
	return arn
}

func (w *world) describe(arn string) *secretsmanager.DescribeSecretOutput {
	w.t.Helper()
	d, err := w.sm.DescribeSecret(w.t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// runRotation runs `lanyard` with the rotation commands wired to connect, as run() does.
func runRotation(connect rotationClients, args ...string) (code int, stdout, stderr string) {
	var outBuf, errBuf bytes.Buffer
	out := &output{w: &outBuf, format: "table"}
	root := &cobra.Command{Use: "lanyard", PersistentPreRunE: func(*cobra.Command, []string) error { return out.check() }, SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().StringVarP(&out.format, "output", "o", "table", "")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRotationCmd(out, connect))
	root.SetArgs(args)
	root.SetOut(&outBuf)
	root.SetErr(&errBuf)
	if err := root.ExecuteContext(context.Background()); err != nil {
		errBuf.WriteString("lanyard: " + strings.ReplaceAll(err.Error(), "\n", "; ") + "\n")
		var u usageError
		if errors.As(err, &u) {
			return 2, outBuf.String(), errBuf.String()
		}
		return 1, outBuf.String(), errBuf.String()
	}
	return 0, outBuf.String(), errBuf.String()
}

const (
	pOn      = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	pOff     = "p-bbbbbbbbbbbbbbbbbbbbbbbbbb"
	pDeleted = "p-cccccccccccccccccccccccccc"
	pPremium = "p-dddddddddddddddddddddddddd"
)

// `rotation enable --all` prints a line per partner and a summary, switches rotation on where
// it was off, and exits 1 because one partner failed.
func TestRotationEnableAll(t *testing.T) {
	w := newWorld(t, testTable)
	w.add(pOn, "standard", 30)
	off := w.add(pOff, "sandbox", 0)
	deleted := w.add(pDeleted, "sandbox", 0)
	premium := w.add(pPremium, "premium", 0)
	if _, err := w.sm.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(deleted)}); err != nil {
		t.Fatal(err)
	}
	claim := map[string]types.AttributeValue{partners.PartitionKey: &types.AttributeValueMemberS{Value: "account#123456789012"}}
	if _, err := w.db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(testTable), Item: claim}); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runRotation(w.connect, "rotation", "enable", "--all", "--partners-table", testTable, "--function-arn", testFunctionARN)
	want := pOn + "  already on  standard, every 30 days\n" +
		pOff + "  enabled     sandbox, every 7 days\n" +
		pDeleted + "  failed      sandbox, the secret is scheduled for deletion\n" +
		pPremium + "  enabled     premium, every 30 days\n" +
		"4 partners: 2 enabled, 1 already on, 0 skipped, 1 failed\n"
	if code != 1 || out != want || errOut != "lanyard: rotation is not on for 1 of 4 partners: see the failed lines\n" {
		t.Errorf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr %q", code, out, want, errOut)
	}
	if w.target == nil || w.target.Local {
		t.Errorf("connected to %+v, want AWS", w.target)
	}
	for arn, days := range map[string]int64{off: 7, premium: 30} {
		d := w.describe(arn)
		if !aws.ToBool(d.RotationEnabled) || aws.ToString(d.RotationLambdaARN) != testFunctionARN || aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != days {
			t.Errorf("secret %s: enabled %v, function %s, rules %+v", arn, aws.ToBool(d.RotationEnabled), aws.ToString(d.RotationLambdaARN), d.RotationRules)
		}
		if len(d.VersionIdsToStages) != 1 {
			t.Errorf("secret %s rotated now: versions %v", arn, d.VersionIdsToStages)
		}
	}
}

// Named partners, JSON output, and `lanyard local`'s deployment by its prefix.
func TestRotationEnableLocalJSON(t *testing.T) {
	w := newWorld(t, "demo-partners")
	off := w.add(pOff, "sandbox", 0)
	code, out, errOut := runRotation(w.connect, "rotation", "enable", pOff, "--prefix", "demo", "--localstack", "http://127.0.0.1:14566", "-o", "json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q, stdout %s", code, errOut, out)
	}
	var sum struct {
		Partners []rotation.Result `json:"partners"`
		Enabled  int               `json:"enabled"`
		On       int               `json:"alreadyOn"`
		Skipped  int               `json:"skipped"`
		Failed   int               `json:"failed"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sum); err != nil {
		t.Fatalf("stdout is not the summary: %v\n%s", err, out)
	}
	wantResult := rotation.Result{PartnerID: pOff, Tier: "sandbox", SecretARN: off, Outcome: rotation.OutcomeEnabled, IntervalDays: 7}
	if len(sum.Partners) != 1 || sum.Partners[0] != wantResult || sum.Enabled != 1 || sum.On+sum.Skipped+sum.Failed != 0 {
		t.Errorf("summary %+v", sum)
	}
	if w.target == nil || !w.target.Local || w.target.LocalStackURL != "http://127.0.0.1:14566" || w.target.DynamoDBURL == "" {
		t.Errorf("connected to %+v, want the local servers", w.target)
	}
	if fn := aws.ToString(w.describe(off).RotationLambdaARN); fn != "arn:aws:lambda:us-east-1:000000000000:function:demo-rotation" {
		t.Errorf("rotation function %s, want lanyard local's demo-rotation", fn)
	}
}

func TestRotationEnableUsage(t *testing.T) {
	w := newWorld(t, testTable)
	awsFlags := []string{"--partners-table", testTable, "--function-arn", testFunctionARN}
	for name, args := range map[string][]string{
		"neither --all nor partners": append([]string{"rotation", "enable"}, awsFlags...),
		"both --all and partners":    append([]string{"rotation", "enable", "--all", pOn}, awsFlags...),
		"not a partner id":           append([]string{"rotation", "enable", "acme"}, awsFlags...),
		"no table":                   {"rotation", "enable", "--all", "--function-arn", testFunctionARN},
		"no function":                {"rotation", "enable", "--all", "--partners-table", testTable},
		"not a function ARN":         {"rotation", "enable", "--all", "--partners-table", testTable, "--function-arn", "lanyard-rotation"},
		"prefix and table":           {"rotation", "enable", "--all", "--prefix", "lanyard", "--partners-table", testTable},
		"local endpoints for AWS":    append([]string{"rotation", "enable", "--all", "--dynamodb", "http://127.0.0.1:8000"}, awsFlags...),
		"unknown flag":               {"rotation", "enable", "--all", "--tier", "sandbox"},
	} {
		code, out, errOut := runRotation(w.connect, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and one line", name, code, out, errOut)
		}
	}
	if w.target != nil {
		t.Errorf("connected for a bad command line: %+v", w.target)
	}
	// The real root wires the command.
	code, out, _ := runCLI("rotation", "enable", "--help")
	if code != 0 || !strings.Contains(out, "--partners-table") {
		t.Errorf("lanyard rotation enable --help: exit %d", code)
	}
	if !slices.Contains(strings.Fields(out), "--all") {
		t.Error("help lacks --all")
	}
}
