package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/lanyardhq/lanyard/topology"
)

// Rule target retry policy: EventBridge's defaults (185 attempts over 24 hours), then the
// target's own DLQ — as the CDK stacks declare it.
const (
	targetRetryAttempts = 185
	targetMaxEventAge   = 86400
)

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	return reflect.DeepEqual(x, y)
}

// ensureRule puts a rule when it is missing or differs; it reports what it did.
func (p *Provisioner) ensureRule(ctx context.Context, in *eventbridge.PutRuleInput) (Action, error) {
	cur, err := p.Clients.Events.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: in.Name, EventBusName: in.EventBusName})
	action := Created
	switch {
	case err == nil:
		if sameJSON(aws.ToString(cur.EventPattern), aws.ToString(in.EventPattern)) && aws.ToString(cur.ScheduleExpression) == aws.ToString(in.ScheduleExpression) && cur.State == ebtypes.RuleStateEnabled {
			return Unchanged, nil
		}
		action = Updated
	case !notFound(err):
		return "", fmt.Errorf("describe rule %s: %w", aws.ToString(in.Name), err)
	}
	in.State = ebtypes.RuleStateEnabled
	if _, err := p.Clients.Events.PutRule(ctx, in); err != nil {
		return "", fmt.Errorf("put rule %s: %w", aws.ToString(in.Name), err)
	}
	return action, nil
}

// ensureTarget puts the rule's one target when it is missing or differs.
func (p *Provisioner) ensureTarget(ctx context.Context, rule, bus string, want ebtypes.Target) (bool, error) {
	cur, err := p.Clients.Events.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String(rule), EventBusName: nilIfEmpty(bus)})
	if err != nil {
		return false, fmt.Errorf("list targets of %s: %w", rule, err)
	}
	for _, t := range cur.Targets {
		if aws.ToString(t.Id) == aws.ToString(want.Id) && aws.ToString(t.Arn) == aws.ToString(want.Arn) &&
			reflect.DeepEqual(t.DeadLetterConfig, want.DeadLetterConfig) && reflect.DeepEqual(t.RetryPolicy, want.RetryPolicy) {
			return false, nil
		}
	}
	out, err := p.Clients.Events.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), EventBusName: nilIfEmpty(bus), Targets: []ebtypes.Target{want}})
	if err != nil {
		return false, fmt.Errorf("put target of %s: %w", rule, err)
	}
	if out.FailedEntryCount > 0 {
		return false, fmt.Errorf("put target of %s: %s", rule, aws.ToString(out.FailedEntries[0].ErrorMessage))
	}
	return true, nil
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// consumers wires each consumer: rule on the bus → its queue (target DLQ and retry policy) →
// SQS event source mapping with ReportBatchItemFailures.
func (p *Provisioner) consumers(ctx context.Context, t *topology.Topology, r *Result) error {
	for _, c := range t.Consumers {
		rule := p.Options.Name(c.Name)
		action, err := p.ensureRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventBusName: aws.String(r.Bus), EventPattern: aws.String(eventPattern(c))})
		if err != nil {
			return err
		}
		changed, err := p.ensureTarget(ctx, rule, r.Bus, ebtypes.Target{
			Id:               aws.String("queue"),
			Arn:              aws.String(r.queueARNs[rule]),
			DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(r.queueARNs[p.Options.Name(c.Name+"-target-dlq")])},
			RetryPolicy:      &ebtypes.RetryPolicy{MaximumRetryAttempts: aws.Int32(targetRetryAttempts), MaximumEventAgeInSeconds: aws.Int32(targetMaxEventAge)},
		})
		if err != nil {
			return err
		}
		if changed && action == Unchanged {
			action = Updated
		}
		r.record("rule", rule, action, "")

		esm := lambda.CreateEventSourceMappingInput{
			FunctionName:                   aws.String(r.Functions[c.Function]),
			EventSourceArn:                 aws.String(r.queueARNs[rule]),
			BatchSize:                      aws.Int32(c.BatchSize),
			MaximumBatchingWindowInSeconds: aws.Int32(int32(c.BatchingWindow.Seconds())),
			FunctionResponseTypes:          []lambdatypes.FunctionResponseType{lambdatypes.FunctionResponseTypeReportBatchItemFailures},
		}
		if err := p.ensureMapping(ctx, r, rule, esm); err != nil {
			return err
		}
	}
	return nil
}

