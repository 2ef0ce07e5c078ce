package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/topology"
)

// ScheduleProps configures one schedule.
type ScheduleProps struct {
	Decl     topology.Schedule
	Key      awskms.IKey
	Function awslambda.IFunction
}

// Schedule is an EventBridge rule (on the default bus, the only one schedules run on) that
// invokes a function on its schedule expression; invocations EventBridge cannot make land in
// the target's encrypted dead-letter queue.
type Schedule struct {
	constructs.Construct
	Rule            awsevents.Rule
	DeadLetterQueue awssqs.Queue
}

// NewSchedule defines the rule and its target.
func NewSchedule(scope constructs.Construct, id string, props *ScheduleProps) *Schedule {
	c := constructs.NewConstruct(scope, &id)
	decl := props.Decl

	dlq := newDeadLetterQueue(c, "DeadLetterQueue", "", props.Key)
	allowEventBridgeToEncrypt(props.Key)
	rule := awsevents.NewRule(c, jsii.String("Rule"), &awsevents.RuleProps{
		Description: jsii.String("Lanyard schedule " + decl.Name + ": " + decl.Expression),
		Schedule:    awsevents.Schedule_Expression(jsii.String(decl.Expression)),
	})
	rule.AddTarget(awseventstargets.NewLambdaFunction(props.Function, &awseventstargets.LambdaFunctionProps{
		DeadLetterQueue: dlq,
		RetryAttempts:   jsii.Number(TargetRetryAttempts),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(TargetMaxEventAge.Hours())),
	}))
	tag(c, TagSchedule, decl.Name)
	return &Schedule{Construct: c, Rule: rule, DeadLetterQueue: dlq}
}
