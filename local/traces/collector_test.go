package traces_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/local/traces"
	"github.com/lanyardhq/lanyard/shared/platform/polltest"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
)

const header = `{"format": "json", "version": 1}` + "\n"

func listen(t *testing.T, opts traces.Options) *traces.Collector {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c, err := traces.Listen("127.0.0.1:0", opts)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// sender returns a function that sends datagrams to c from one socket.
func sender(t *testing.T, c *traces.Collector) func(datagram string) {
	t.Helper()
	conn, err := net.Dial("udp", c.Addr())
	if err != nil {
		t.Fatalf("dial %s: %v", c.Addr(), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return func(datagram string) {
		if _, err := conn.Write([]byte(datagram)); err != nil {
			t.Errorf("send: %v", err)
		}
	}
}

func traceID(n int) string { return fmt.Sprintf("1-6a000000-%024x", n) }

// segment is a datagram carrying a segment document.
func segment(trace, id, name string) string {
	return header + fmt.Sprintf(`{"trace_id":%q,"id":%q,"name":%q,"start_time":1767225600.25,"end_time":1767225600.5}`, trace, id, name)
}

// received waits until c has read n datagrams in all.
func received(t *testing.T, c *traces.Collector, n int) {
	t.Helper()
	polltest.Eventually(t, 5*time.Second, func() (bool, string) {
		got := c.Stats().Received
		return got >= n, fmt.Sprintf("the collector read %d datagrams, want %d", got, n)
	})
}

func outsideLambda(t *testing.T) {
	t.Helper()
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
}

// A segment produced by our own tracing seam arrives with its annotation, its embedded
// subsegment and its fault.
func TestCollectsWhatTheTracingSeamSends(t *testing.T) {
	outsideLambda(t)
	c := listen(t, traces.Options{})
	// Registered before t.Setenv, so it runs after the variable is restored.
	t.Cleanup(func() {
		if err := tracing.Setup(); err != nil {
			t.Errorf("restore tracing: %v", err)
		}
	})
	t.Setenv(tracing.DaemonAddressEnv, c.Addr())
	if err := tracing.Setup(); err != nil {
		t.Fatalf("tracing.Setup: %v", err)
	}
	news, cancel := c.Subscribe(4)
	defer cancel()

	ctx, span := tracing.Start(context.Background(), "onboard")
	span.Annotate("partner", "p-123")
	_, child := tracing.Start(ctx, "registry-write")
	child.Annotate("partner", "p-123")
	child.End(nil)
	span.End(errors.New("registry unavailable"))
	id := tracing.TraceID(ctx)

	select {
	case first := <-news:
		if first.TraceID != id {
			t.Errorf("new trace %s, want %s", first.TraceID, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no segment arrived within 5s (stats %+v)", c.Stats())
	}
	if got := c.Traces(); !slices.Equal(got, []string{id}) {
		t.Errorf("Traces() = %v, want [%s]", got, id)
	}
	segs := c.Segments(id)
	if len(segs) != 1 {
		t.Fatalf("want 1 segment, got %d", len(segs))
	}
	s := segs[0]
	if s.Name != "onboard" || s.ID == "" || s.ParentID != "" || s.Type != "" || !s.Fault || s.InProgress ||
		s.Start.IsZero() || s.End.Before(s.Start) || s.Annotations["partner"] != "p-123" {
		t.Errorf("unexpected segment: %+v", s)
	}
	if len(s.Subsegments) != 1 {
		t.Fatalf("want the embedded subsegment, got %+v", s.Subsegments)
	}
	sub := s.Subsegments[0]
	if sub.Name != "registry-write" || sub.TraceID != id || sub.ParentID != s.ID || sub.Type != "subsegment" ||
		sub.Annotations["partner"] != "p-123" || sub.Fault {
		t.Errorf("unexpected subsegment: %+v", sub)
	}
	if !strings.Contains(string(s.Document), `"registry-write"`) {
		t.Errorf("the raw document lacks the subsegment: %s", s.Document)
	}
}

// Inside Lambda the facade segment is never sent: subsegments arrive on their own.
func TestSubsegmentSentOnItsOwn(t *testing.T) {
	c := listen(t, traces.Options{})
	send := sender(t, c)
	trace := traceID(1)
	send(header + `{"type":"subsegment","trace_id":"` + trace + `","parent_id":"facade0000000001","id":"sub0000000000001",` +
		`"name":"revoke","start_time":1767225600.125,"end_time":1767225601,"error":true,` +
		`"annotations":{"partner":"p-9","attempt":2,"final":true},` +
		`"subsegments":[{"id":"sub0000000000002","name":"DynamoDB","start_time":1767225600.2,"end_time":1767225600.3,"throttle":true}]}`)
	send(header + `{"type":"subsegment","trace_id":"` + trace + `","id":"sub0000000000003","name":"orphan","start_time":1767225600}`)
	received(t, c, 2)

	segs := c.Segments(trace)
	if len(segs) != 1 {
		t.Fatalf("want 1 document, got %d", len(segs))
	}
	s := segs[0]
	want := time.Date(2026, 1, 1, 0, 0, 0, 125_000_000, time.UTC)
	if s.Type != "subsegment" || s.ParentID != "facade0000000001" || s.Name != "revoke" || !s.Error || !s.Start.Equal(want) ||
		!s.End.Equal(want.Add(875*time.Millisecond)) {
		t.Errorf("unexpected subsegment: %+v", s)
	}
	if s.Annotations["partner"] != "p-9" || s.Annotations["attempt"] != float64(2) || s.Annotations["final"] != true {
		t.Errorf("annotations %v", s.Annotations)
	}
	if v, ok := s.Annotation("partner"); !ok || v != "p-9" {
		t.Errorf("Annotation(partner) = %v, %v", v, ok)
	}
	if len(s.Subsegments) != 1 || !s.Subsegments[0].Throttle || s.Subsegments[0].ParentID != "sub0000000000001" ||
		s.Subsegments[0].TraceID != trace {
		t.Errorf("nested subsegment %+v", s.Subsegments)
	}
	if st := c.Stats(); st.Malformed != 1 {
		t.Errorf("a subsegment without parent_id was accepted: %+v", st)
	}
}

func TestMalformedDatagramsAreCountedAndDropped(t *testing.T) {
	c := listen(t, traces.Options{})
	send := sender(t, c)
	good := traceID(7)
	bad := []string{
		"",
		"not json at all",
		`{"format": "json", "version": 1}`, // no document
		"{not json\n" + `{"trace_id":"x","id":"y","name":"z","start_time":1}`,
		`{"format": "xml", "version": 1}` + "\n" + `{"trace_id":"x","id":"y","name":"z","start_time":1}`,
		`{"format": "json", "version": 2}` + "\n" + `{"trace_id":"x","id":"y","name":"z","start_time":1}`,
		header + `{"trace_id":`,
		header + `[]`,
		header + `{"id":"y","name":"z","start_time":1}`,
		header + `{"trace_id":"x","name":"z","start_time":1}`,
		header + `{"trace_id":"x","id":"y","start_time":1}`,
		header + `{"trace_id":"x","id":"y","name":"z"}`,
		header + `{"trace_id":"x","id":"y","name":"z","start_time":1,"type":"span"}`,
		header + `{"trace_id":"x","id":"y","name":"z","start_time":"yesterday"}`,
	}
	for _, d := range bad {
		send(d)
	}
	send(segment(good, "seg0000000000001", "fine"))
	received(t, c, len(bad)+1)
	st := c.Stats()
	if st.Malformed != len(bad) || st.Stored != 1 {
		t.Errorf("stats %+v, want %d malformed and 1 stored", st, len(bad))
	}
	if got := c.Traces(); !slices.Equal(got, []string{good}) {
		t.Errorf("Traces() = %v, want only %s", got, good)
	}
}

func TestParse(t *testing.T) {
	s, err := traces.Parse([]byte(header + `{"trace_id":"t","id":"a","name":"n","start_time":1.5,"in_progress":true,` +
		`"subsegments":[{"id":"b","name":"m","start_time":1.6,"end_time":1.7,"subsegments":[{"id":"c","name":"k","start_time":1.65}]}]}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.InProgress || !s.End.IsZero() || len(s.Subsegments) != 1 || len(s.Subsegments[0].Subsegments) != 1 {
		t.Fatalf("unexpected: %+v", s)
	}
	inner := s.Subsegments[0].Subsegments[0]
	if inner.TraceID != "t" || inner.ParentID != "b" || inner.Type != "subsegment" {
		t.Errorf("nested subsegment %+v", inner)
	}

	// A segment emitted twice by the X-Ray SDK lists its subsegments twice in the second copy.
	s, err = traces.Parse([]byte(header + `{"trace_id":"t","id":"a","name":"n","start_time":1.5,"end_time":2,` +
		`"subsegments":[{"id":"b","name":"m","start_time":1.6,"end_time":1.7},{"id":"c","name":"k","start_time":1.8,"end_time":1.9},` +
		`{"id":"b","name":"m","start_time":1.6,"end_time":1.7}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Subsegments) != 2 || s.Subsegments[0].ID != "b" || s.Subsegments[1].ID != "c" {
		t.Errorf("want subsegments b and c once each, got %+v", s.Subsegments)
	}
}

func TestInProgressDocumentIsReplacedByItsCompletedForm(t *testing.T) {
	c := listen(t, traces.Options{})
	send := sender(t, c)
	trace := traceID(3)
	send(header + `{"trace_id":"` + trace + `","id":"seg0000000000001","name":"rotate","start_time":1767225600,"in_progress":true}`)
	received(t, c, 1)
	send(header + `{"trace_id":"` + trace + `","id":"seg0000000000001","name":"rotate","start_time":1767225600,"end_time":1767225602}`)
	received(t, c, 2)
	segs := c.Segments(trace)
	if len(segs) != 1 || segs[0].InProgress || segs[0].End.Sub(segs[0].Start) != 2*time.Second {
		t.Errorf("want the completed segment alone, got %+v", segs)
	}
}

func TestKeepsTheNewestDocumentsWithinItsBound(t *testing.T) {
	c := listen(t, traces.Options{MaxSegments: 5})
	send := sender(t, c)
	news, cancel := c.Subscribe(16)
	defer cancel()
	a, b, cc := traceID(10), traceID(11), traceID(12)
	n := 0
	for _, d := range []struct{ trace, id string }{
		{a, "a1"}, {a, "a2"}, {b, "b1"}, {cc, "c1"}, {cc, "c2"}, {cc, "c3"}, {cc, "c4"},
	} {
		send(segment(d.trace, d.id, "work"))
		n++
		received(t, c, n) // one at a time, so arrival order is sending order
	}
	if st := c.Stats(); st.Stored != 5 || st.Evicted != 2 {
		t.Errorf("stats %+v, want 5 stored and 2 evicted", st)
	}
	if got := c.Traces(); !slices.Equal(got, []string{b, cc}) {
		t.Errorf("Traces() = %v, want [%s %s]: trace a left with its last document", got, b, cc)
	}
	if segs := c.Segments(a); segs != nil {
		t.Errorf("evicted trace still has %d documents", len(segs))
	}
	// A trace that was evicted is new again when it comes back; it pushes b1, and b, out.
	send(segment(a, "a3", "work"))
	received(t, c, n+1)
	if got := c.Traces(); !slices.Equal(got, []string{cc, a}) {
		t.Errorf("Traces() = %v, want [%s %s]", got, cc, a)
	}
	if st := c.Stats(); st.Stored != 5 || st.Evicted != 3 {
		t.Errorf("stats %+v, want 5 stored and 3 evicted", st)
	}
	var notified []string
	for len(news) > 0 {
		notified = append(notified, (<-news).TraceID)
	}
	if !slices.Equal(notified, []string{a, b, cc, a}) {
		t.Errorf("new-trace notifications %v, want [a b c a]", notified)
	}
}

func TestTracesInFirstSeenOrderAndSegmentsAreCopies(t *testing.T) {
	c := listen(t, traces.Options{})
	send := sender(t, c)
	t1, t2, t3 := traceID(21), traceID(22), traceID(23)
	for i, tr := range []string{t1, t2, t1, t3, t2} {
		send(header + fmt.Sprintf(`{"trace_id":%q,"id":"s%d","name":"n","start_time":1,"annotations":{"k":"v"}}`, tr, i))
		received(t, c, i+1)
	}
	if got := c.Traces(); !slices.Equal(got, []string{t1, t2, t3}) {
		t.Errorf("Traces() = %v, want first-seen order", got)
	}
	segs := c.Segments(t1)
	if len(segs) != 2 || segs[0].ID != "s0" || segs[1].ID != "s2" {
		t.Fatalf("Segments(t1) = %+v", segs)
	}
	segs[0].Annotations["k"] = "changed"
	if c.Segments(t1)[0].Annotations["k"] != "v" {
		t.Error("changing a returned segment changed the collector's")
	}
	if c.Segments("1-00000000-000000000000000000000000") != nil {
		t.Error("an unknown trace has segments")
	}
}

// Many functions send at once; run with -race.
func TestConcurrentSenders(t *testing.T) {
	c := listen(t, traces.Options{})
	news, cancel := c.Subscribe(1000)
	defer cancel()
	const senders, each = 8, 40
	var sent atomic.Int64
	var wg sync.WaitGroup
	for s := range senders {
		send := sender(t, c)
		wg.Go(func() {
			for i := range each {
				// Keep the datagrams in flight within the socket's receive buffer: UDP drops
				// what does not fit, and this test is about the collector, not the kernel.
				for sent.Load()-int64(c.Stats().Received) > 32 {
					time.Sleep(time.Millisecond)
				}
				sent.Add(1)
				send(segment(traceID(100+s), fmt.Sprintf("seg-%d-%d", s, i), fmt.Sprintf("sender-%d", s)))
			}
		})
	}
	stopReading := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() { // readers run while the collector writes
		for {
			select {
			case <-stopReading:
				return
			default:
			}
			for _, id := range c.Traces() {
				_ = c.Segments(id)
			}
		}
	})
	wg.Wait()
	received(t, c, senders*each)
	close(stopReading)
	readers.Wait()

	if st := c.Stats(); st.Stored != senders*each || st.Malformed != 0 {
		t.Errorf("stats %+v, want %d stored", st, senders*each)
	}
	if got := len(c.Traces()); got != senders {
		t.Errorf("%d traces, want %d", got, senders)
	}
	for s := range senders {
		if got := len(c.Segments(traceID(100 + s))); got != each {
			t.Errorf("sender %d: %d segments, want %d", s, got, each)
		}
	}
	if len(news) != senders {
		t.Errorf("%d new-trace notifications, want %d", len(news), senders)
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	c, err := traces.Listen("127.0.0.1:0", traces.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ch, cancel := c.Subscribe(1)
	ended, cancelEnded := c.Subscribe(1)
	cancelEnded()
	if _, open := <-ended; open {
		t.Error("cancel left the channel open")
	}
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5s")
	}
	if _, open := <-ch; open {
		t.Error("Close left a subscriber's channel open")
	}
	cancel() // after Close: harmless
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	late, _ := c.Subscribe(1)
	if _, open := <-late; open {
		t.Error("Subscribe after Close returned an open channel")
	}
}

func TestListenRefusesABusyAddress(t *testing.T) {
	c := listen(t, traces.Options{})
	if _, err := traces.Listen(c.Addr(), traces.Options{}); err == nil {
		t.Error("a second collector listened on the same address")
	}
}

func TestAddressFromEnv(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"", traces.DefaultAddress},
		{"127.0.0.1:2999", "127.0.0.1:2999"},
		{"tcp:127.0.0.1:2000 udp:127.0.0.2:2001", "127.0.0.2:2001"},
		{"udp:127.0.0.3:3000 tcp:127.0.0.1:2000", "127.0.0.3:3000"},
		{"tcp:127.0.0.1:2000", ""},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(traces.AddressEnv, tc.env)
			got, err := traces.AddressFromEnv()
			if tc.want == "" {
				if err == nil {
					t.Errorf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
