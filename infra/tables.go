package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/topology"
)

// TablesStackProps configures the tables stack.
type TablesStackProps struct {
	awscdk.StackProps
	// Tables are the declared tables (topology.Topology.Tables).
	Tables []topology.Table
	// Key encrypts every table (the foundation's customer-managed key).
	Key awskms.IKey
}

// TablesStack holds Lanyard's durable state: the DynamoDB tables of the topology (the
// credential registry, the audit outbox, …). It is kept apart from the services so the
// stateless functions, API, rules and queues can be replaced or torn down without a change
// set ever touching the data; the tables are also retained and deletion-protected.
type TablesStack struct {
	awscdk.Stack
	// Tables maps each declared table name to its table.
	Tables map[string]awsdynamodb.Table
}

// NewTablesStack defines the tables stack.
func NewTablesStack(scope constructs.Construct, id string, props *TablesStackProps) *TablesStack {
	if props == nil || props.Key == nil {
		panic("tables stack: a key is required")
	}
	sprops := props.StackProps
	stack := awscdk.NewStack(scope, &id, &sprops)

	tables := make(map[string]awsdynamodb.Table, len(props.Tables))
	for _, decl := range props.Tables {
		tables[decl.Name] = newTable(stack, decl, props.Key)
	}
	return &TablesStack{Stack: stack, Tables: tables}
}

// newTable defines one declared table: on-demand, point-in-time recovery, encrypted with the
// customer-managed key, retained and deletion-protected.
func newTable(scope constructs.Construct, decl topology.Table, key awskms.IKey) awsdynamodb.Table {
	props := &awsdynamodb.TableProps{
		PartitionKey: attribute(decl.PartitionKey),
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		Encryption:         awsdynamodb.TableEncryption_CUSTOMER_MANAGED,
		EncryptionKey:      key,
		DeletionProtection: jsii.Bool(true),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
	}
	if decl.SortKey != nil {
		props.SortKey = attribute(*decl.SortKey)
	}
	if decl.TTLAttribute != "" {
		props.TimeToLiveAttribute = jsii.String(decl.TTLAttribute)
	}
	switch decl.Stream {
	case topology.StreamNone:
	case topology.StreamNewImage:
		props.Stream = awsdynamodb.StreamViewType_NEW_IMAGE
	case topology.StreamNewAndOldImage:
		props.Stream = awsdynamodb.StreamViewType_NEW_AND_OLD_IMAGES
	default:
		panic(fmt.Sprintf("table %q: unknown stream view %q", decl.Name, decl.Stream))
	}

	table := awsdynamodb.NewTable(scope, jsii.String(pascal(decl.Name)), props)
	for _, idx := range decl.Indexes {
		gsi := &awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(idx.Name),
			PartitionKey:   attribute(idx.PartitionKey),
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		}
		if idx.SortKey != nil {
			gsi.SortKey = attribute(*idx.SortKey)
		}
		table.AddGlobalSecondaryIndex(gsi)
	}
	tag(table, TagTable, decl.Name)
	return table
}

func attribute(a topology.Attr) *awsdynamodb.Attribute {
	var t awsdynamodb.AttributeType
	switch a.Type {
	case topology.AttrString:
		t = awsdynamodb.AttributeType_STRING
	case topology.AttrNumber:
		t = awsdynamodb.AttributeType_NUMBER
	case topology.AttrBinary:
		t = awsdynamodb.AttributeType_BINARY
	default:
		panic(fmt.Sprintf("attribute %q: unknown type %q", a.Name, a.Type))
	}
	return &awsdynamodb.Attribute{Name: jsii.String(a.Name), Type: t}
}
