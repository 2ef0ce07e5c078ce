package streams_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/local/invoke"
	"github.com/lanyardhq/lanyard/local/streams"
	"github.com/lanyardhq/lanyard/topology"
)

func poller(f *fakeStreams, r *recorder, q *fakeQueue, t *testing.T, settings topology.StreamConsumer) *streams.Poller {
	settings.Table = "records"
	settings.Function = "recorder"
	c := streams.Consumer{Settings: settings, StreamARN: testStreamARN, Function: "lanyard-recorder"}
	if q != nil {
		settings.OnFailureQueue = "records-stream-failures"
		c.Settings = settings
		c.OnFailureQueueURL = "http://127.0.0.1:4566/000000000000/records-stream-failures"
	}
	p := &streams.Poller{
		Streams:      f,
		Invoker:      r.invoker(t),
		Consumers:    []streams.Consumer{c},
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		PollInterval: 5 * time.Millisecond,
		Region:       "us-east-1",
		Backoff:      func(int) time.Duration { return time.Millisecond },
		Now:          func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC) },
	}
	if q != nil {
		p.Queue = q
	}
	return p
}

func keys(prefix string, n int) []string {
	var ks []string
	for i := range n {
		ks = append(ks, prefix+string(rune('a'+i/26))+string(rune('a'+i%26)))
	}
	return ks
}

func TestDeliversEachShardInOrderInBatches(t *testing.T) {
	f := &fakeStreams{}
	f.addShard("shard-1", "")
	f.addShard("shard-2", "")
	f.addShard("shard-3", "") // a second DescribeStream page
	one, two, three := keys("one-", 25), keys("two-", 7), keys("three-", 12)
	f.put("shard-1", one...)
	f.put("shard-2", two...)
	f.put("shard-3", three...)
	r := &recorder{}
	start(t, poller(f, r, nil, t, topology.StreamConsumer{BatchSize: 10, RetryAttempts: 2}))

	eventually(t, "all 44 records delivered", func() bool { return len(r.delivered(func(call) bool { return true })) >= 44 })
	// Records written later, to an open shard, are picked up too.
	late := f.put("shard-2", "two-late")
	eventually(t, "the late record delivered", func() bool { return len(r.delivered(func(call) bool { return true })) == 45 })

	perShard := map[string][]string{}
	for _, c := range r.seen() {
		if c.function != "lanyard-recorder" {
			t.Errorf("invoked %q, want lanyard-recorder", c.function)
		}
		if n := len(c.event.Records); n < 1 || n > 10 {
			t.Errorf("batch of %d records, want 1..10", n)
		}
		prefix, _, _ := strings.Cut(c.keys()[0], "-")
		for _, k := range c.keys() {
			if !strings.HasPrefix(k, prefix+"-") {
				t.Errorf("batch mixes shards: %v", c.keys())
			}
		}
		perShard[prefix] = append(perShard[prefix], c.keys()...)
	}
	for prefix, want := range map[string][]string{"one": one, "two": append(slices.Clone(two), "two-late"), "three": three} {
		if got := perShard[prefix]; !slices.Equal(got, want) {
			t.Errorf("shard %s delivered\n%v\nwant, once each and in order,\n%v", prefix, got, want)
		}
	}
	// The event is what the event source mapping delivers.
	last := r.seen()[len(r.seen())-1].event.Records[0]
	if last.EventSource != "aws:dynamodb" || last.EventVersion != "1.1" || last.EventSourceArn != testStreamARN ||
		last.AWSRegion != "us-east-1" || last.EventName != "INSERT" || last.Change.SequenceNumber != late[0] ||
		last.Change.StreamViewType != "NEW_AND_OLD_IMAGES" || last.Change.NewImage["pk"].String() != "two-late" {
		t.Errorf("unexpected event record: %+v", last)
	}
}

