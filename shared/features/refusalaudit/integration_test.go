//go:build integration

package refusalaudit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/auditline"
	"github.com/lanyardhq/lanyard/shared/features/refusalaudit"
	"github.com/lanyardhq/lanyard/shared/stores/refusals"
	"github.com/lanyardhq/lanyard/topology"
)

// The counts and their writer against DynamoDB Local and LocalStack's CloudWatch Logs, on a
// table created as declared: 60 refusals of three reasons, counted concurrently over two
// windows, become one line per (window, reason) once duplicates collapse, whose counts add up to
// 60; two writers running at once advance the cursor past each window once; a later run writes
// nothing.
func TestRefusalCountsReachTheAuditLog(t *testing.T) {
	t.Parallel()
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	ctx := t.Context()
	table := harness.Name("lanyard-refusals")
	createDeclared(t, env, "refusals", table)
	group := "/" + harness.Name("lanyard") + "/audit"
	if _, err := env.Logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.Logs.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)})
	})

	first := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	reasons := []string{"invite-invalid", "identity-proof-invalid", "pickup-invalid"}
	want := map[string]int64{} // eventId → count
	var wg sync.WaitGroup
	for i := range 60 {
		at := first.Add(time.Duration(i) * time.Second) // 10:00:00 … 10:00:59, then the next window
		if i >= 40 {
			at = first.Add(time.Minute + time.Duration(i)*time.Second)
		}
		reason := reasons[i%len(reasons)]
		want[auditline.Refusals(refusals.WindowStart(at, time.Minute), refusals.WindowStart(at, time.Minute).Add(time.Minute), reason, 0).EventID]++
		wg.Go(func() {
			c := &refusals.Counter{DB: env.DynamoDB, Table: table, Window: time.Minute, Now: func() time.Time { return at }}
			if err := c.Add(ctx, reason); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	store := &refusals.Store{DB: env.DynamoDB, Table: table}
	cur := refusals.Cursor{}
	if ok, err := store.Advance(ctx, cur, first); !ok || err != nil {
		t.Fatalf("set the cursor: %t %v", ok, err)
	}
	now := first.Add(5 * time.Minute)
	writer := func(stream string) *refusalaudit.Writer {
		return &refusalaudit.Writer{Store: store, Logs: env.Logs, LogGroup: group, Stream: stream, Window: time.Minute,
			Now: func() time.Time { return now }}
	}
	var reps [2]refusalaudit.Report
	for i, w := range []*refusalaudit.Writer{writer("audit-refusals/a"), writer("audit-refusals/b")} {
		wg.Go(func() {
			rep, err := w.Run(ctx)
			if err != nil {
				t.Error(err)
			}
			reps[i] = rep
		})
	}
	wg.Wait()
	if got := reps[0].Windows + reps[1].Windows; got != 4 {
		t.Errorf("runs %+v passed %d windows together, want each of the 4 closed ones once", reps, got)
	}
	cur, err = store.Cursor(ctx)
	if err != nil || !cur.Next.Equal(first.Add(4*time.Minute)) {
		t.Errorf("cursor %+v %v, want %s", cur, err, first.Add(4*time.Minute))
	}

	got := map[string]int64{}
	var total int64
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		lines, err := readLines(ctx, env.Logs, group)
		if err != nil {
			return false, err.Error()
		}
		got, total = map[string]int64{}, 0
		for _, l := range lines {
			if prev, seen := got[l.EventID]; seen && prev != l.Count {
				t.Fatalf("line %s repeated with count %d, then %d", l.EventID, prev, l.Count)
			} else if !seen {
				total += l.Count
			}
			got[l.EventID] = l.Count
		}
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("lines by eventId %v, want %v", got, want)
	})
	if total != 60 {
		t.Errorf("counts add up to %d, want 60", total)
	}

	rep, err := writer("audit-refusals/c").Run(ctx)
	if err != nil || rep.Windows != 0 || rep.Lines != 0 {
		t.Errorf("a later run: %+v %v, want nothing", rep, err)
	}
}

// readLines reads every line of the group, decoded.
func readLines(ctx context.Context, logs *cloudwatchlogs.Client, group string) ([]auditline.Line, error) {
	var out []auditline.Line
	p := cloudwatchlogs.NewFilterLogEventsPaginator(logs, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, ev := range page.Events {
			var l auditline.Line
			if err := json.Unmarshal([]byte(aws.ToString(ev.Message)), &l); err != nil {
				return nil, fmt.Errorf("line %q: %w", aws.ToString(ev.Message), err)
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// createDeclared creates table name as the topology declares table decl, and removes it when
// the test ends.
func createDeclared(t *testing.T, env *harness.Env, decl, name string) {
	t.Helper()
	tb, ok := topology.Lanyard().Table(decl)
	if !ok {
		t.Fatalf("no table %s declared", decl)
	}
	in := &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(tb.PartitionKey.Name), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(tb.PartitionKey.Name), AttributeType: types.ScalarAttributeType(tb.PartitionKey.Type)}}}
	if sk := tb.SortKey; sk != nil {
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(sk.Name), KeyType: types.KeyTypeRange})
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(sk.Name), AttributeType: types.ScalarAttributeType(sk.Type)})
	}
	if _, err := env.DynamoDB.CreateTable(t.Context(), in); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = env.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	if err := dynamodb.NewTableExistsWaiter(env.DynamoDB).Wait(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}
