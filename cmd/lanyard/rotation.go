package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/local/provision"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// rotationTarget says where `lanyard rotation` finds the partners table and Secrets Manager:
// AWS through the default configuration chain, or a `lanyard local` deployment.
type rotationTarget struct {
	Local         bool
	LocalStackURL string
	DynamoDBURL   string
}

// rotationClients builds the clients of a target. Tests hand in fakes.
type rotationClients func(ctx context.Context, t rotationTarget) (rotation.EnableDynamoDBAPI, rotation.EnableSecretsAPI, error)

// awsRotationClients: in AWS, the operator's credentials and region from the default chain;
// locally, LocalStack's and DynamoDB Local's endpoints with their test credentials, as `lanyard
// local` uses them.
func awsRotationClients(ctx context.Context, t rotationTarget) (rotation.EnableDynamoDBAPI, rotation.EnableSecretsAPI, error) {
	cfg, err := targetConfig(ctx, t.Local, t.LocalStackURL)
	if err != nil {
		return nil, nil, err
	}
	if !t.Local {
		return dynamodb.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg), nil
	}
	return provision.LocalDynamoDB(cfg, t.DynamoDBURL), secretsmanager.NewFromConfig(cfg), nil
}

func newRotationCmd(out *output, connect rotationClients) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotation",
		Short: "Manage the scheduled rotation of partner keys",
		Long: "Every partner key rotates on its tier's schedule (policy/policy.json's rotation.intervalDays):\n" +
			"Secrets Manager calls Lanyard's rotation function. Onboarding switches rotation on for each new\n" +
			"partner; `rotation enable` does it for partners onboarded before it did. To rotate one key now,\n" +
			"use `lanyard rotate PARTNER_ID`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newRotationEnableCmd(out, connect))
	return cmd
}

// lambdaFunctionARN matches an unqualified or qualified Lambda function ARN.
var lambdaFunctionARN = regexp.MustCompile(`^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$`)

// enableSummary is the JSON output of `rotation enable`.
type enableSummary struct {
	Partners []rotation.Result `json:"partners"`
	Enabled  int               `json:"enabled"`
	On       int               `json:"alreadyOn"`
	Skipped  int               `json:"skipped"`
	Failed   int               `json:"failed"`
}

func (s *enableSummary) count(r rotation.Result) {
	s.Partners = append(s.Partners, r)
	switch r.Outcome {
	case rotation.OutcomeEnabled:
		s.Enabled++
	case rotation.OutcomeAlreadyOn:
		s.On++
	case rotation.OutcomeSkipped:
		s.Skipped++
	case rotation.OutcomeFailed:
		s.Failed++
	}
}

