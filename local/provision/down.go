package provision

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/lanyardhq/lanyard/shared/features/stsenforcer"
	"github.com/lanyardhq/lanyard/topology"
)

// KeyDeletionDays is the waiting period Down schedules the key's deletion with: the shortest
// KMS allows. Until then the key exists, disabled and pending deletion.
const KeyDeletionDays = 7

// Removal is one resource Down deleted, or one it left on purpose (Detail says why).
type Removal struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Detail string `json:"detail,omitempty"`
}

// Teardown is what Down did: what it removed, and what AWS keeps on purpose.
type Teardown struct {
	Removed []Removal `json:"removed"`
	Kept    []Removal `json:"kept"`
}

// Down removes what provisioning t under prefix created, and what the deployment's functions
// created while it ran (partner secrets, partner API keys in its usage plans), by name, so a
// deployment that failed half way is removed too: rules and their targets first (scheduled
// rules stop firing), then event source mappings, functions and their log groups, queues,
// tables, roles, usage plans with their API keys, the audit log group, the audit bucket (every
// version, bypassing its governance retention) and the audit signing key's alias, partner
// secrets, the bus, the key's alias.
// The keys themselves can only be scheduled for deletion (KeyDeletionDays at least): they are Kept.
// What is already gone is skipped; a second Down removes nothing. Every deletion is tried, and
// the errors are joined.
func Down(ctx context.Context, c Clients, t *topology.Topology, prefix string) (*Teardown, error) {
	if prefix == "" {
		return nil, fmt.Errorf("down: no name prefix")
	}
	o := Options{Prefix: prefix}
	d := &downRun{c: c, out: &Teardown{Removed: []Removal{}, Kept: []Removal{}}}
	bus := o.Name("bus")
	for _, con := range t.Consumers {
		d.rule(ctx, o.Name(con.Name), bus, "queue")
	}
	for _, s := range t.Schedules {
		d.rule(ctx, o.Name(s.Name), "", "function")
	}
	for _, f := range t.Functions {
		d.function(ctx, o.Name(f.Name))
	}
	var queues []string
	for _, con := range t.Consumers {
		queues = append(queues, o.Name(con.Name), o.Name(con.DLQName()), o.Name(con.Name+"-target-dlq"))
	}
	for _, s := range t.StreamConsumers {
		queues = append(queues, o.Name(s.OnFailureQueue))
	}
	for _, q := range queues {
		d.queue(ctx, q)
	}
	for _, tb := range t.Tables {
		name := o.Name(tb.Name)
		_, err := c.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		d.done("table", name, err)
	}
	for _, r := range t.Roles {
		name := o.Name(r.Name)
		d.emptyRole(ctx, name)
		_, err := c.IAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(name)})
		d.done("role", name, err)
	}
	if len(t.UsagePlans) > 0 {
		d.usagePlans(ctx, o, t)
	}
	if t.AuditLog != nil {
		group := topology.AuditLogGroupName(prefix)
		_, err := c.Logs.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)})
		d.done("log group", group, err)
	}
	if t.AuditExport != nil {
		d.auditBucket(ctx, topology.AuditBucketLocalName(prefix))
		d.key(ctx, auditSigningAlias(prefix))
	}
	d.secrets(ctx, o.SecretsPrefix())
	// DeleteEventBus answers a bus that is not there as deleted: look first.
	if _, err := c.Events.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(bus)}); !d.fail("describe bus "+bus, err) {
		_, err := c.Events.DeleteEventBus(ctx, &eventbridge.DeleteEventBusInput{Name: aws.String(bus)})
		d.done("bus", bus, err)
	}
	d.key(ctx, "alias/"+prefix)
	if len(d.errs) > 0 {
		return d.out, failures(d.errs)
	}
	return d.out, nil
}

// failures are the deletions that failed, on one line.
type failures []error

func (f failures) Error() string {
	msgs := make([]string, len(f))
	for i, err := range f {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (f failures) Unwrap() []error { return f }

type downRun struct {
	c    Clients
	out  *Teardown
	errs []error
}

// done records a deletion: removed when it succeeded, nothing when the resource was not
// there, an error otherwise.
func (d *downRun) done(kind, name string, err error) bool {
	switch {
	case err == nil:
		d.out.Removed = append(d.out.Removed, Removal{Kind: kind, Name: name})
		return true
	case notFound(err) || noSuchEntity(err):
		return false
	default:
		d.errs = append(d.errs, fmt.Errorf("delete %s %s: %w", kind, name, err))
		return false
	}
}

func (d *downRun) fail(what string, err error) bool {
	if err == nil {
		return false
	}
	if !notFound(err) && !noSuchEntity(err) {
		d.errs = append(d.errs, fmt.Errorf("%s: %w", what, err))
	}
	return true
}

// rule removes the rule's target and the rule, on bus ("" is the default bus).
func (d *downRun) rule(ctx context.Context, rule, bus, target string) {
	var busName *string
	if bus != "" {
		busName = aws.String(bus)
	}
	if _, err := d.c.Events.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(rule), EventBusName: busName, Ids: []string{target}}); d.fail("remove the target of rule "+rule, err) {
		return
	}
	_, err := d.c.Events.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(rule), EventBusName: busName})
	d.done("rule", rule, err)
}

