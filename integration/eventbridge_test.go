//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
)

// A rule on a custom bus that matches Lanyard's "Credential Revoked" events delivers each one,
// in its full EventBridge envelope, to an SQS queue and to a Lambda function, and delivers no
// other detail type.
func TestEventBridgeRuleDeliversCredentialRevokedToSQSAndLambda(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	table := createRecorderTable(t)
	queueURL, queueARN := createQueue(t, "revoked", nil)
	fn, fnARN := env.DeployFunction(t, "recorder", harness.FunctionOptions{Environment: map[string]string{"RECORDER_TABLE": table}})
	bus, rule, ruleARN := createRule(t, []string{events.TypeCredentialRevoked})

	// The grants AWS needs before it delivers to the targets.
	policy, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Sid":       "lanyard-rule",
			"Effect":    "Allow",
			"Principal": map[string]string{"Service": "events.amazonaws.com"},
			"Action":    "sqs:SendMessage",
			"Resource":  queueARN,
			"Condition": map[string]any{"ArnEquals": map[string]string{"aws:SourceArn": ruleARN}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), Attributes: map[string]string{"Policy": string(policy)},
	}); err != nil {
		t.Fatalf("set queue policy: %v", err)
	}
	if _, err := env.Lambda.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String(fn),
		StatementId:  aws.String("lanyard-rule"),
		Action:       aws.String("lambda:InvokeFunction"),
		Principal:    aws.String("events.amazonaws.com"),
		SourceArn:    aws.String(ruleARN),
	}); err != nil {
		t.Fatalf("add lambda permission: %v", err)
	}
	putTargets(t, bus, rule, []ebtypes.Target{
		{Id: aws.String("queue"), Arn: aws.String(queueARN)},
		{Id: aws.String("recorder"), Arn: aws.String(fnARN)},
	})

	// A revocation, and a "Credential Issued" event of the same source that the rule must not match.
	now := time.Now()
	ops := events.Actor{Kind: events.ActorOps, ID: "arn:aws:iam::" + harness.Account + ":role/ops"}
	revoked := events.CredentialRevoked{
		Meta:         events.NewMeta("p-acme", ops, now),
		RevocationID: "r-" + harness.Name("it"),
		KeyIDs:       []string{"k-current", "k-previous"},
		Reason:       events.RevocationOffboarded,
		Note:         "partner offboarded",
	}
	issued := events.CredentialIssued{
		Meta:      events.NewMeta("p-acme", ops, now),
		KeyID:     "k-next",
		SecretARN: "arn:aws:secretsmanager:" + harness.Region + ":" + harness.Account + ":secret:lanyard/partner/p-acme",
		Scopes:    []string{"orders:read"},
		NotBefore: now.UTC(),
		ExpiresAt: now.UTC().Add(90 * 24 * time.Hour),
	}
	at := now.UTC().Truncate(time.Second) // EventBridge keeps whole seconds
	resources := []string{"arn:aws:secretsmanager:" + harness.Region + ":" + harness.Account + ":secret:lanyard/partner/p-acme"}
	var entries []ebtypes.PutEventsRequestEntry
	for _, d := range []events.Detail{issued, revoked} {
		detailType, detail, err := events.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, ebtypes.PutEventsRequestEntry{
			EventBusName: aws.String(bus),
			Source:       aws.String(events.Source),
			DetailType:   aws.String(detailType),
			Detail:       aws.String(string(detail)),
			Resources:    resources,
			Time:         aws.Time(at),
		})
	}
	put, err := env.EventBridge.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		t.Fatalf("put events: %v", err)
	}
	if put.FailedEntryCount != 0 || len(put.Entries) != 2 {
		t.Fatalf("put events: %d failed of %+v", put.FailedEntryCount, put.Entries)
	}
	issuedID, revokedID := aws.ToString(put.Entries[0].EventId), aws.ToString(put.Entries[1].EventId)

	// checkEnvelope checks what a target received: the schema-valid envelope of the revocation,
	// with every field as put, and the detail exactly as sent.
	wantDetail, err := json.Marshal(revoked)
	if err != nil {
		t.Fatal(err)
	}
	checkEnvelope := func(target string, body []byte) {
		t.Helper()
		if err := events.Validate(body); err != nil {
			t.Errorf("%s: %v\n%s", target, err, body)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"account", "detail", "detail-type", "id", "region", "resources", "source", "time", "version"}; !slices.Equal(keys, want) {
			t.Errorf("%s: envelope fields %v, want %v", target, keys, want)
		}
		envl, detail, err := events.Decode(body)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if envl.Version != "0" || envl.ID != revokedID || envl.DetailType != events.TypeCredentialRevoked ||
			envl.Source != events.Source || envl.Account != harness.Account || !envl.Time.Equal(at) ||
			envl.Region != harness.Region || !slices.Equal(envl.Resources, resources) {
			t.Errorf("%s: envelope %+v, want id %s, account %s, region %s, time %s, resources %v",
				target, envl, revokedID, harness.Account, harness.Region, at.Format(time.RFC3339), resources)
		}
		if got, ok := detail.(*events.CredentialRevoked); !ok || !reflect.DeepEqual(*got, revoked) {
			t.Errorf("%s: detail %#v, want %#v", target, detail, revoked)
		}
		if !sameJSON(string(envl.Detail), string(wantDetail)) {
			t.Errorf("%s: detail %s, sent %s", target, envl.Detail, wantDetail)
		}
	}

	// The SQS target gets the revocation.
	var received []sqstypes.Message
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		out, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
		if err != nil {
			return false, "receive: " + err.Error()
		}
		received = append(received, out.Messages...)
		return len(received) > 0, "the queue target is still empty"
	})
	if len(received) != 1 {
		t.Fatalf("the queue target got %s, want only the revocation", describeMessages(received))
	}
	sqsBody := aws.ToString(received[0].Body)
	checkEnvelope("SQS target", []byte(sqsBody))

	// The Lambda target gets it too, asynchronously.
	var recorded []harness.Delivery
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		var err error
		if recorded, err = env.Deliveries(ctx, table); err != nil {
			return false, err.Error()
		}
		return len(recorded) > 0, "the function has recorded nothing yet"
	})
	if recorded[0].ID != revokedID || recorded[0].Source != "aws:events" {
		t.Fatalf("the function recorded %+v, want event %s", recorded, revokedID)
	}
	checkEnvelope("Lambda target", []byte(recorded[0].Envelope))
	if !sameJSON(recorded[0].Envelope, sqsBody) {
		t.Errorf("the targets got different envelopes:\nSQS    %s\nLambda %s", sqsBody, recorded[0].Envelope)
	}

	// The "Credential Issued" event, put in the same call and before the revocation, reaches
	// neither target: the queue stays empty for a long poll, and the function recorded only the
	// revocation.
	out, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 3})
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(out.Messages) > 0 {
		t.Errorf("the queue target also got %s (the unmatched event is %s)", describeMessages(out.Messages), issuedID)
	}
	if recorded, err = env.Deliveries(ctx, table); err != nil {
		t.Fatal(err)
	}
	if len(recorded) != 1 {
		t.Errorf("the function recorded %d deliveries, want only the revocation %s (the unmatched event is %s): %+v",
			len(recorded), revokedID, issuedID, recorded)
	}
}

