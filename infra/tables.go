package infra

import (
	"errors"
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

// NewTablesStack defines the tables stack. An error names the table it could not define.
func NewTablesStack(scope constructs.Construct, id string, props *TablesStackProps) (*TablesStack, error) {
	if props == nil || props.Key == nil {
		return nil, errors.New("tables stack: a key is required")
	}
	sprops := props.StackProps
	stack := awscdk.NewStack(scope, &id, &sprops)

	tables := make(map[string]awsdynamodb.Table, len(props.Tables))
	for _, decl := range props.Tables {
		t, err := newTable(stack, decl, props.Key)
		if err != nil {
			return nil, err
		}
		tables[decl.Name] = t
	}
	return &TablesStack{Stack: stack, Tables: tables}, nil
}

// newTable defines one declared table: on-demand, point-in-time recovery, encrypted with the
// customer-managed key, retained and deletion-protected.
func newTable(scope constructs.Construct, decl topology.Table, key awskms.IKey) (awsdynamodb.Table, error) {
	partition, err := attribute(decl.PartitionKey)
	if err != nil {
		return nil, fmt.Errorf("table %q: partition key: %w", decl.Name, err)
	}
	props := &awsdynamodb.TableProps{
		PartitionKey: partition,
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
		if props.SortKey, err = attribute(*decl.SortKey); err != nil {
			return nil, fmt.Errorf("table %q: sort key: %w", decl.Name, err)
		}
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
		return nil, fmt.Errorf("table %q: unknown stream view %q", decl.Name, decl.Stream)
	}

	// Every key attribute is checked before anything is defined.
	indexes := make([]*awsdynamodb.GlobalSecondaryIndexProps, 0, len(decl.Indexes))
	for _, idx := range decl.Indexes {
		partition, err := attribute(idx.PartitionKey)
		if err != nil {
			return nil, fmt.Errorf("table %q: index %q: partition key: %w", decl.Name, idx.Name, err)
		}
		gsi := &awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(idx.Name),
			PartitionKey:   partition,
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		}
		if idx.KeysOnly {
			gsi.ProjectionType = awsdynamodb.ProjectionType_KEYS_ONLY
		}
		if idx.SortKey != nil {
			if gsi.SortKey, err = attribute(*idx.SortKey); err != nil {
				return nil, fmt.Errorf("table %q: index %q: sort key: %w", decl.Name, idx.Name, err)
			}
		}
		indexes = append(indexes, gsi)
	}

	table := awsdynamodb.NewTable(scope, jsii.String(pascal(decl.Name)), props)
	for _, gsi := range indexes {
		table.AddGlobalSecondaryIndex(gsi)
	}
	tag(table, TagTable, decl.Name)
	return table, nil
}

func attribute(a topology.Attr) (*awsdynamodb.Attribute, error) {
	var t awsdynamodb.AttributeType
	switch a.Type {
	case topology.AttrString:
		t = awsdynamodb.AttributeType_STRING
	case topology.AttrNumber:
		t = awsdynamodb.AttributeType_NUMBER
	case topology.AttrBinary:
		t = awsdynamodb.AttributeType_BINARY
	default:
		return nil, fmt.Errorf("attribute %q: unknown type %q", a.Name, a.Type)
	}
	return &awsdynamodb.Attribute{Name: jsii.String(a.Name), Type: t}, nil
}
