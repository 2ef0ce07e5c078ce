package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/topology"
)

func notFound(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NotFoundException":
		return true
	}
	return false
}

// key finds the key behind alias/<prefix>, or creates it with rotation on.
func (p *Provisioner) key(ctx context.Context, _ *topology.Topology, r *Result) error {
	alias := "alias/" + p.Options.Prefix
	pager := kms.NewListAliasesPaginator(p.Clients.KMS, &kms.ListAliasesInput{})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list aliases: %w", err)
		}
		for _, a := range page.Aliases {
			if aws.ToString(a.AliasName) == alias && a.TargetKeyId != nil {
				d, err := p.Clients.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: a.TargetKeyId})
				if err != nil {
					return fmt.Errorf("describe key %s: %w", alias, err)
				}
				r.KeyARN = aws.ToString(d.KeyMetadata.Arn)
				r.record("key", alias, Unchanged, "")
				return nil
			}
		}
	}
	k, err := p.Clients.KMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("Lanyard local key")})
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	if _, err := p.Clients.KMS.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: k.KeyMetadata.KeyId}); err != nil {
		return fmt.Errorf("enable rotation of %s: %w", alias, err)
	}
	if _, err := p.Clients.KMS.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: k.KeyMetadata.KeyId}); err != nil {
		return fmt.Errorf("create alias %s: %w", alias, err)
	}
	r.KeyARN = aws.ToString(k.KeyMetadata.Arn)
	r.record("key", alias, Created, "")
	return nil
}

func (p *Provisioner) bus(ctx context.Context, _ *topology.Topology, r *Result) error {
	r.Bus = p.Options.Name("bus")
	d, err := p.Clients.Events.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(r.Bus)})
	switch {
	case err == nil:
		r.busARN = aws.ToString(d.Arn)
		r.record("bus", r.Bus, Unchanged, "")
		return nil
	case !notFound(err):
		return fmt.Errorf("describe bus %s: %w", r.Bus, err)
	}
	out, err := p.Clients.Events.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(r.Bus)})
	if err != nil {
		return fmt.Errorf("create bus %s: %w", r.Bus, err)
	}
	r.busARN = aws.ToString(out.EventBusArn)
	r.record("bus", r.Bus, Created, "")
	return nil
}

func attrDefs(t topology.Table) []ddbtypes.AttributeDefinition {
	seen := map[string]bool{}
	var defs []ddbtypes.AttributeDefinition
	add := func(a *topology.Attr) {
		if a == nil || seen[a.Name] {
			return
		}
		seen[a.Name] = true
		defs = append(defs, ddbtypes.AttributeDefinition{AttributeName: aws.String(a.Name), AttributeType: ddbtypes.ScalarAttributeType(a.Type)})
	}
	add(&t.PartitionKey)
	add(t.SortKey)
	for _, ix := range t.Indexes {
		add(&ix.PartitionKey)
		add(ix.SortKey)
	}
	return defs
}

func keySchema(pk topology.Attr, sk *topology.Attr) []ddbtypes.KeySchemaElement {
	ks := []ddbtypes.KeySchemaElement{{AttributeName: aws.String(pk.Name), KeyType: ddbtypes.KeyTypeHash}}
	if sk != nil {
		ks = append(ks, ddbtypes.KeySchemaElement{AttributeName: aws.String(sk.Name), KeyType: ddbtypes.KeyTypeRange})
	}
	return ks
}

// tables creates each declared table in DynamoDB Local. An existing table is left as it is
// (DynamoDB Local runs in memory: a restart starts empty).
func (p *Provisioner) tables(ctx context.Context, t *topology.Topology, r *Result) error {
	for _, tb := range t.Tables {
		name := p.Options.Name(tb.Name)
		r.Tables[tb.Name] = name
		_, err := p.Clients.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil {
			r.record("table", name, Unchanged, "")
			continue
		}
		if !notFound(err) {
			return fmt.Errorf("describe table %s: %w", name, err)
		}
		in := &dynamodb.CreateTableInput{
			TableName:            aws.String(name),
			BillingMode:          ddbtypes.BillingModePayPerRequest,
			AttributeDefinitions: attrDefs(tb),
			KeySchema:            keySchema(tb.PartitionKey, tb.SortKey),
		}
		for _, ix := range tb.Indexes {
			projection := ddbtypes.ProjectionTypeAll
			if ix.KeysOnly {
				projection = ddbtypes.ProjectionTypeKeysOnly
			}
			in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
				IndexName: aws.String(ix.Name), KeySchema: keySchema(ix.PartitionKey, ix.SortKey),
				Projection: &ddbtypes.Projection{ProjectionType: projection},
			})
		}
		if tb.Stream != topology.StreamNone {
			in.StreamSpecification = &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewType(tb.Stream)}
		}
		if _, err := p.Clients.DynamoDB.CreateTable(ctx, in); err != nil {
			return fmt.Errorf("create table %s: %w", name, err)
		}
		if tb.TTLAttribute != "" {
			if _, err := p.Clients.DynamoDB.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
				TableName:               aws.String(name),
				TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(tb.TTLAttribute), Enabled: aws.Bool(true)},
			}); err != nil {
				return fmt.Errorf("enable TTL on %s: %w", name, err)
			}
		}
		r.record("table", name, Created, "")
	}
	return nil
}