func TestEventJSONHasTheEventSourceMappingShape(t *testing.T) {
	f := &fakeStreams{}
	f.addShard("shard-1", "")
	seq := f.put("shard-1", "k1")
	r := &recorder{}
	start(t, poller(f, r, nil, t, topology.StreamConsumer{BatchSize: 10}))
	eventually(t, "one invocation", func() bool { return len(r.seen()) == 1 })

	var got any
	if err := json.Unmarshal(r.seen()[0].raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"Records": []any{map[string]any{
		"eventID": "event-" + seq[0], "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
		"awsRegion": "us-east-1", "eventSourceARN": testStreamARN,
		"dynamodb": map[string]any{
			"ApproximateCreationDateTime": float64(time.Date(2026, 1, 2, 3, 4, 1, 0, time.UTC).Unix()),
			"Keys":                        map[string]any{"pk": map[string]any{"S": "k1"}},
			"NewImage":                    map[string]any{"pk": map[string]any{"S": "k1"}, "n": map[string]any{"N": "1"}},
			"SequenceNumber":              seq[0],
			"SizeBytes":                   float64(12),
			"StreamViewType":              "NEW_AND_OLD_IMAGES",
		},
	}}}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("event\n%s\nwant\n%s", g, w)
	}
}

func TestChildShardWaitsForItsParent(t *testing.T) {
	f := &fakeStreams{}
	f.addShard("shard-child", "shard-parent") // listed first, read last
	f.addShard("shard-parent", "")
	f.addShard("shard-orphan", "shard-trimmed") // its parent is gone from the stream
	parent, child := keys("p-", 9), keys("c-", 4)
	f.put("shard-parent", parent...)
	f.put("shard-child", child...)
	f.put("shard-orphan", "o-1")
	r := &recorder{}
	release := make(chan struct{})
	r.respond = func(_ int, c call) (invoke.Result, error) {
		if strings.HasPrefix(c.keys()[0], "p-") {
			if f.iteratorsFor("shard-child") != 0 {
				t.Errorf("the child shard was opened while its parent was being read")
			}
			<-release
		}
		return invoke.Result{}, nil
	}
	start(t, poller(f, r, nil, t, topology.StreamConsumer{BatchSize: 2}))

	eventually(t, "the orphan delivered while the parent is blocked", func() bool {
		return slices.Contains(r.delivered(func(call) bool { return true }), "o-1")
	})
	close(release)
	// The parent is still open: its child must wait until it closes and is read to the end.
	eventually(t, "the parent's records delivered", func() bool {
		return len(r.delivered(func(c call) bool { return strings.HasPrefix(c.keys()[0], "p-") })) == len(parent)
	})
	if f.iteratorsFor("shard-child") != 0 {
		t.Fatal("the child shard was opened before its parent closed")
	}
	f.put("shard-parent", "p-last")
	f.close("shard-parent")
	eventually(t, "the child's records delivered", func() bool {
		return len(r.delivered(func(c call) bool { return strings.HasPrefix(c.keys()[0], "c-") })) == len(child)
	})
	var order []string
	for _, k := range r.delivered(func(call) bool { return true }) {
		if !strings.HasPrefix(k, "o-") {
			order = append(order, k)
		}
	}
	want := append(append(slices.Clone(parent), "p-last"), child...)
	if !slices.Equal(order, want) {
		t.Errorf("delivered %v, want %v", order, want)
	}
}

func TestRetriesAFailedBatchThenSucceeds(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func() (invoke.Result, error)
	}{
		{"function error", func() (invoke.Result, error) { return functionError("registry busy"), nil }},
		{"invoke error", func() (invoke.Result, error) { return invoke.Result{}, errors.New("connection refused") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeStreams{}
			f.addShard("shard-1", "")
			f.put("shard-1", "a", "b", "c")
			r := &recorder{respond: func(n int, _ call) (invoke.Result, error) {
				if n <= 2 {
					return tc.fail()
				}
				return invoke.Result{Payload: []byte(`{}`)}, nil
			}}
			q := &fakeQueue{}
			start(t, poller(f, r, q, t, topology.StreamConsumer{BatchSize: 10, RetryAttempts: 2, BisectOnError: false}))
			eventually(t, "three invocations", func() bool { return len(r.seen()) >= 3 })
			f.put("shard-1", "d")
			eventually(t, "the next record delivered", func() bool { return len(r.seen()) == 4 })
			for i, c := range r.seen()[:3] {
				if !slices.Equal(c.keys(), []string{"a", "b", "c"}) {
					t.Errorf("invocation %d carried %v, want the same batch [a b c]", i+1, c.keys())
				}
			}
			if got := r.seen()[3].keys(); !slices.Equal(got, []string{"d"}) {
				t.Errorf("then %v, want [d]", got)
			}
			if m := q.messages(); len(m) != 0 {
				t.Errorf("a batch that succeeded on a retry went to the on-failure queue: %v", m)
			}
		})
	}
}