// function removes the function's event source mappings, the function and its log group.
func (d *downRun) function(ctx context.Context, fn string) {
	m, err := d.c.Lambda.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: aws.String(fn)})
	if !d.fail("list the event source mappings of "+fn, err) {
		for _, esm := range m.EventSourceMappings {
			_, err := d.c.Lambda.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: esm.UUID})
			d.done("event source mapping", fn+" ← "+aws.ToString(esm.EventSourceArn), err)
		}
	}
	_, err = d.c.Lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(fn)})
	d.done("function", fn, err)
	group := "/aws/lambda/" + fn
	_, err = d.c.Logs.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)})
	d.done("log group", group, err)
}

// emptyRole removes what the functions wrote on a role: its inline policies, and the managed
// policies attached to it under the sts enforcer's path (detached, then deleted with their
// versions); another managed policy is only detached.
func (d *downRun) emptyRole(ctx context.Context, role string) {
	inline, err := d.c.IAM.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	if d.fail("list the inline policies of role "+role, err) {
		return
	}
	for _, p := range inline.PolicyNames {
		_, err := d.c.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(p)})
		d.done("inline policy", role+"/"+p, err)
	}
	attached, err := d.c.IAM.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	if d.fail("list the policies attached to role "+role, err) {
		return
	}
	for _, p := range attached.AttachedPolicies {
		arn := aws.ToString(p.PolicyArn)
		_, err := d.c.IAM.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(role), PolicyArn: p.PolicyArn})
		if d.fail("detach "+arn+" from role "+role, err) || !strings.Contains(arn, ":policy"+stsenforcer.ManagedPath) {
			continue
		}
		vs, err := d.c.IAM.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: p.PolicyArn})
		if d.fail("list the versions of "+arn, err) {
			continue
		}
		for _, v := range vs.Versions {
			if !v.IsDefaultVersion {
				_, err := d.c.IAM.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: p.PolicyArn, VersionId: v.VersionId})
				d.fail("delete version "+aws.ToString(v.VersionId)+" of "+arn, err)
			}
		}
		_, err = d.c.IAM.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: p.PolicyArn})
		d.done("managed policy", arn, err)
	}
}

func (d *downRun) queue(ctx context.Context, name string) {
	u, err := d.c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if d.fail("look up queue "+name, err) {
		return
	}
	_, err = d.c.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: u.QueueUrl})
	d.done("queue", name, err)
}

// usagePlans removes the deployment's usage plans and the partner API keys enrolled in them.
func (d *downRun) usagePlans(ctx context.Context, o Options, t *topology.Topology) {
	declared := map[string]bool{}
	for _, p := range t.UsagePlans {
		declared[o.Name(p.Name)] = true
	}
	var position *string
	for {
		page, err := d.c.APIGateway.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{Position: position, Limit: aws.Int32(500)})
		if d.fail("list usage plans", err) {
			return
		}
		for _, u := range page.Items {
			name := aws.ToString(u.Name)
			if !declared[name] {
				continue
			}
			keys, err := d.c.APIGateway.GetUsagePlanKeys(ctx, &apigateway.GetUsagePlanKeysInput{UsagePlanId: u.Id, Limit: aws.Int32(500)})
			if !d.fail("list the API keys of usage plan "+name, err) {
				for _, k := range keys.Items {
					_, err := d.c.APIGateway.DeleteApiKey(ctx, &apigateway.DeleteApiKeyInput{ApiKey: k.Id})
					d.done("API key", aws.ToString(k.Name), err)
				}
			}
			_, err = d.c.APIGateway.DeleteUsagePlan(ctx, &apigateway.DeleteUsagePlanInput{UsagePlanId: u.Id})
			d.done("usage plan", name, err)
		}
		if page.Position == nil || aws.ToString(page.Position) == aws.ToString(position) {
			return
		}
		position = page.Position
	}
}

// secrets removes the partner secrets under the deployment's secrets prefix, without a
// recovery window: locally nothing needs one.
func (d *downRun) secrets(ctx context.Context, prefix string) {
	pages := secretsmanager.NewListSecretsPaginator(d.c.Secrets, &secretsmanager.ListSecretsInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{prefix}}},
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if d.fail("list the secrets under "+prefix, err) {
			return
		}
		for _, s := range page.SecretList {
			name := aws.ToString(s.Name)
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			_, err := d.c.Secrets.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: s.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)})
			d.done("secret", name, err)
		}
	}
}

// key removes the alias and schedules the key's deletion: KMS deletes a key no sooner than
// KeyDeletionDays after, so the key is kept.
func (d *downRun) key(ctx context.Context, alias string) {
	k, err := d.c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)})
	if d.fail("describe key "+alias, err) {
		return
	}
	_, err = d.c.KMS.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String(alias)})
	d.done("key alias", alias, err)
	s, err := d.c.KMS.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(KeyDeletionDays)})
	if d.fail("schedule the deletion of key "+alias, err) {
		return
	}
	when := fmt.Sprintf("in %d days", KeyDeletionDays)
	if s.DeletionDate != nil {
		when = "on " + s.DeletionDate.UTC().Format(time.DateOnly)
	}
	d.out.Kept = append(d.out.Kept, Removal{Kind: "key", Name: aws.ToString(k.KeyMetadata.Arn),
		Detail: fmt.Sprintf("scheduled for deletion %s: KMS deletes a key no sooner than %d days after it is scheduled", when, KeyDeletionDays)})
}