// queueSpec is one queue to ensure.
type queueSpec struct {
	name  string
	attrs map[string]string
}

// queues creates every consumer's queue, its DLQ and its rule target's DLQ, and every stream
// consumer's on-failure queue, all encrypted with the key (LocalStack records the setting).
func (p *Provisioner) queues(ctx context.Context, t *topology.Topology, r *Result) error {
	base := func(extra map[string]string) map[string]string {
		a := map[string]string{string(sqstypes.QueueAttributeNameKmsMasterKeyId): r.KeyARN}
		maps.Copy(a, extra)
		return a
	}
	for _, c := range t.Consumers {
		dlq := p.Options.Name(c.DLQName())
		dlqARN, err := p.ensureQueue(ctx, r, queueSpec{name: dlq, attrs: base(map[string]string{"MessageRetentionPeriod": "1209600"})})
		if err != nil {
			return err
		}
		if _, err := p.ensureQueue(ctx, r, queueSpec{name: p.Options.Name(c.Name + "-target-dlq"), attrs: base(nil)}); err != nil {
			return err
		}
		redrive, _ := json.Marshal(map[string]string{"deadLetterTargetArn": dlqARN, "maxReceiveCount": strconv.Itoa(int(c.MaxReceiveCount))})
		if _, err := p.ensureQueue(ctx, r, queueSpec{name: p.Options.Name(c.Name), attrs: base(map[string]string{
			string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(c.VisibilityTimeout.Seconds())),
			string(sqstypes.QueueAttributeNameRedrivePolicy):     string(redrive),
			string(sqstypes.QueueAttributeNamePolicy):            p.queuePolicy(r, c),
		})}); err != nil {
			return err
		}
	}
	for _, s := range t.StreamConsumers {
		if _, err := p.ensureQueue(ctx, r, queueSpec{name: p.Options.Name(s.OnFailureQueue), attrs: base(nil)}); err != nil {
			return err
		}
	}
	return nil
}

// ensureQueue creates the queue or brings its attributes to spec; it returns the queue ARN.
func (p *Provisioner) ensureQueue(ctx context.Context, r *Result, q queueSpec) (string, error) {
	got, err := p.Clients.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.name)})
	var url string
	action := Unchanged
	switch {
	case err == nil:
		url = aws.ToString(got.QueueUrl)
		cur, err := p.Clients.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: got.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		if err != nil {
			return "", fmt.Errorf("read queue %s: %w", q.name, err)
		}
		diff := map[string]string{}
		for k, v := range q.attrs {
			if !sameAttr(k, cur.Attributes[k], v) {
				diff[k] = v
			}
		}
		if len(diff) > 0 {
			if _, err := p.Clients.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: got.QueueUrl, Attributes: diff}); err != nil {
				return "", fmt.Errorf("update queue %s: %w", q.name, err)
			}
			action = Updated
		}
	case notFound(err):
		out, err := p.Clients.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q.name), Attributes: q.attrs})
		if err != nil {
			return "", fmt.Errorf("create queue %s: %w", q.name, err)
		}
		url, action = aws.ToString(out.QueueUrl), Created
	default:
		return "", fmt.Errorf("look up queue %s: %w", q.name, err)
	}
	attrs, err := p.Clients.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", fmt.Errorf("read ARN of queue %s: %w", q.name, err)
	}
	arn := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	r.Queues[q.name] = url
	r.queueARNs[q.name] = arn
	r.record("queue", q.name, action, "")
	return arn, nil
}

