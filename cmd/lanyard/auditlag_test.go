package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

var lagNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// pendingIndex answers the audit-pending index's queries: the oldest entry of each shard.
type pendingIndex struct {
	outbox.DynamoDBAPI
	oldest map[string]outbox.Unaudited // by shard
	target *rotationTarget
	tables []string
}

func (p *pendingIndex) connect(_ context.Context, t rotationTarget) (outbox.DynamoDBAPI, error) {
	p.target = &t
	return p, nil
}

func (p *pendingIndex) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	p.tables = append(p.tables, aws.ToString(in.TableName))
	if aws.ToString(in.IndexName) != outbox.AuditPendingIndex || aws.ToInt32(in.Limit) != 1 || !aws.ToBool(in.ScanIndexForward) {
		return nil, errors.New("not a query of the audit-pending index's oldest entry")
	}
	shard := in.ExpressionAttributeValues[":shard"].(*types.AttributeValueMemberS).Value
	u, ok := p.oldest[shard]
	if !ok {
		return &dynamodb.QueryOutput{}, nil
	}
	item := outbox.Key(u.Chain, u.Seq)
	item["committedAt"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(u.CommittedAt.UnixMilli(), 10)}
	item["auditPending"] = &types.AttributeValueMemberS{Value: shard}
	return &dynamodb.QueryOutput{Items: []map[string]types.AttributeValue{item}}, nil
}

func runAuditLag(connect outboxClients, args ...string) (code int, stdout, stderr string) {
	return runAuditSub(func(out *output) *cobra.Command {
		return newAuditLagCmd(out, connect, func() time.Time { return lagNow })
	}, args...)
}

// runAuditSub runs `lanyard ARGS` with `lanyard audit` holding the one subcommand mk makes,
// as main runs it: its output, and main's exit code (2 for a usage error, 1 for another).
func runAuditSub(mk func(out *output) *cobra.Command, args ...string) (code int, stdout, stderr string) {
	var outBuf, errBuf bytes.Buffer
	out := &output{w: &outBuf, format: "table"}
	root := &cobra.Command{Use: "lanyard", PersistentPreRunE: func(*cobra.Command, []string) error { return out.check() }, SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().StringVarP(&out.format, "output", "o", "table", "")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	audit := &cobra.Command{Use: "audit"}
	audit.AddCommand(mk(out))
	root.AddCommand(audit)
	root.SetArgs(args)
	root.SetOut(&outBuf)
	root.SetErr(&errBuf)
	if err := root.ExecuteContext(context.Background()); err != nil {
		errBuf.WriteString("lanyard: " + strings.ReplaceAll(err.Error(), "\n", "; ") + "\n")
		if errors.As(err, new(usageError)) {
			return 2, outBuf.String(), errBuf.String()
		}
		return 1, outBuf.String(), errBuf.String()
	}
	return 0, outBuf.String(), errBuf.String()
}

// The oldest record of every shard wins; past the policy's 5m budget the writer is behind.
func TestAuditLagBehind(t *testing.T) {
	t.Parallel()
	idx := &pendingIndex{oldest: map[string]outbox.Unaudited{
		"3":  {Chain: "p-0123456789abcdefghijklmnop", Seq: 7, CommittedAt: lagNow.Add(-6 * time.Minute)},
		"11": {Chain: "ops", Seq: 2, CommittedAt: lagNow.Add(-2 * time.Minute)},
	}}
	code, out, errOut := runAuditLag(idx.connect, "audit", "lag", "--table", "lanyard-OutboxTable-1")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	flat := regexp.MustCompile(` {2,}`).ReplaceAllString(out, " | ")
	for _, want := range []string{
		"oldest unaudited | chain p-0123456789abcdefghijklmnop, seq 7", "committed at | 2026-03-01T11:54:00Z",
		"lag | 6m0s", "budget | 5m0s (policy audit.writerLagBudget)", "behind | yes: past the budget",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if len(idx.tables) != outbox.AuditPendingShards || idx.tables[0] != "lanyard-OutboxTable-1" || idx.target.Local {
		t.Errorf("queries %v, target %+v", idx.tables, idx.target)
	}

	code, out, _ = runAuditLag(idx.connect, "audit", "lag", "--table", "t", "-o", "json")
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil {
		t.Fatalf("exit %d: %v\n%s", code, err, out)
	}
	if v["waiting"] != true || v["chain"] != "p-0123456789abcdefghijklmnop" || v["seq"] != 7.0 || v["committedAt"] != "2026-03-01T11:54:00Z" ||
		v["lagSeconds"] != 360.0 || v["budget"] != "5m0s" || v["behind"] != true {
		t.Errorf("json %v", v)
	}
}

func TestAuditLagNothingWaits(t *testing.T) {
	t.Parallel()
	idx := &pendingIndex{}
	code, out, _ := runAuditLag(idx.connect, "audit", "lag", "--prefix", "lanyard-t1", "-o", "json")
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil {
		t.Fatalf("exit %d: %v\n%s", code, err, out)
	}
	if v["waiting"] != false || v["lagSeconds"] != 0.0 || v["behind"] != false || v["chain"] != nil {
		t.Errorf("json %v", v)
	}
	if idx.tables[0] != "lanyard-t1-outbox" || !idx.target.Local || idx.target.DynamoDBURL == "" {
		t.Errorf("local deployment: table %s, target %+v", idx.tables[0], idx.target)
	}
	_, out, _ = runAuditLag(idx.connect, "audit", "lag", "--prefix", "lanyard-t1")
	if !strings.Contains(out, "none: every committed record is in the audit log") || !strings.Contains(out, "behind") {
		t.Errorf("table output:\n%s", out)
	}
}

func TestAuditLagUsage(t *testing.T) {
	t.Parallel()
	idx := &pendingIndex{}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "lag"}, "--table is required"},
		{[]string{"audit", "lag", "--table", "t", "--prefix", "p"}, "drop --table"},
		{[]string{"audit", "lag", "extra", "--table", "t"}, "lag takes no argument"},
	} {
		code, _, errOut := runAuditLag(idx.connect, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, want usage error %q", tc.args, code, errOut, tc.want)
		}
	}
	if len(idx.tables) != 0 {
		t.Errorf("a usage error queried %v", idx.tables)
	}
}
