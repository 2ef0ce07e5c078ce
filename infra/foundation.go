package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/events"
)

// ArchiveRetentionDays is how long every Lanyard event stays replayable from the bus archive.
const ArchiveRetentionDays = 90

// FoundationStackProps configures the foundation stack.
type FoundationStackProps struct {
	awscdk.StackProps
}

// FoundationStack holds what every other Lanyard stack builds on: the customer-managed KMS
// key (partner secrets, queues, the bus and its archive are encrypted with it) and the event
// bus with an archive of every Lanyard event.
type FoundationStack struct {
	awscdk.Stack
	Key     awskms.Key
	Bus     awsevents.EventBus
	Archive awsevents.Archive
	// AuditLog is the audit log group and its saved queries (NewStacks adds them when the
	// topology declares one; nil otherwise).
	AuditLog *AuditLog
	// AuditExport is the audit bucket and signing key (NewStacks adds them when the topology
	// declares an audit export; nil otherwise).
	AuditExport *AuditExport
	// DataProtection is the account's data protection policy masking partner keys in every log
	// group (NewStacks adds it).
	DataProtection awslogs.CfnAccountPolicy
}

// NewFoundationStack defines the foundation stack.
func NewFoundationStack(scope constructs.Construct, id string, props *FoundationStackProps) *FoundationStack {
	var sprops awscdk.StackProps
	if props != nil {
		sprops = props.StackProps
	}
	stack := awscdk.NewStack(scope, &id, &sprops)

	// CDK's default key policy gives kms:* to the account root only, which delegates to IAM;
	// every other use of the key is a grant on a role.
	key := awskms.NewKey(stack, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("Lanyard partner credentials, queues and events"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})

	bus := awsevents.NewEventBus(stack, jsii.String("Bus"), &awsevents.EventBusProps{
		Description: jsii.String("Lanyard lifecycle events (source " + events.Source + ")"),
		KmsKey:      key,
	})

	archive := bus.Archive(jsii.String("Archive"), &awsevents.BaseArchiveProps{
		Description:  jsii.String("Every Lanyard event, replayable"),
		EventPattern: &awsevents.EventPattern{Source: jsii.Strings(events.Source)},
		Retention:    awscdk.Duration_Days(jsii.Number(ArchiveRetentionDays)),
		KmsKey:       key,
	})

	awscdk.NewCfnOutput(stack, jsii.String("BusName"), &awscdk.CfnOutputProps{Value: bus.EventBusName()})
	awscdk.NewCfnOutput(stack, jsii.String("KeyArn"), &awscdk.CfnOutputProps{Value: key.KeyArn()})

	return &FoundationStack{Stack: stack, Key: key, Bus: bus, Archive: archive}
}
