package infra

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/topology"
)

// How long and how often EventBridge retries delivering to a rule target before the event goes
// to the target's dead-letter queue (EventBridge's own maxima: a day, 185 attempts).
const (
	TargetMaxEventAge   = 24 * time.Hour
	TargetRetryAttempts = 185
)

// ConsumerProps configures one bus consumer.
type ConsumerProps struct {
	Decl     topology.Consumer
	Bus      awsevents.IEventBus
	Key      awskms.IKey
	Function awslambda.IFunction
}

// Consumer is one declared consumer: a rule on the bus for its detail types → an encrypted
// SQS queue that redrives to a dead-letter queue after MaxReceiveCount receives → an event
// source mapping on the function that reports partial batch failures. Events EventBridge
// cannot deliver to the queue land in a delivery dead-letter queue of the rule target.
type Consumer struct {
	constructs.Construct
	Rule awsevents.Rule
	// Queue is the declared queue (topology name Decl.Name).
	Queue awssqs.Queue
	// DeadLetterQueue takes messages the function failed MaxReceiveCount times
	// (topology name Decl.DLQName()).
	DeadLetterQueue awssqs.Queue
	// DeliveryDeadLetterQueue takes events EventBridge could not put into Queue.
	DeliveryDeadLetterQueue awssqs.Queue
}

// NewConsumer defines the rule, queues and event source mapping of a consumer.
func NewConsumer(scope constructs.Construct, id string, props *ConsumerProps) *Consumer {
	c := constructs.NewConstruct(scope, &id)
	decl := props.Decl

	dlq := newDeadLetterQueue(c, "DeadLetterQueue", decl.DLQName(), props.Key)
	queue := newQueue(c, "Queue", decl.Name, props.Key, &awssqs.QueueProps{
		VisibilityTimeout: seconds(decl.VisibilityTimeout.Seconds()),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           dlq,
			MaxReceiveCount: jsii.Number(float64(decl.MaxReceiveCount)),
		},
	})
	delivery := newDeadLetterQueue(c, "DeliveryDeadLetterQueue", "", props.Key)
	allowEventBridgeToEncrypt(props.Key)

	// A consumer of every detail type is matched by the source alone, so a detail type added
	// later reaches it without a change to the rule.
	pattern := &awsevents.EventPattern{Source: jsii.Strings(events.Source)}
	if !decl.AllDetailTypes {
		pattern.DetailType = jsii.Strings(decl.DetailTypes...)
	}
	rule := awsevents.NewRule(c, jsii.String("Rule"), &awsevents.RuleProps{
		Description:  jsii.String("Lanyard consumer " + decl.Name + ": " + decl.Takes()),
		EventBus:     props.Bus,
		EventPattern: pattern,
	})
	rule.AddTarget(awseventstargets.NewSqsQueue(queue, &awseventstargets.SqsQueueProps{
		DeadLetterQueue: delivery,
		RetryAttempts:   jsii.Number(TargetRetryAttempts),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(TargetMaxEventAge.Hours())),
	}))

	esm := &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(float64(decl.BatchSize)),
		ReportBatchItemFailures: jsii.Bool(true),
	}
	if decl.BatchingWindow > 0 {
		esm.MaxBatchingWindow = seconds(decl.BatchingWindow.Seconds())
	}
	props.Function.AddEventSource(awslambdaeventsources.NewSqsEventSource(queue, esm))

	tag(c, TagConsumer, decl.Name)
	return &Consumer{Construct: c, Rule: rule, Queue: queue, DeadLetterQueue: dlq, DeliveryDeadLetterQueue: delivery}
}