func (p *Provisioner) ensureMapping(ctx context.Context, r *Result, name string, want lambda.CreateEventSourceMappingInput) error {
	cur, err := p.Clients.Lambda.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: want.FunctionName, EventSourceArn: want.EventSourceArn})
	if err != nil {
		return fmt.Errorf("list event source mappings of %s: %w", name, err)
	}
	if len(cur.EventSourceMappings) == 0 {
		if _, err := p.Clients.Lambda.CreateEventSourceMapping(ctx, &want); err != nil {
			return fmt.Errorf("create event source mapping %s: %w", name, err)
		}
		r.record("event source mapping", name, Created, "")
		return nil
	}
	m := cur.EventSourceMappings[0]
	if aws.ToInt32(m.BatchSize) == aws.ToInt32(want.BatchSize) &&
		aws.ToInt32(m.MaximumBatchingWindowInSeconds) == aws.ToInt32(want.MaximumBatchingWindowInSeconds) &&
		reflect.DeepEqual(m.FunctionResponseTypes, want.FunctionResponseTypes) {
		r.record("event source mapping", name, Unchanged, "")
		return nil
	}
	if _, err := p.Clients.Lambda.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{
		UUID: m.UUID, BatchSize: want.BatchSize, MaximumBatchingWindowInSeconds: want.MaximumBatchingWindowInSeconds,
		FunctionResponseTypes: want.FunctionResponseTypes,
	}); err != nil {
		return fmt.Errorf("update event source mapping %s: %w", name, err)
	}
	r.record("event source mapping", name, Updated, "")
	return nil
}

// schedules puts each schedule as a rule on the default bus targeting its function, with the
// permission for EventBridge to invoke it (LocalStack fires scheduled rules).
func (p *Provisioner) schedules(ctx context.Context, t *topology.Topology, r *Result) error {
	for _, s := range t.Schedules {
		rule := p.Options.Name(s.Name)
		action, err := p.ensureRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), ScheduleExpression: aws.String(s.Expression)})
		if err != nil {
			return err
		}
		fnARN := r.fnARNs[s.Function]
		_, err = p.Clients.Lambda.AddPermission(ctx, &lambda.AddPermissionInput{
			FunctionName: aws.String(r.Functions[s.Function]),
			StatementId:  aws.String(rule),
			Action:       aws.String("lambda:InvokeFunction"),
			Principal:    aws.String("events.amazonaws.com"),
		})
		var api smithy.APIError
		if err != nil && (!errors.As(err, &api) || api.ErrorCode() != "ResourceConflictException") {
			return fmt.Errorf("allow %s to invoke %s: %w", rule, r.Functions[s.Function], err)
		}
		changed, err := p.ensureTarget(ctx, rule, "", ebtypes.Target{Id: aws.String("function"), Arn: aws.String(fnARN)})
		if err != nil {
			return err
		}
		if changed && action == Unchanged {
			action = Updated
		}
		r.record("schedule", rule, action, s.Expression)
	}
	return nil
}

// streams binds each stream consumer to its table's stream and on-failure queue, for the
// local stream poller.
func (p *Provisioner) streams(ctx context.Context, t *topology.Topology, r *Result) error {
	for _, s := range t.StreamConsumers {
		table := r.Tables[s.Table]
		d, err := p.Clients.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("describe table %s: %w", table, err)
		}
		if d.Table.LatestStreamArn == nil {
			return fmt.Errorf("table %s has no stream", table)
		}
		q := p.Options.Name(s.OnFailureQueue)
		r.Streams = append(r.Streams, Stream{
			Consumer: s, Table: table, StreamARN: aws.ToString(d.Table.LatestStreamArn), Function: r.Functions[s.Function],
			OnFailureQueue: r.Queues[q], OnFailureQueueARN: r.queueARNs[q],
		})
	}
	return nil
}
