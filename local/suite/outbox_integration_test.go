//go:build integration

package suite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/fakes/outboxtest"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/topology"
)

// outboxTopology is the production declaration's outbox (its table, the relay and the relay's
// stream consumer) with the healthcheck, plus what the test needs: the recorder consuming
// Partner Onboarded and Credential Issued from the bus, and a table standing in for the state
// the decisions change.
func outboxTopology(t *testing.T) *topology.Topology {
	t.Helper()
	prod := topology.Lanyard()
	function := func(name string) topology.Function {
		f, ok := prod.Function(name)
		if !ok {
			t.Fatalf("the production topology declares no function %s", name)
		}
		return f
	}
	outboxTable, ok := prod.Table("outbox")
	if !ok {
		t.Fatal("the production topology declares no outbox table")
	}
	i := slices.IndexFunc(prod.StreamConsumers, func(s topology.StreamConsumer) bool { return s.Table == "outbox" })
	if i < 0 {
		t.Fatal("the production topology declares no consumer of the outbox stream")
	}
	var routes []topology.Route
	for _, r := range prod.Routes {
		if r.Function == "healthcheck" {
			routes = append(routes, r)
		}
	}
	pk, sk := topology.Attr{Name: "pk", Type: topology.AttrString}, topology.Attr{Name: "sk", Type: topology.AttrString}
	return &topology.Topology{
		Functions: []topology.Function{
			function("healthcheck"),
			function("outbox-relay"),
			{Name: "recorder", Main: "integration/functions/recorder", MemoryMB: 128, Timeout: 5 * time.Second,
				Env: map[string]topology.Value{"RECORDER_TABLE": topology.TableName("deliveries", topology.AccessReadWrite)}},
		},
		Routes:           routes,
		GatewayResponses: topology.GatewayResponses,
		Consumers: []topology.Consumer{
			{Name: "audit-recorder", Function: "recorder", DetailTypes: []string{events.TypePartnerOnboarded, events.TypeCredentialIssued},
				BatchSize: 10, VisibilityTimeout: 30 * time.Second, MaxReceiveCount: 3},
		},
		StreamConsumers: []topology.StreamConsumer{prod.StreamConsumers[i]},
		Tables: []topology.Table{
			outboxTable,
			{Name: "deliveries", PartitionKey: pk, SortKey: &sk},
			{Name: "partners", PartitionKey: pk},
		},
	}
}