func TestExhaustedBatchGoesToTheOnFailureQueueAndThePollerMovesOn(t *testing.T) {
	f := &fakeStreams{}
	f.addShard("shard-00000001767225600000-abcdef12", "")
	seqs := f.put("shard-00000001767225600000-abcdef12", "a", "b", "c")
	r := &recorder{respond: func(_ int, c call) (invoke.Result, error) {
		if c.keys()[0] == "a" {
			return functionError("cannot publish"), nil
		}
		return invoke.Result{}, nil
	}}
	q := &fakeQueue{failures: 2} // the queue is briefly unreachable: the shard waits
	start(t, poller(f, r, q, t, topology.StreamConsumer{BatchSize: 3, RetryAttempts: 2}))
	eventually(t, "an on-failure message", func() bool { return len(q.messages()) == 1 })
	f.put("shard-00000001767225600000-abcdef12", "d")
	eventually(t, "the next record delivered", func() bool { return len(r.seen()) == 4 })
	if got := r.seen()[3].keys(); !slices.Equal(got, []string{"d"}) {
		t.Errorf("after the failed batch the poller delivered %v, want [d]", got)
	}

	var got map[string]any
	if err := json.Unmarshal([]byte(q.messages()[0]), &got); err != nil {
		t.Fatalf("on-failure message is not JSON: %v", err)
	}
	rc, _ := got["requestContext"].(map[string]any)
	if id, _ := rc["requestId"].(string); uuid.Validate(id) != nil {
		t.Errorf("requestId %q is not a UUID", id)
	}
	delete(rc, "requestId")
	want := map[string]any{
		"requestContext": map[string]any{
			"functionArn":            "arn:aws:lambda:us-east-1:000000000000:function:lanyard-recorder",
			"condition":              "RetryAttemptsExhausted",
			"approximateInvokeCount": float64(3),
		},
		"responseContext": map[string]any{"statusCode": float64(200), "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"version":         "1.0",
		"timestamp":       "2026-01-02T03:04:05.678Z",
		"DDBStreamBatchInfo": map[string]any{
			"shardId":                         "shard-00000001767225600000-abcdef12",
			"startSequenceNumber":             seqs[0],
			"endSequenceNumber":               seqs[2],
			"approximateArrivalOfFirstRecord": "2026-01-02T03:04:01Z",
			"approximateArrivalOfLastRecord":  "2026-01-02T03:04:03Z",
			"batchSize":                       float64(3),
			"streamArn":                       testStreamARN,
		},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("on-failure message\n%s\nwant\n%s", g, w)
	}
}

func TestBisectIsolatesAPoisonRecord(t *testing.T) {
	f := &fakeStreams{}
	f.addShard("shard-1", "")
	ks := keys("k-", 8)
	seqs := f.put("shard-1", ks...)
	poison := ks[5]
	r := &recorder{respond: func(_ int, c call) (invoke.Result, error) {
		if slices.Contains(c.keys(), poison) {
			return functionError("cannot decode outbox record"), nil
		}
		return invoke.Result{}, nil
	}}
	q := &fakeQueue{}
	start(t, poller(f, r, q, t, topology.StreamConsumer{BatchSize: 8, RetryAttempts: 1, BisectOnError: true}))
	eventually(t, "an on-failure message", func() bool { return len(q.messages()) == 1 })
	f.put("shard-1", "after")
	eventually(t, "the next record delivered", func() bool {
		return slices.Contains(r.delivered(func(call) bool { return true }), "after")
	})

	good := r.delivered(func(c call) bool { return !slices.Contains(c.keys(), poison) })
	want := append(slices.DeleteFunc(slices.Clone(ks), func(k string) bool { return k == poison }), "after")
	if !slices.Equal(good, want) {
		t.Errorf("delivered %v, want every good record once and in order: %v", good, want)
	}
	var msg streams.FailureRecord
	if err := json.Unmarshal([]byte(q.messages()[0]), &msg); err != nil {
		t.Fatal(err)
	}
	info := msg.DDBStreamBatchInfo
	if info.BatchSize != 1 || info.StartSequenceNumber != seqs[5] || info.EndSequenceNumber != seqs[5] {
		t.Errorf("on-failure batch %+v, want the poison record %s alone", info, seqs[5])
	}
	if n := msg.RequestContext.ApproximateInvokeCount; n != 2 {
		t.Errorf("the poison record was invoked %d times on its own, want 2 (one try, one retry)", n)
	}
	if len(q.messages()) != 1 {
		t.Errorf("want one on-failure message, got %d", len(q.messages()))
	}
}

func TestPartialBatchResponse(t *testing.T) {
	for _, bisect := range []bool{false, true} {
		t.Run(map[bool]string{false: "retry", true: "bisect"}[bisect], func(t *testing.T) {
			f := &fakeStreams{}
			f.addShard("shard-1", "")
			seqs := f.put("shard-1", "a", "b", "c", "d", "e")
			r := &recorder{respond: func(n int, c call) (invoke.Result, error) {
				if n == 1 { // c and e failed the first time
					return invoke.Result{Payload: []byte(`{"batchItemFailures":[{"itemIdentifier":"` + seqs[4] +
						`"},{"itemIdentifier":"` + seqs[2] + `"}]}`)}, nil
				}
				return invoke.Result{Payload: []byte(`{"batchItemFailures":[]}`)}, nil
			}}
			p := poller(f, r, &fakeQueue{}, t, topology.StreamConsumer{BatchSize: 5, RetryAttempts: 1, BisectOnError: bisect})
			p.Consumers[0].ReportBatchItemFailures = true
			start(t, p)
			eventually(t, "two invocations", func() bool { return len(r.seen()) >= 2 })
			f.put("shard-1", "f")
			eventually(t, "the next record delivered", func() bool { return len(r.seen()) == 3 })
			got := [][]string{r.seen()[0].keys(), r.seen()[1].keys(), r.seen()[2].keys()}
			want := [][]string{{"a", "b", "c", "d", "e"}, {"c", "d", "e"}, {"f"}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("invocations %v, want %v", got, want)
			}
		})
	}
}

func TestPartialBatchResponseNamingNoRecordFailsTheBatch(t *testing.T) {
	f := &fakeStreams{}
	f.addShard("shard-1", "")
	f.put("shard-1", "a", "b")
	r := &recorder{respond: func(int, call) (invoke.Result, error) {
		return invoke.Result{Payload: []byte(`{"batchItemFailures":[{"itemIdentifier":""}]}`)}, nil
	}}
	q := &fakeQueue{}
	p := poller(f, r, q, t, topology.StreamConsumer{BatchSize: 5, RetryAttempts: 1})
	p.Consumers[0].ReportBatchItemFailures = true
	start(t, p)
	eventually(t, "an on-failure message", func() bool { return len(q.messages()) == 1 })
	var msg streams.FailureRecord
	if err := json.Unmarshal([]byte(q.messages()[0]), &msg); err != nil {
		t.Fatal(err)
	}
	if msg.DDBStreamBatchInfo.BatchSize != 2 || msg.RequestContext.ApproximateInvokeCount != 2 {
		t.Errorf("on-failure record %+v, want the whole batch after two invocations", msg)
	}
}

func TestPartialBatchResponseIgnoredUnlessEnabled(t *testing.T) {
	f := &fakeStreams{}
	f.addShard("shard-1", "")
	seqs := f.put("shard-1", "a", "b")
	r := &recorder{respond: func(int, call) (invoke.Result, error) {
		return invoke.Result{Payload: []byte(`{"batchItemFailures":[{"itemIdentifier":"` + seqs[1] + `"}]}`)}, nil
	}}
	start(t, poller(f, r, &fakeQueue{}, t, topology.StreamConsumer{BatchSize: 5, RetryAttempts: 3}))
	f.put("shard-1", "c")
	eventually(t, "the next record delivered", func() bool { return slices.Contains(r.delivered(func(call) bool { return true }), "c") })
	if got := r.delivered(func(call) bool { return true }); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("delivered %v, want [a b c] once each", got)
	}
}

