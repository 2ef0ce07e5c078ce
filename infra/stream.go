package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/topology"
)

// StreamConsumerProps configures one table-stream consumer.
type StreamConsumerProps struct {
	Decl     topology.StreamConsumer
	Table    awsdynamodb.ITable
	Key      awskms.IKey
	Function awslambda.IFunction
}

// StreamConsumer is a DynamoDB stream event source mapping from the start of the stream,
// bisecting failing batches, with an encrypted on-failure queue for the records its retries
// could not deliver.
type StreamConsumer struct {
	constructs.Construct
	Mapping awslambda.EventSourceMapping
	// FailureQueue is the declared on-failure queue (topology name Decl.OnFailureQueue).
	FailureQueue awssqs.Queue
}

// NewStreamConsumer defines the mapping, its on-failure queue and the function's access to the
// stream.
//
// The mapping is what DynamoEventSource would define, but its grant is written out:
// DynamoEventSource grants dynamodb:ListStreams on "*", and the only action Lanyard allows on
// "*" is X-Ray's. Here ListStreams is scoped to the table's streams, the form of AWS's own
// example policy for a Lambda function reading a stream.
func NewStreamConsumer(scope constructs.Construct, id string, props *StreamConsumerProps) *StreamConsumer {
	c := constructs.NewConstruct(scope, &id)
	decl := props.Decl
	table, fn := props.Table, props.Function

	failures := newDeadLetterQueue(c, "FailureQueue", decl.OnFailureQueue, props.Key)
	mapping := fn.AddEventSourceMapping(jsii.String("Stream"+pascal(decl.Table)), &awslambda.EventSourceMappingOptions{
		EventSourceArn:     table.TableStreamArn(),
		StartingPosition:   awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:          jsii.Number(float64(decl.BatchSize)),
		RetryAttempts:      jsii.Number(float64(decl.RetryAttempts)),
		BisectBatchOnError: jsii.Bool(decl.BisectOnError),
		OnFailure:          awslambdaeventsources.NewSqsDlq(failures),
	})

	table.GrantStream(fn, jsii.String("dynamodb:DescribeStream"), jsii.String("dynamodb:GetRecords"), jsii.String("dynamodb:GetShardIterator"))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("dynamodb:ListStreams"),
		Resources: jsii.Strings(*table.TableArn() + "/stream/*"),
	}))
	if key := table.EncryptionKey(); key != nil {
		key.GrantDecrypt(fn)
	}
	return &StreamConsumer{Construct: c, Mapping: mapping, FailureQueue: failures}
}
