package infra

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// DeadLetterRetention is how long a dead-letter queue keeps what could not be delivered or
// processed: SQS's maximum, so ops have two weeks to look and redrive.
const DeadLetterRetention = 14 * 24 * time.Hour

// newQueue defines an SQS queue encrypted with the customer-managed key that refuses
// plain-HTTP requests. name, when not empty, is the queue's declared topology name.
func newQueue(scope constructs.Construct, id, name string, key awskms.IKey, props *awssqs.QueueProps) awssqs.Queue {
	p := awssqs.QueueProps{}
	if props != nil {
		p = *props
	}
	p.Encryption = awssqs.QueueEncryption_KMS
	p.EncryptionMasterKey = key
	p.EnforceSSL = jsii.Bool(true)
	q := awssqs.NewQueue(scope, jsii.String(id), &p)
	if name != "" {
		tag(q, TagQueue, name)
	}
	return q
}

// newDeadLetterQueue defines an encrypted queue that keeps its messages for
// DeadLetterRetention.
func newDeadLetterQueue(scope constructs.Construct, id, name string, key awskms.IKey) awssqs.Queue {
	return newQueue(scope, id, name, key, &awssqs.QueueProps{
		RetentionPeriod: seconds(DeadLetterRetention.Seconds()),
	})
}

// allowEventBridgeToEncrypt lets EventBridge, acting for this account only, write into queues
// encrypted with key (rule targets and their dead-letter queues).
func allowEventBridgeToEncrypt(key awskms.IKey) {
	events := awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), &awsiam.ServicePrincipalOpts{
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		},
	})
	key.Grant(events, jsii.String("kms:Decrypt"), jsii.String("kms:GenerateDataKey"))
}
