//go:build integration

package auditwriter_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/auditline"
	"github.com/lanyardhq/lanyard/shared/features/auditwriter"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/topology"
)

// createOutbox creates an outbox table keyed and indexed as the production declaration has it,
// and deletes it when the test ends.
func createOutbox(t *testing.T, env *harness.Env) string {
	t.Helper()
	decl, ok := topology.Lanyard().Table("outbox")
	if !ok {
		t.Fatal("no outbox table declared")
	}
	name := harness.Name("lanyard-outbox")
	attrs := map[string]topology.Attr{}
	keySchema := func(pk topology.Attr, sk *topology.Attr) []types.KeySchemaElement {
		attrs[pk.Name] = pk
		out := []types.KeySchemaElement{{AttributeName: aws.String(pk.Name), KeyType: types.KeyTypeHash}}
		if sk != nil {
			attrs[sk.Name] = *sk
			out = append(out, types.KeySchemaElement{AttributeName: aws.String(sk.Name), KeyType: types.KeyTypeRange})
		}
		return out
	}
	in := &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
		KeySchema: keySchema(decl.PartitionKey, decl.SortKey)}
	for _, ix := range decl.Indexes {
		p := types.ProjectionTypeAll
		if ix.KeysOnly {
			p = types.ProjectionTypeKeysOnly
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{IndexName: aws.String(ix.Name),
			KeySchema: keySchema(ix.PartitionKey, ix.SortKey), Projection: &types.Projection{ProjectionType: p}})
	}
	for _, a := range attrs {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(a.Name), AttributeType: types.ScalarAttributeType(a.Type)})
	}
	if _, err := env.DynamoDB.CreateTable(t.Context(), in); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = env.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	if err := dynamodb.NewTableExistsWaiter(env.DynamoDB).Wait(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("table %s never became active: %v", name, err)
	}
	return name
}

// relayed renders rec as the SQS message the audit consumer receives: its detail with the
// record the relay adds, in an EventBridge envelope.
func relayed(t *testing.T, rec outbox.Record) string {
	t.Helper()
	detail, err := events.WithRecord(rec.Detail, events.RecordRef{Chain: rec.Chain, Seq: rec.Seq, PrevHash: rec.PrevHash, Hash: rec.Hash})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(events.Envelope{Version: "0", ID: "bus-" + rec.EventID, DetailType: rec.DetailType, Source: events.Source,
		Account: harness.Account, Time: rec.Time, Region: harness.Region, Resources: []string{}, Detail: detail})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Against DynamoDB Local and LocalStack's CloudWatch Logs: a batch of committed decisions is
// written once, in three calls; the same batch again writes nothing; each record is marked and
// gone from the audit-pending index; OldestUnaudited finds the oldest before and nothing after.
func TestWriterAgainstDynamoDBLocalAndCloudWatchLogs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	env, err := harness.Connect(ctx)
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	table := createOutbox(t, env)
	group := "/" + harness.Name("lanyard") + "/audit"
	if _, err := env.Logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatalf("create log group: %v", err)
	}
	t.Cleanup(func() {
		_, _ = env.Logs.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)})
	})

	// Three decisions on a partner's chain and one on the ops chain, a minute apart from the
	// oldest.
	store := &outbox.Store{DB: env.DynamoDB, Table: table}
	start := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Millisecond)
	actor := events.Actor{Kind: events.ActorOps, ID: "arn:aws:iam::000000000000:role/ops"}
	for i, chain := range []string{"p-audit", "p-audit", outbox.OpsChain, "p-audit"} {
		d := &events.CredentialRevoked{Meta: events.NewMeta("p-audit", actor, start.Add(time.Duration(i)*time.Minute)),
			RevocationID: "rev-" + strconv.Itoa(i), KeyIDs: []string{"k" + strconv.Itoa(i)}, Reason: events.RevocationRequested}
		if chain == outbox.OpsChain {
			d.PartnerID = events.AllPartners
		}
		if _, err := store.Commit(ctx, chain, d, nil); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	oldest, found, err := store.OldestUnaudited(ctx)
	if err != nil || !found || oldest.Chain != "p-audit" || oldest.Seq != 1 || !oldest.CommittedAt.Equal(start) {
		t.Fatalf("OldestUnaudited before: %+v %v %v, want p-audit/1 committed at %s", oldest, found, err, start)
	}
	var recs []outbox.Record
	for _, chain := range []string{"p-audit", outbox.OpsChain} {
		rs, err := store.Records(ctx, chain)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rs...)
	}
	var bodies, want []string
	for _, r := range recs {
		bodies = append(bodies, relayed(t, r))
		want = append(want, r.EventID)
	}

	calls := newCounting(env.Logs, env.DynamoDB)
	w := &auditwriter.Writer{Logs: calls, DB: calls, Group: group, Stream: auditwriter.StreamName(time.Now()), Table: table, Now: time.Now}
	if err := w.OpenStream(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.OpenStream(ctx); err != nil {
		t.Fatalf("a stream that exists is taken: %v", err)
	}
	calls.take()

	resp, res := w.Write(ctx, batchOf(bodies...))
	if len(resp.BatchItemFailures) != 0 || res.Written != 4 || res.Marked != 4 {
		t.Fatalf("first delivery: %+v, %+v", resp, res)
	}
	if c := calls.take(); c["BatchGetItem"] != 1 || c["PutLogEvents"] != 1 || c["TransactWriteItems"] != 1 || len(c) != 3 {
		t.Errorf("first delivery's calls %v, want one of each", c)
	}
	resp, res = w.Write(ctx, batchOf(bodies...))
	if len(resp.BatchItemFailures) != 0 || res.Written != 0 || res.Skipped != 4 {
		t.Fatalf("second delivery: %+v, %+v", resp, res)
	}
	if c := calls.take(); c["BatchGetItem"] != 1 || len(c) != 1 {
		t.Errorf("second delivery's calls %v, want one BatchGetItem", c)
	}

	// The stream holds each line once, in time order, as auditline builds it.
	out, err := env.Logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(w.Stream), StartFromHead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range out.Events {
		var l auditline.Line
		if err := json.Unmarshal([]byte(aws.ToString(e.Message)), &l); err != nil {
			t.Fatalf("line %s: %v", aws.ToString(e.Message), err)
		}
		if l.Schema != auditline.Schema || l.Chain == "" || l.Hash == "" || l.Decision != "revoked" || aws.ToInt64(e.Timestamp) != l.At().UnixMilli() {
			t.Errorf("line %+v at %d", l, aws.ToInt64(e.Timestamp))
		}
		got = append(got, l.EventID)
	}
	wantOrder := []string{want[0], want[1], want[3], want[2]} // by time: p-audit 1, 2, ops 1, p-audit 3
	if !slices.Equal(got, wantOrder) {
		t.Errorf("lines %v, want %v", got, wantOrder)
	}

	// Every record marked, and out of the audit-pending index.
	for _, r := range recs {
		item, err := env.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: outbox.Key(r.Chain, r.Seq), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := item.Item[outbox.AttrAuditedAt]; !ok {
			t.Errorf("record %s/%d has no auditedAt", r.Chain, r.Seq)
		}
		if _, ok := item.Item["auditPending"]; ok {
			t.Errorf("record %s/%d still in the audit-pending index", r.Chain, r.Seq)
		}
	}
	harness.Eventually(t, 10*time.Second, func() (bool, string) {
		oldest, found, err := store.OldestUnaudited(ctx)
		return err == nil && !found, "OldestUnaudited after: " + oldest.Chain + "/" + strconv.FormatInt(oldest.Seq, 10)
	})
}
