package infra

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/shared/domain/auditquery"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/topology"
)

// AuditLogGroupName is the audit log group's name in AWS (topology.ValueAuditLog).
var AuditLogGroupName = topology.AuditLogGroupName("lanyard")

// AuditQueryPrefix puts the saved queries in a folder of their own in the Logs Insights console.
const AuditQueryPrefix = "lanyard/audit/"

// The CloudWatch Logs actions a function holds on the audit log group (topology.ValueAuditLog):
// read-write writes lines into a stream of its own; read runs the saved queries and reads lines.
// StopQuery names no log group (it takes a query id), so IAM cannot scope it to one: it is
// granted on every resource, and stops only a query the caller knows the id of.
var (
	AuditLogWriteActions = []string{"logs:CreateLogStream", "logs:PutLogEvents"}
	AuditLogReadActions  = []string{"logs:StartQuery", "logs:GetQueryResults", "logs:FilterLogEvents"}
	AuditLogStopActions  = []string{"logs:StopQuery"}
)

// AuditLogKeyActions are what the key policy lets CloudWatch Logs do with the key, for the audit
// log group only: AWS's statement for a log group's key, its wildcards spelled out.
var AuditLogKeyActions = []string{
	"kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
	"kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey",
}

// KeyDataIdentifier names the custom data identifier of Lanyard's keys in the account's data
// protection policy.
const KeyDataIdentifier = "LanyardPartnerKey"

// AuditLogProps configures the audit log group.
type AuditLogProps struct {
	// Key encrypts the group; its policy lets CloudWatch Logs use it for this group only.
	Key awskms.Key
	// RetentionDays is the policy's audit.retentionDays.
	RetentionDays int
}

// AuditLog is the audit log group and its saved queries.
type AuditLog struct {
	Group   awslogs.LogGroup
	Queries map[string]awslogs.QueryDefinition
}

// retentions maps the retention periods CloudWatch Logs allows (policy.AuditRetentionDays) to
// the CDK's names for them.
var retentions = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

// NewAuditLog defines the audit log group (AuditLogGroupName), encrypted with the key and kept
// for the retention, retained when its stack goes; the key policy statement that lets the
// region's CloudWatch Logs use the key for that group alone (its encryption context names the
// group); and one QueryDefinition per saved query (auditquery), on the group.
func NewAuditLog(scope constructs.Construct, id string, props *AuditLogProps) (*AuditLog, error) {
	if props == nil || props.Key == nil {
		return nil, fmt.Errorf("audit log: a key is required")
	}
	retention, ok := retentions[props.RetentionDays]
	if !ok {
		return nil, fmt.Errorf("audit log: %d days is not a retention CloudWatch Logs allows", props.RetentionDays)
	}
	c := constructs.NewConstruct(scope, &id)
	stack := awscdk.Stack_Of(c)
	groupARN := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("logs"), Resource: jsii.String("log-group"), ResourceName: jsii.String(AuditLogGroupName),
		ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	props.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AuditLogGroup"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs."+*stack.Region()+".amazonaws.com"), nil)},
		Actions:    jsii.Strings(AuditLogKeyActions...),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnEquals": map[string]any{"kms:EncryptionContext:aws:logs:arn": groupARN}},
	}), jsii.Bool(false))
	group := awslogs.NewLogGroup(c, jsii.String("Group"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(AuditLogGroupName),
		EncryptionKey: props.Key,
		Retention:     retention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// The group is created once the key's policy lets CloudWatch Logs use the key.
	group.Node().AddDependency(props.Key)

	a := &AuditLog{Group: group, Queries: map[string]awslogs.QueryDefinition{}}
	for _, q := range auditquery.All() {
		a.Queries[q.Name] = awslogs.NewQueryDefinition(c, jsii.String(pascal(q.Name)), &awslogs.QueryDefinitionProps{
			QueryDefinitionName: jsii.String(AuditQueryPrefix + q.Name),
			QueryString:         QueryString(q),
			LogGroups:           &[]interfacesawslogs.ILogGroupRef{group},
		})
	}
	return a, nil
}

// QueryString is CDK's QueryString of a saved query, built from its parts.
func QueryString(q auditquery.Query) awslogs.QueryString {
	props := &awslogs.QueryStringProps{
		Fields: optStrings(q.Fields), FilterStatements: optStrings(q.Filter), StatsStatements: optStrings(q.Stats),
		Sort: optString(q.Sort), Display: optString(q.Display),
	}
	if q.Limit != 0 {
		props.Limit = jsii.Number(float64(q.Limit))
	}
	return awslogs.NewQueryString(props)
}

func optStrings(s []string) *[]*string {
	if len(s) == 0 {
		return nil
	}
	return jsii.Strings(s...)
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// KeyDataProtectionPolicy is the account's CloudWatch Logs data protection policy document:
// every log group of the account audits and masks anything that matches
// credential.ScannerPattern (a custom data identifier), so a key that reaches any log — a
// function's own included — is shown masked.
func KeyDataProtectionPolicy() (string, error) {
	ids := []string{KeyDataIdentifier}
	doc := map[string]any{
		"Name":        "lanyard-partner-keys",
		"Description": "Masks Lanyard partner API keys in every log group of the account",
		"Version":     "2021-06-01",
		"Configuration": map[string]any{
			"CustomDataIdentifier": []any{map[string]any{"Name": KeyDataIdentifier, "Regex": credential.ScannerPattern}},
		},
		"Statement": []any{
			map[string]any{"Sid": "audit", "DataIdentifier": ids, "Operation": map[string]any{"Audit": map[string]any{"FindingsDestination": map[string]any{}}}},
			map[string]any{"Sid": "mask", "DataIdentifier": ids, "Operation": map[string]any{"Deidentify": map[string]any{"MaskConfig": map[string]any{}}}},
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("data protection policy: %w", err)
	}
	return string(b), nil
}

// NewKeyDataProtection defines the account-level data protection policy
// (KeyDataProtectionPolicy) over all the account's log groups.
func NewKeyDataProtection(scope constructs.Construct, id string) (awslogs.CfnAccountPolicy, error) {
	doc, err := KeyDataProtectionPolicy()
	if err != nil {
		return nil, err
	}
	return awslogs.NewCfnAccountPolicy(scope, &id, &awslogs.CfnAccountPolicyProps{
		PolicyName:     jsii.String("lanyard-partner-keys"),
		PolicyType:     jsii.String("DATA_PROTECTION_POLICY"),
		Scope:          jsii.String("ALL"),
		PolicyDocument: jsii.String(doc),
	}), nil
}