// createRule creates a custom bus and, on it, an enabled rule matching Lanyard events of the
// given detail types; both are deleted when the test ends (after their targets).
func createRule(t *testing.T, detailTypes []string) (bus, rule, ruleARN string) {
	t.Helper()
	ctx := context.Background()
	bus = harness.Name("lanyard")
	if _, err := env.EventBridge.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		t.Fatalf("create event bus: %v", err)
	}
	t.Cleanup(func() {
		if _, err := env.EventBridge.DeleteEventBus(context.Background(), &eventbridge.DeleteEventBusInput{Name: aws.String(bus)}); err != nil {
			t.Errorf("delete event bus %s: %v", bus, err)
		}
	})
	pattern, err := json.Marshal(map[string][]string{"source": {events.Source}, "detail-type": detailTypes})
	if err != nil {
		t.Fatal(err)
	}
	rule = harness.Name("rule")
	out, err := env.EventBridge.PutRule(ctx, &eventbridge.PutRuleInput{
		Name:         aws.String(rule),
		EventBusName: aws.String(bus),
		EventPattern: aws.String(string(pattern)),
		State:        ebtypes.RuleStateEnabled,
	})
	if err != nil {
		t.Fatalf("put rule: %v", err)
	}
	t.Cleanup(func() {
		if _, err := env.EventBridge.DeleteRule(context.Background(), &eventbridge.DeleteRuleInput{Name: aws.String(rule), EventBusName: aws.String(bus)}); err != nil {
			t.Errorf("delete rule %s: %v", rule, err)
		}
	})
	return bus, rule, aws.ToString(out.RuleArn)
}

// putTargets adds targets to a rule and removes them when the test ends.
func putTargets(t *testing.T, bus, rule string, targets []ebtypes.Target) {
	t.Helper()
	out, err := env.EventBridge.PutTargets(context.Background(), &eventbridge.PutTargetsInput{
		Rule: aws.String(rule), EventBusName: aws.String(bus), Targets: targets,
	})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("put targets: %v %+v", err, out)
	}
	ids := make([]string, 0, len(targets))
	for _, tg := range targets {
		ids = append(ids, aws.ToString(tg.Id))
	}
	t.Cleanup(func() {
		if _, err := env.EventBridge.RemoveTargets(context.Background(), &eventbridge.RemoveTargetsInput{
			Rule: aws.String(rule), EventBusName: aws.String(bus), Ids: ids,
		}); err != nil {
			t.Errorf("remove targets from %s: %v", rule, err)
		}
	})
}
