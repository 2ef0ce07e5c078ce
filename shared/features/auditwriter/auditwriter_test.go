package auditwriter_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/auditline"
	"github.com/lanyardhq/lanyard/shared/features/auditwriter"
)

const (
	group  = "/lanyard/audit"
	stream = "audit-writer/2026/11/23/test"
	table  = "lanyard-outbox"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type rig struct {
	logs  *fakeLogs
	db    *fakeOutbox
	calls *counting
	w     *auditwriter.Writer
}

func newRig(t *testing.T) *rig {
	t.Helper()
	now := func() time.Time { return t0.Add(time.Minute) }
	r := &rig{logs: newFakeLogs(now), db: newFakeOutbox(table)}
	r.calls = newCounting(r.logs, r.db)
	r.w = &auditwriter.Writer{Logs: r.calls, DB: r.calls, Group: group, Stream: stream, Table: table, Now: now}
	if err := r.w.OpenStream(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.calls.take()
	return r
}

// revoked is a Credential Revoked of partner at, with its record at chain/seq when seq > 0.
func revoked(t *testing.T, partner string, at time.Time, seq int64) (events.Detail, *events.RecordRef) {
	t.Helper()
	d := &events.CredentialRevoked{Meta: events.NewMeta(partner, events.Actor{Kind: events.ActorOps, ID: "arn:aws:iam::123456789012:role/ops"}, at),
		RevocationID: "rev-1", KeyIDs: []string{"k1"}, Reason: events.RevocationRequested, Note: "ticket OPS-1"}
	if seq == 0 {
		return d, nil
	}
	return d, &events.RecordRef{Chain: partner, Seq: seq, PrevHash: strings.Repeat("0", 64), Hash: strings.Repeat("f", 64)}
}

func lines(t *testing.T, msgs []string) []auditline.Line {
	t.Helper()
	var out []auditline.Line
	for _, m := range msgs {
		var l auditline.Line
		if err := json.Unmarshal([]byte(m), &l); err != nil {
			t.Fatalf("line %s: %v", m, err)
		}
		out = append(out, l)
	}
	return out
}

func eventIDs(ls []auditline.Line) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.EventID)
	}
	return out
}

// A batch of three outbox events (out of time order) and one that names no outbox record:
// three calls, three lines in time order built from the records, three records marked, the
// event without a record refused (it comes again, and ends in the DLQ); the same batch again
// reads once and writes nothing.
func TestWriteBatchOnceInThreeCalls(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var bodies []string
	var want []string
	for i, off := range []time.Duration{20 * time.Second, 0, 10 * time.Second} {
		d, ref := revoked(t, "p-"+string(rune('a'+i)), t0.Add(off), int64(i+1))
		r.db.add(t, d, ref)
		bodies = append(bodies, message(t, d, ref))
		want = append(want, d.Header().EventID)
	}
	plain, _ := revoked(t, "p-z", t0.Add(5*time.Second), 0)
	bodies = append(bodies, message(t, plain, nil))

	resp, res := r.w.Write(context.Background(), batchOf(bodies...))
	if got := failedIDs(resp); !slices.Equal(got, []string{"m4"}) {
		t.Fatalf("failures %v, want the event without a record (m4)", got)
	}
	if calls := r.calls.take(); calls["BatchGetItem"] != 1 || calls["PutLogEvents"] != 1 || calls["TransactWriteItems"] != 1 || len(calls) != 3 {
		t.Errorf("calls %v, want one BatchGetItem, one PutLogEvents, one TransactWriteItems", calls)
	}
	if res.Written != 3 || res.Marked != 3 || res.Skipped != 0 {
		t.Errorf("result %+v", res)
	}
	got := lines(t, r.logs.messages(group, stream))
	wantOrder := []string{want[1], want[2], want[0]}
	if !slices.Equal(eventIDs(got), wantOrder) {
		t.Errorf("lines %v, want in time order %v", eventIDs(got), wantOrder)
	}
	for i := 1; i <= 3; i++ {
		chain := "p-" + string(rune('a'+i-1))
		if at, ok := r.db.auditedAt(chain, int64(i)); !ok || at != t0.Add(time.Minute).Format(time.RFC3339Nano) {
			t.Errorf("record %s/%d auditedAt %q %v", chain, i, at, ok)
		}
	}
	if l := got[0]; l.Chain != "p-b" || l.Seq != 2 || l.Hash == "" || l.Decision != "revoked" || l.Justification != "requested" {
		t.Errorf("line %+v", l)
	}

	// Again: the outbox events are skipped; the one without a record is refused again.
	resp, res = r.w.Write(context.Background(), batchOf(bodies...))
	if got := failedIDs(resp); !slices.Equal(got, []string{"m4"}) {
		t.Fatalf("failures %v", got)
	}
	if calls := r.calls.take(); calls["BatchGetItem"] != 1 || len(calls) != 1 {
		t.Errorf("calls %v on the second delivery, want one BatchGetItem", calls)
	}
	if res.Skipped != 3 || res.Written != 0 || res.Marked != 0 {
		t.Errorf("second delivery %+v", res)
	}

	// Only outbox events, written already: one read, nothing else.
	r.w.Write(context.Background(), batchOf(bodies[:3]...))
	if calls := r.calls.take(); calls["BatchGetItem"] != 1 || len(calls) != 1 {
		t.Errorf("calls %v for a batch written already, want one BatchGetItem", calls)
	}
	if n := len(r.logs.messages(group, stream)); n != 3 {
		t.Errorf("%d lines in the stream, want 3", n)
	}
}