func TestRecoversFromExpiredIteratorsAndListingErrors(t *testing.T) {
	f := &fakeStreams{describeFailures: 3}
	f.addShard("shard-1", "")
	f.put("shard-1", "a", "b", "c")
	r := &recorder{}
	start(t, poller(f, r, nil, t, topology.StreamConsumer{BatchSize: 2}))
	eventually(t, "the first records delivered", func() bool { return len(r.delivered(func(call) bool { return true })) == 3 })
	f.set(func(f *fakeStreams) { f.expireIterators = 2 })
	f.put("shard-1", "d", "e")
	eventually(t, "the records after the expiry delivered", func() bool { return len(r.delivered(func(call) bool { return true })) >= 5 })
	if got := r.delivered(func(call) bool { return true }); !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("delivered %v, want [a b c d e] once each", got)
	}
	if n := f.iteratorsFor("shard-1"); n < 2 {
		t.Errorf("the expired iterator was not renewed (%d iterators)", n)
	}
}

func TestLatestSkipsRecordsWrittenBeforeStart(t *testing.T) {
	f := &fakeStreams{}
	f.addShard("shard-old", "")
	f.put("shard-old", "before-closed")
	f.close("shard-old")
	f.addShard("shard-1", "shard-old")
	f.put("shard-1", "before")
	r := &recorder{}
	p := poller(f, r, nil, t, topology.StreamConsumer{BatchSize: 5})
	p.StartingPosition = streams.Latest
	start(t, p)
	eventually(t, "the open shard is read", func() bool { return f.iteratorsFor("shard-1") == 1 })
	f.put("shard-1", "after")
	f.close("shard-1")
	f.addShard("shard-2", "shard-1") // a shard born after start is read from its beginning
	f.put("shard-2", "child")
	eventually(t, "the child delivered", func() bool { return slices.Contains(r.delivered(func(call) bool { return true }), "child") })
	if got := r.delivered(func(call) bool { return true }); !slices.Equal(got, []string{"after", "child"}) {
		t.Errorf("delivered %v, want [after child]", got)
	}
}

