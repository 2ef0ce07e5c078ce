package auditwriter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/features/auditwriter"
	"github.com/lanyardhq/lanyard/shared/platform/metrics"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

type fakePending struct {
	oldest outbox.Unaudited
	found  bool
	err    error
}

func (f fakePending) OldestUnaudited(context.Context) (outbox.Unaudited, bool, error) {
	return f.oldest, f.found, f.err
}

func TestLagCheck(t *testing.T) {
	t.Parallel()
	now := t0.Add(time.Hour)
	for _, tc := range []struct {
		name       string
		pending    fakePending
		lagSeconds float64
		behind     float64
	}{
		{"nothing waits", fakePending{}, 0, 0},
		{"within the budget", fakePending{oldest: outbox.Unaudited{Chain: "p-1", Seq: 4, CommittedAt: now.Add(-90 * time.Second)}, found: true}, 90, 0},
		{"at the budget", fakePending{oldest: outbox.Unaudited{Chain: "p-1", Seq: 4, CommittedAt: now.Add(-5 * time.Minute)}, found: true}, 300, 0},
		{"past the budget", fakePending{oldest: outbox.Unaudited{Chain: "p-1", Seq: 4, CommittedAt: now.Add(-6 * time.Minute)}, found: true}, 360, 1},
		{"committed after now (clock skew)", fakePending{oldest: outbox.Unaudited{Chain: "p-1", Seq: 4, CommittedAt: now.Add(time.Second)}, found: true}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			mw, err := metrics.New(&buf, "Lanyard")
			if err != nil {
				t.Fatal(err)
			}
			mw.Now = func() time.Time { return now }
			c := &auditwriter.LagCheck{Outbox: tc.pending, Budget: 5 * time.Minute, Metrics: mw, Function: "audit-writer", Now: func() time.Time { return now }}
			l, err := c.Check(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if l.Lag.Seconds() != tc.lagSeconds || l.Behind != (tc.behind == 1) {
				t.Errorf("lag %+v", l)
			}
			var doc map[string]any
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatalf("metrics %q: %v", buf.String(), err)
			}
			if doc[auditwriter.MetricLagSeconds] != tc.lagSeconds || doc[auditwriter.MetricBehind] != tc.behind || doc["Function"] != "audit-writer" {
				t.Errorf("metrics %s", buf.String())
			}
			if strings.Contains(buf.String(), "p-1") {
				t.Errorf("the metrics name a chain: %s", buf.String())
			}
		})
	}
}

// A failed read fails the invocation and writes no metric.
func TestLagCheckReadFails(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	mw, _ := metrics.New(&buf, "Lanyard")
	c := &auditwriter.LagCheck{Outbox: fakePending{err: errors.New("boom")}, Budget: time.Minute, Metrics: mw, Function: "audit-writer"}
	if _, err := c.Check(context.Background()); err == nil {
		t.Fatal("no error")
	}
	if buf.Len() != 0 {
		t.Errorf("metrics written: %s", buf.String())
	}
}

// The handler sends SQS batches to the writer and the schedule's event to the lag check.
func TestHandlerDispatches(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var buf bytes.Buffer
	mw, _ := metrics.New(&buf, "Lanyard")
	h := &auditwriter.Handler{Writer: r.w, Lag: &auditwriter.LagCheck{Outbox: fakePending{}, Budget: time.Minute, Metrics: mw, Function: "audit-writer"}}

	d, ref := revoked(t, "p-z", t0, 1)
	r.db.add(t, d, ref)
	batch, _ := json.Marshal(batchOf(message(t, d, ref)))
	if _, err := h.Handle(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if n := len(r.logs.messages(group, stream)); n != 1 || buf.Len() != 0 {
		t.Errorf("an SQS batch: %d lines, metrics %q", n, buf.String())
	}
	schedule := []byte(`{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`)
	if _, err := h.Handle(context.Background(), schedule); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), auditwriter.MetricLagSeconds) {
		t.Errorf("the schedule's event wrote no lag metric: %q", buf.String())
	}
}