// Each failure fails exactly the messages it concerns.
func TestFailuresFailTheirMessagesOnly(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name  string
		setup func(r *rig)
		// want: the failed message ids (m1: outbox event, m2: its duplicate, m3: not from the
		// outbox, refused, m4: malformed), lines written, records marked.
		want    []string
		written int
		marked  bool
	}{
		{"nothing fails but the malformed record and the event without one", func(*rig) {}, []string{"m3", "m4"}, 1, true},
		{"the read fails: the outbox event comes again", func(r *rig) { r.db.failGet = boom }, []string{"m1", "m2", "m3", "m4"}, 0, false},
		{"a key left unprocessed comes again", func(r *rig) { r.db.unprocessed["p-a/1"] = true }, []string{"m1", "m2", "m3", "m4"}, 0, false},
		{"the write fails: every line comes again", func(r *rig) { r.logs.failPut = boom }, []string{"m1", "m2", "m3", "m4"}, 0, false},
		{"the mark fails: the line is written and comes again", func(r *rig) { r.db.failTransact = boom }, []string{"m1", "m2", "m3", "m4"}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			d, ref := revoked(t, "p-a", t0, 1)
			r.db.add(t, d, ref)
			plain, _ := revoked(t, "p-z", t0, 0)
			tc.setup(r)
			resp, _ := r.w.Write(context.Background(), batchOf(message(t, d, ref), message(t, d, ref), message(t, plain, nil), `{"detail-type":`))
			if got := failedIDs(resp); !slices.Equal(got, tc.want) {
				t.Errorf("failed %v, want %v", got, tc.want)
			}
			if n := len(r.logs.messages(group, stream)); n != tc.written {
				t.Errorf("%d lines written, want %d", n, tc.written)
			}
			if _, marked := r.db.auditedAt("p-a", 1); marked != tc.marked {
				t.Errorf("marked %v, want %v", marked, tc.marked)
			}
			if calls := r.calls.take(); calls["BatchGetItem"] > 1 || calls["PutLogEvents"] > 1 || calls["TransactWriteItems"] > 1 {
				t.Errorf("calls %v: more than one of an operation", calls)
			}
		})
	}
}

// An event naming a record the outbox does not hold is refused (only the relay's events, which
// name records the outbox holds, reach the audit log); the others of its batch are written.
func TestRecordMissingFromTheOutboxIsRefused(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ghost, ghostRef := revoked(t, "p-ghost", t0, 9)
	d, ref := revoked(t, "p-a", t0, 1)
	r.db.add(t, d, ref)
	resp, res := r.w.Write(context.Background(), batchOf(message(t, ghost, ghostRef), message(t, d, ref)))
	if got := failedIDs(resp); !slices.Equal(got, []string{"m1"}) {
		t.Fatalf("failed %v, want the ghost's m1", got)
	}
	if res.Written != 1 || res.Marked != 1 {
		t.Errorf("result %+v", res)
	}
	if _, ok := r.db.auditedAt("p-a", 1); !ok {
		t.Error("p-a/1 not marked")
	}
}

// Events CloudWatch Logs rejects are failed and not marked; the others are.
func TestRejectedLinesComeAgain(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.logs.reject = &logstypes.RejectedLogEventsInfo{TooNewLogEventStartIndex: aws.Int32(1)}
	a, aRef := revoked(t, "p-a", t0, 1)
	b, bRef := revoked(t, "p-b", t0.Add(time.Second), 1)
	r.db.add(t, a, aRef)
	r.db.add(t, b, bRef)
	resp, _ := r.w.Write(context.Background(), batchOf(message(t, a, aRef), message(t, b, bRef)))
	if got := failedIDs(resp); !slices.Equal(got, []string{"m2"}) {
		t.Errorf("failed %v, want [m2]", got)
	}
	_, aMarked := r.db.auditedAt("p-a", 1)
	_, bMarked := r.db.auditedAt("p-b", 1)
	if !aMarked || bMarked {
		t.Errorf("marked p-a %v p-b %v, want only p-a", aMarked, bMarked)
	}
}