// Two decisions of a partner, each committed with its state change and its outbox record
// through shared/stores/outbox, reach the bus through the production relay on the outbox stream:
// each event arrives exactly once, also after the relay is handed the same stream batch again,
// the records are marked with the envelope ids the consumer saw, and the chain verifies.
func TestOutboxDecisionsReachTheBusOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, prefix := shared(t, "outbox", func() *topology.Topology { return outboxTopology(t) }, nil)
	store := &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}
	partners := s.Provisioned.Tables["partners"]
	partner := harness.Name("p")
	actor := events.Actor{Kind: events.ActorOps, ID: "arn:aws:iam::" + harness.Account + ":role/ops"}

	now := time.Now()
	onboard := &events.PartnerOnboarded{
		Meta:        events.NewMeta(partner, actor, now),
		PartnerName: "Acme Logistics", Tier: "standard", Scopes: []string{"orders:read"},
		Identity: events.Identity{Method: events.ProofInvite}, Justification: "scopes [orders:read] within tier standard allowance",
	}
	first, err := store.Commit(ctx, partner, onboard, []dynamotypes.TransactWriteItem{{Put: &dynamotypes.Put{
		TableName: aws.String(partners),
		Item: map[string]dynamotypes.AttributeValue{
			"pk": &dynamotypes.AttributeValueMemberS{Value: partner}, "tier": &dynamotypes.AttributeValueMemberS{Value: "standard"},
		},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}})
	if err != nil {
		t.Fatalf("commit the onboarding: %v", err)
	}
	issue := &events.CredentialIssued{
		Meta:  events.NewMeta(partner, events.Actor{Kind: events.ActorSystem, ID: "onboarding"}, now.Add(time.Millisecond)),
		KeyID: "k-" + partner, SecretARN: "arn:aws:secretsmanager:" + harness.Region + ":" + harness.Account + ":secret:" + partner,
		Scopes: []string{"orders:read"}, NotBefore: now, ExpiresAt: now.Add(90 * 24 * time.Hour),
	}
	second, err := store.Commit(ctx, partner, issue, []dynamotypes.TransactWriteItem{{Update: &dynamotypes.Update{
		TableName:                 aws.String(partners),
		Key:                       map[string]dynamotypes.AttributeValue{"pk": &dynamotypes.AttributeValueMemberS{Value: partner}},
		UpdateExpression:          aws.String("SET keyId = :k"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]dynamotypes.AttributeValue{":k": &dynamotypes.AttributeValueMemberS{Value: issue.KeyID}},
	}}})
	if err != nil {
		t.Fatalf("commit the issuance: %v", err)
	}
	committed := []outbox.Record{first, second}
	queue := s.Provisioned.Queues[prefix+"-audit-recorder"]

	// The stream poller hands the inserts to the relay, which publishes and marks them; the
	// rule routes them through the queue to the recorder.
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		recs, err := store.Records(ctx, partner)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range recs {
			if r.PublishedAt.IsZero() {
				return false, fmt.Sprintf("record %d not marked published yet", r.Seq)
			}
		}
		got, err := recordedEvents(ctx, s.Provisioned.Tables["deliveries"])
		if err != nil {
			return false, err.Error()
		}
		for _, r := range committed {
			if len(got[r.EventID]) == 0 {
				return false, fmt.Sprintf("event %s (%s) not recorded yet", r.EventID, r.DetailType)
			}
		}
		return true, ""
	})

	// The stream delivers the same batch again, with the images it had before the marks: the
	// relay, invoked as the mapping invokes it, publishes nothing.
	batch := staleBatch(t, committed, s.Provisioned.Streams[0].StreamARN)
	payload, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := env.Lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(s.Provisioned.Functions["outbox-relay"]), Payload: payload})
	if err != nil {
		t.Fatalf("invoke the relay with the batch again: %v", err)
	}
	if out.FunctionError != nil {
		t.Fatalf("the relay failed the redelivered batch (%s): %s", aws.ToString(out.FunctionError), out.Payload)
	}

	// EventBridge routes inside PutEvents: once the queue is drained, whatever the relay put on
	// the bus has reached the recorder.
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		counts, err := queueCounts(ctx, queue)
		if err != nil {
			return false, err.Error()
		}
		return counts == [2]int{}, fmt.Sprintf("the consumer's queue still holds visible/in flight %v", counts)
	})
	got, err := recordedEvents(ctx, s.Provisioned.Tables["deliveries"])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(committed) {
		t.Errorf("the recorder holds events %v, want only the %d committed", keys(got), len(committed))
	}
	recs, err := store.Records(ctx, partner)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range committed {
		envs := got[r.EventID]
		if len(envs) != 1 {
			t.Errorf("event %s (%s) arrived %d times, want exactly once", r.EventID, r.DetailType, len(envs))
			continue
		}
		e := envs[0]
		// The detail as stored, with the record's place in its chain the relay adds.
		published, err := events.WithRecord(r.Detail, events.RecordRef{Chain: r.Chain, Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash})
		if err != nil {
			t.Fatal(err)
		}
		if e.Source != events.Source || e.DetailType != r.DetailType || len(e.Resources) != 0 || !sameJSON(e.Detail, published) {
			t.Errorf("event %s arrived as %+v, want source %s, detail type %s, detail %s", r.EventID, e, events.Source, r.DetailType, published)
		}
		if d := e.Time.Sub(r.Time); d < -time.Second || d > time.Second {
			t.Errorf("event %s: envelope time %s, want the decision's %s", r.EventID, e.Time, r.Time)
		}
		if recs[i].BusEventID != e.ID {
			t.Errorf("record %d marked with bus event id %q, the consumer saw envelope %q", r.Seq, recs[i].BusEventID, e.ID)
		}
	}

	if err := store.VerifyPartner(ctx, partner); err != nil {
		t.Errorf("the partner's chain: %v", err)
	}
	if len(recs) != 2 || recs[0].Hash != first.Hash || recs[1].PrevHash != first.Hash {
		t.Errorf("records %+v, want the two committed, chained", recs)
	}
	item, err := env.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(partners),
		Key: map[string]dynamotypes.AttributeValue{"pk": &dynamotypes.AttributeValueMemberS{Value: partner}}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := item.Item["keyId"].(*dynamotypes.AttributeValueMemberS); k == nil || k.Value != issue.KeyID {
		t.Errorf("the partner's state %v, want the issuance's key id", item.Item)
	}

	// The relay's span carries the partner.
	harness.Eventually(t, 20*time.Second, func() (bool, string) {
		for _, id := range s.Traces.Traces() {
			for _, seg := range s.Traces.Segments(id) {
				if v, ok := seg.Annotation("partner"); ok && v == partner && seg.Name == "outbox-relay" {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("no outbox-relay segment annotated with partner %s among %d traces", partner, len(s.Traces.Traces()))
	})
}

// staleBatch is the stream batch of the records' inserts, as the event source mapping delivers
// it: new images without the relay's marks.
func staleBatch(t testing.TB, recs []outbox.Record, streamARN string) lambdaevents.DynamoDBEvent {
	t.Helper()
	items := make([]map[string]dynamotypes.AttributeValue, 0, len(recs))
	for _, r := range recs {
		r.PublishedAt, r.BusEventID = time.Time{}, ""
		items = append(items, itemtest.Must(r.Item())(t))
	}
	ev := outboxtest.InsertEvent([]string{outbox.PartitionKey, outbox.SortKey}, items...)
	for i := range ev.Records {
		ev.Records[i].EventSourceArn = streamARN
		ev.Records[i].AWSRegion = harness.Region
	}
	return ev
}

// recordedEvents reads the recorder's deliveries from the bus (through the queue) and groups
// their envelopes by the detail's event id, the id consumers de-duplicate on.
func recordedEvents(ctx context.Context, table string) (map[string][]events.Envelope, error) {
	ds, err := deliveries(ctx, table)
	if err != nil {
		return nil, err
	}
	out := map[string][]events.Envelope{}
	for _, d := range ds {
		if d.Source != "aws:sqs" {
			continue
		}
		var e events.Envelope
		if err := json.Unmarshal([]byte(d.Body), &e); err != nil {
			return nil, fmt.Errorf("delivery %s is not an EventBridge envelope: %w", d.ID, err)
		}
		var m events.Meta
		if err := json.Unmarshal(e.Detail, &m); err != nil || m.EventID == "" {
			return nil, fmt.Errorf("delivery %s: detail without an eventId: %s", d.ID, e.Detail)
		}
		out[m.EventID] = append(out[m.EventID], e)
	}
	return out, nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// sameJSON compares two JSON documents as values (SQS re-serializes message bodies).
func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