func newRotationEnableCmd(out *output, connect rotationClients) *cobra.Command {
	var all bool
	var table, functionARN, prefix string
	target := rotationTarget{}
	cmd := &cobra.Command{
		Use:   "enable (--all | PARTNER_ID...) (--partners-table TABLE --function-arn ARN | --prefix PREFIX)",
		Short: "Switch scheduled rotation on for partners onboarded before onboarding did",
		Long: "enable switches scheduled rotation on for every partner (--all) or the partners named, whose\n" +
			"secret's rotation is off: RotateSecret with the rotation function, the tier's interval as\n" +
			"AutomaticallyAfterDays and RotateImmediately=false — what onboarding does for a new partner. No\n" +
			"key changes now; the first rotation comes one interval later. A secret whose rotation is on is\n" +
			"left as it is; partners that are not active are skipped. It prints one line per partner and exits\n" +
			"1 if any failed; running it again is safe.\n\n" +
			"It talks to DynamoDB and Secrets Manager directly, with the credentials and region of the default\n" +
			"AWS configuration chain (AWS_PROFILE, AWS_REGION, …), which need dynamodb:Scan and GetItem on the\n" +
			"partners table, secretsmanager:DescribeSecret and RotateSecret on the partner secrets, and\n" +
			"lambda:InvokeFunction on the rotation function. In AWS, name the partners table and the rotation\n" +
			"function: they carry the tags lanyard:table=partners and lanyard:function=rotation, e.g.\n" +
			"  aws resourcegroupstaggingapi get-resources --tag-filters Key=lanyard:function,Values=rotation\n" +
			"For `lanyard local`, --prefix names its deployment instead (table PREFIX-partners, function\n" +
			"PREFIX-rotation, LocalStack's and DynamoDB Local's endpoints and test credentials).",
		Args: func(_ *cobra.Command, args []string) error {
			for _, id := range args {
				if !partners.ValidID(id) {
					return usageError{fmt.Errorf("%q is not a partner id (p- and 26 lowercase letters and digits)", id)}
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			switch {
			case all == (len(args) > 0):
				return usageError{errors.New("name the partners, or pass --all for every partner (not both)")}
			case prefix != "" && (f.Changed("partners-table") || f.Changed("function-arn")):
				return usageError{errors.New("--prefix names a `lanyard local` deployment's table and function: drop --partners-table and --function-arn")}
			case prefix == "" && (f.Changed("localstack") || f.Changed("dynamodb")):
				return usageError{errors.New("--localstack and --dynamodb go with --prefix (`lanyard local`)")}
			case prefix != "":
				local := provision.Options{Prefix: prefix}
				table = local.Name("partners")
				functionARN = "arn:aws:lambda:" + suite.Region + ":" + suite.Account + ":function:" + local.Name("rotation")
				target.Local = true
			case strings.TrimSpace(table) == "" || functionARN == "":
				return usageError{errors.New("--partners-table and --function-arn are required (or --prefix for `lanyard local`); see --help to find them")}
			}
			if !lambdaFunctionARN.MatchString(functionARN) {
				return usageError{fmt.Errorf("--function-arn must be a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME), not %q", oneLine(functionARN, 200))}
			}
			pol, err := policy.Default()
			if err != nil {
				return fmt.Errorf("load the policy: %w", err)
			}
			db, secrets, err := connect(cmd.Context(), target)
			if err != nil {
				return err
			}
			e := &rotation.Enabler{DB: db, Secrets: secrets, PartnersTable: table, FunctionARN: functionARN, Policy: pol}
			var sum enableSummary
			report := func(r rotation.Result) {
				sum.count(r)
				if !out.json() {
					_, _ = fmt.Fprintln(out.w, enableLine(r))
				}
			}
			if all {
				_, err = e.All(cmd.Context(), report)
			} else {
				_, err = e.Partners(cmd.Context(), args, report)
			}
			if err != nil {
				return err
			}
			if sum.Partners == nil {
				sum.Partners = []rotation.Result{}
			}
			if out.json() {
				if err := out.emit(sum, nil); err != nil {
					return err
				}
			} else {
				_, _ = fmt.Fprintf(out.w, "%d partners: %d enabled, %d already on, %d skipped, %d failed\n",
					len(sum.Partners), sum.Enabled, sum.On, sum.Skipped, sum.Failed)
			}
			if sum.Failed > 0 {
				return fmt.Errorf("rotation is not on for %d of %d partners: see the failed lines", sum.Failed, len(sum.Partners))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&all, "all", false, "every partner of the partners table")
	f.StringVar(&table, "partners-table", "", "the partners table's name (AWS: tagged lanyard:table=partners)")
	f.StringVar(&functionARN, "function-arn", "", "the rotation function's ARN (AWS: tagged lanyard:function=rotation)")
	f.StringVar(&prefix, "prefix", "", "the name prefix of a lanyard local deployment (e.g. lanyard): its table, function and servers")
	f.StringVar(&target.LocalStackURL, "localstack", "http://127.0.0.1:"+envOr("LANYARD_LOCALSTACK_PORT", "4566"), "with --prefix: LocalStack endpoint")
	f.StringVar(&target.DynamoDBURL, "dynamodb", "http://127.0.0.1:"+envOr("LANYARD_DYNAMODB_PORT", "8000"), "with --prefix: DynamoDB Local endpoint")
	return cmd
}

// enableLine is a partner's line of the table output: id, outcome, then the schedule or why.
func enableLine(r rotation.Result) string {
	what := strings.ReplaceAll(string(r.Outcome), "-", " ")
	var more []string
	if r.Tier != "" {
		more = append(more, r.Tier)
	}
	if r.IntervalDays > 0 {
		more = append(more, fmt.Sprintf("every %d days", r.IntervalDays))
	}
	if r.Detail != "" {
		more = append(more, oneLine(r.Detail, 300))
	}
	return strings.TrimRight(fmt.Sprintf("%-28s  %-10s  %s", oneLine(r.PartnerID, 60), what, strings.Join(more, ", ")), " ")
}

// targetConfig is the AWS configuration of a command's target: in AWS, the operator's
// credentials and region from the default chain; locally, LocalStack's endpoint with its test
// credentials, as `lanyard local` uses them.
func targetConfig(ctx context.Context, local bool, localStackURL string) (aws.Config, error) {
	if !local {
		return awsconfig.Load(ctx)
	}
	return awsconfig.Load(ctx,
		config.WithRegion(suite.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithBaseEndpoint(localStackURL),
	)
}