// A delivery a day old (redriven from the DLQ) and one from the future still go in one call: the
// log event's timestamp is brought within what PutLogEvents takes; the line keeps its time.
func TestTimestampsWithinWhatOneCallTakes(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	old, oldRef := revoked(t, "p-a", t0.Add(-30*24*time.Hour), 1)
	ahead, aheadRef := revoked(t, "p-b", t0.Add(5*time.Hour), 1)
	now, nowRef := revoked(t, "p-c", t0, 1)
	r.db.add(t, old, oldRef)
	r.db.add(t, ahead, aheadRef)
	r.db.add(t, now, nowRef)
	resp, res := r.w.Write(context.Background(), batchOf(message(t, old, oldRef), message(t, ahead, aheadRef), message(t, now, nowRef)))
	if got := failedIDs(resp); len(got) != 0 || res.Written != 3 {
		t.Fatalf("failed %v, result %+v", got, res)
	}
	got := lines(t, r.logs.messages(group, stream))
	if got[0].EventID != old.Header().EventID || !got[0].At().Equal(t0.Add(-30*24*time.Hour)) {
		t.Errorf("first line %+v, want the old decision with its own time", got[0])
	}
}

func TestOpenStreamTakesAnExistingStream(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	if err := r.w.OpenStream(context.Background()); err != nil {
		t.Errorf("second OpenStream: %v", err)
	}
	w := *r.w
	w.Logs = failingLogs{r.logs}
	if err := w.OpenStream(context.Background()); err == nil || !strings.Contains(err.Error(), group) {
		t.Errorf("OpenStream with a failing service: %v", err)
	}
}

type failingLogs struct{ *fakeLogs }

func (failingLogs) CreateLogStream(context.Context, *cloudwatchlogs.CreateLogStreamInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	return nil, &logstypes.ServiceUnavailableException{Message: aws.String("down")}
}

func TestStreamNamesDiffer(t *testing.T) {
	t.Parallel()
	a, b := auditwriter.StreamName(t0), auditwriter.StreamName(t0)
	if a == b || !strings.HasPrefix(a, "audit-writer/2026/11/23/") {
		t.Errorf("stream names %q %q", a, b)
	}
}

// An event naming an outbox record that holds another event (or another hash) is not written
// and does not mark the record: a line never claims a place in a chain it does not hold.
func TestEventNamingAnotherRecordIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		audited bool
	}{{"record pending", false}, {"record audited", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			real, ref := revoked(t, "p-a", t0, 1)
			r.db.add(t, real, ref)
			if tc.audited {
				r.w.Write(context.Background(), batchOf(message(t, real, ref)))
			}
			before := len(r.logs.messages(group, stream))
			forged, _ := revoked(t, "p-a", t0, 0)
			forgedHash := *ref
			forgedHash.Hash = strings.Repeat("e", 64)
			resp, res := r.w.Write(context.Background(), batchOf(message(t, forged, ref), message(t, real, &forgedHash)))
			if got := failedIDs(resp); !slices.Equal(got, []string{"m1", "m2"}) {
				t.Errorf("failed %v, want both", got)
			}
			if n := len(r.logs.messages(group, stream)); n != before || res.Written != 0 || res.Marked != 0 {
				t.Errorf("%d lines (before %d), result %+v", n, before, res)
			}
			if _, marked := r.db.auditedAt("p-a", 1); marked != tc.audited {
				t.Errorf("the real record marked %v", marked)
			}
		})
	}
}

// An event that names a real record but carries other content (anyone who may put events on
// the bus could send one) writes the record's own line, built from the outbox, and marks it;
// never its own content.
func TestLineIsBuiltFromTheRecordNotTheEvent(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	real, ref := revoked(t, "p-a", t0, 1)
	r.db.add(t, real, ref)
	forged := *real.(*events.CredentialRevoked)
	forged.Actor = events.Actor{Kind: events.ActorPartner, ID: "p-a"}
	forged.Note = "nothing to see"
	resp, res := r.w.Write(context.Background(), batchOf(message(t, &forged, ref)))
	if got := failedIDs(resp); len(got) != 0 || res.Written != 1 {
		t.Fatalf("failed %v, result %+v", got, res)
	}
	got := lines(t, r.logs.messages(group, stream))
	if l := got[0]; l.Actor.Kind != events.ActorOps || strings.Contains(string(l.Detail), "nothing to see") || !strings.Contains(string(l.Detail), "ticket OPS-1") {
		t.Errorf("line %+v, want the record's own content", l)
	}
}
