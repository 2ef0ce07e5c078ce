//go:build integration

package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/lanyardhq/lanyard/integration/harness"
)

func TestLogsPutEventsAndReadThemBackInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	group := "/lanyard/integration/" + harness.Name("logs")
	stream := harness.Name("stream")

	if _, err := env.Logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatalf("create log group: %v", err)
	}
	t.Cleanup(func() {
		_, _ = env.Logs.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)})
	})
	if _, err := env.Logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
	}); err != nil {
		t.Fatalf("create log stream: %v", err)
	}

	now := time.Now().UnixMilli()
	sent := []logstypes.InputLogEvent{
		{Timestamp: aws.Int64(now), Message: aws.String(`{"level":"INFO","message":"first"}`)},
		{Timestamp: aws.Int64(now + 1), Message: aws.String(`{"level":"INFO","message":"second"}`)},
	}
	put, err := env.Logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String(group), LogStreamName: aws.String(stream), LogEvents: sent,
	})
	if err != nil {
		t.Fatalf("put log events: %v", err)
	}
	if r := put.RejectedLogEventsInfo; r != nil {
		t.Fatalf("events rejected: %+v", *r)
	}

	// CloudWatch Logs is eventually consistent: poll until both events are readable.
	var got []logstypes.OutputLogEvent
	harness.Eventually(t, 15*time.Second, func() (bool, string) {
		out, err := env.Logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true),
		})
		if err != nil {
			return false, "get log events: " + err.Error()
		}
		got = out.Events
		return len(got) >= len(sent), fmt.Sprintf("%d of %d events readable", len(got), len(sent))
	})
	if len(got) != len(sent) {
		t.Fatalf("read %d events, want %d: %s", len(got), len(sent), describeEvents(got))
	}
	for i := range sent {
		if aws.ToString(got[i].Message) != aws.ToString(sent[i].Message) || aws.ToInt64(got[i].Timestamp) != aws.ToInt64(sent[i].Timestamp) {
			t.Errorf("event %d is %s, want %q at %d", i, describeEvents(got[i:i+1]), aws.ToString(sent[i].Message), aws.ToInt64(sent[i].Timestamp))
		}
		if got[i].IngestionTime == nil {
			t.Errorf("event %d has no IngestionTime", i)
		}
	}
}

func describeEvents(events []logstypes.OutputLogEvent) string {
	parts := make([]string, len(events))
	for i, e := range events {
		parts[i] = fmt.Sprintf("%q at %d", aws.ToString(e.Message), aws.ToInt64(e.Timestamp))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