func TestCancelStopsABlockedPoller(t *testing.T) {
	f := &fakeStreams{}
	f.addShard("shard-1", "")
	f.addShard("shard-2", "")
	f.put("shard-1", "a")
	f.put("shard-2", "b")
	entered := make(chan struct{}, 2)
	r := &recorder{}
	p := poller(f, r, &fakeQueue{}, t, topology.StreamConsumer{BatchSize: 5, RetryAttempts: -1})
	p.Invoker = invoke.Func(func(ctx context.Context, _ string, payload []byte) (invoke.Result, error) {
		if strings.Contains(string(payload), `"b"`) {
			return functionError("always"), nil // retried forever, with backoff
		}
		entered <- struct{}{}
		<-ctx.Done() // an invocation in flight when the poller stops
		return invoke.Result{}, ctx.Err()
	})
	p.Backoff = func(int) time.Duration { return time.Hour }
	before := runtime.NumGoroutine()
	stop := start(t, p)
	<-entered
	stop() // fails the test unless Run returns within 5s
	eventually(t, "the poller's goroutines gone", func() bool { return runtime.NumGoroutine() <= before })
}

func TestRunRejectsAnUnusableConfiguration(t *testing.T) {
	ok := func() *streams.Poller {
		return poller(&fakeStreams{}, &recorder{}, &fakeQueue{}, t, topology.StreamConsumer{BatchSize: 10})
	}
	for _, tc := range []struct {
		name   string
		change func(p *streams.Poller)
	}{
		{"no streams client", func(p *streams.Poller) { p.Streams = nil }},
		{"no invoker", func(p *streams.Poller) { p.Invoker = nil }},
		{"no stream ARN", func(p *streams.Poller) { p.Consumers[0].StreamARN = "" }},
		{"not an ARN", func(p *streams.Poller) { p.Consumers[0].StreamARN = "records" }},
		{"no function", func(p *streams.Poller) { p.Consumers[0].Function = "" }},
		{"batch too large", func(p *streams.Poller) { p.Consumers[0].Settings.BatchSize = 10001 }},
		{"queue URL missing", func(p *streams.Poller) { p.Consumers[0].OnFailureQueueURL = "" }},
		{"no SQS client", func(p *streams.Poller) { p.Queue = nil }},
		{"bad starting position", func(p *streams.Poller) { p.StartingPosition = "AT_TIMESTAMP" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ok()
			tc.change(p)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := p.Run(ctx); err == nil {
				t.Error("Run accepted the configuration")
			}
		})
	}
}