// sameAttr compares queue attributes; JSON-valued ones (the redrive policy) by content.
func sameAttr(key, have, want string) bool {
	if have == want {
		return true
	}
	if key != string(sqstypes.QueueAttributeNameRedrivePolicy) && key != string(sqstypes.QueueAttributeNamePolicy) {
		return false
	}
	var a, b any
	if json.Unmarshal([]byte(have), &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	// maxReceiveCount comes back as a number or a string depending on the server.
	return strings.ReplaceAll(fmt.Sprint(a), `"`, "") == strings.ReplaceAll(fmt.Sprint(b), `"`, "")
}

// ruleARN is the ARN of a rule on the bus (event-bus/<bus> → rule/<bus>/<rule>).
func (r *Result) ruleARN(rule string) string {
	return strings.Replace(r.busARN, ":event-bus/", ":rule/", 1) + "/" + rule
}

// queuePolicy lets the consumer's rule, and only it, send to the consumer's queue, as in AWS.
func (p *Provisioner) queuePolicy(r *Result, c topology.Consumer) string {
	b, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Sid": "EventBridgeRule", "Effect": "Allow",
			"Principal": map[string]string{"Service": "events.amazonaws.com"},
			"Action":    "sqs:SendMessage",
			"Resource":  "*",
			"Condition": map[string]any{"ArnEquals": map[string]string{"aws:SourceArn": r.ruleARN(p.Options.Name(c.Name))}},
		}},
	})
	return string(b)
}

// eventPattern is the rule pattern of a consumer: Lanyard's source and its detail types, or the
// source alone for a consumer of every detail type (AllDetailTypes), as in AWS.
func eventPattern(c topology.Consumer) string {
	if c.AllDetailTypes {
		b, _ := json.Marshal(map[string][]string{"source": {events.Source}})
		return string(b)
	}
	types := slices.Clone(c.DetailTypes)
	slices.Sort(types)
	b, _ := json.Marshal(map[string][]string{"source": {events.Source}, "detail-type": types})
	return string(b)
}

// auditLog creates the audit log group (topology.AuditLogGroupName of the prefix) encrypted
// with the deployment's key and kept for the policy's audit.retentionDays, when the topology
// declares one. A group that exists with another key (or none) gets the deployment's key
// (AssociateKmsKey), as in AWS, and another retention the policy's; it is never deleted and
// created again, which would lose its lines.
func (p *Provisioner) auditLog(ctx context.Context, t *topology.Topology, r *Result) error {
	if t.AuditLog == nil {
		return nil
	}
	pol, err := policy.Default()
	if err != nil {
		return err
	}
	days := pol.Audit.RetentionDays
	if days < 1 || days > math.MaxInt32 {
		return fmt.Errorf("the policy's audit.retentionDays %d is not a retention", days)
	}
	retention := int32(days)
	group := topology.AuditLogGroupName(p.Options.Prefix)
	r.AuditLog = group
	out, err := p.Clients.Logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(group)})
	if err != nil {
		return fmt.Errorf("describe log group %s: %w", group, err)
	}
	keep := func() error {
		if _, err := p.Clients.Logs.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(group), RetentionInDays: aws.Int32(retention)}); err != nil {
			return fmt.Errorf("set the retention of log group %s: %w", group, err)
		}
		return nil
	}
	for _, g := range out.LogGroups {
		if aws.ToString(g.LogGroupName) != group {
			continue
		}
		var changed []string
		if aws.ToString(g.KmsKeyId) != r.KeyARN {
			if _, err := p.Clients.Logs.AssociateKmsKey(ctx, &cloudwatchlogs.AssociateKmsKeyInput{LogGroupName: aws.String(group), KmsKeyId: aws.String(r.KeyARN)}); err != nil {
				return fmt.Errorf("log group %s exists with another key and cannot take the deployment's (remove it with `lanyard local down`): %w", group, err)
			}
			changed = append(changed, "encrypted with the deployment's key")
		}
		if aws.ToInt32(g.RetentionInDays) != retention {
			if err := keep(); err != nil {
				return err
			}
			changed = append(changed, fmt.Sprintf("kept %d days", retention))
		}
		if len(changed) == 0 {
			r.record("log group", group, Unchanged, "")
		} else {
			r.record("log group", group, Updated, strings.Join(changed, ", "))
		}
		return nil
	}
	if _, err := p.Clients.Logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group), KmsKeyId: aws.String(r.KeyARN)}); err != nil {
		return fmt.Errorf("create log group %s: %w", group, err)
	}
	if err := keep(); err != nil {
		return err
	}
	r.record("log group", group, Created, fmt.Sprintf("audit log, the deployment's key, kept %d days", retention))
	return nil
}
