// Package traces is the X-Ray daemon `lanyard local` runs, since LocalStack community has no
// X-Ray: a Collector listens on UDP where AWS_XRAY_DAEMON_ADDRESS points (127.0.0.1:2000 by
// default), reads the segment documents the functions' tracer sends, and keeps the most recent
// ones in memory, by trace, so traces can be looked at and asserted on locally.
//
// Each datagram is the daemon's wire format: a JSON header line, {"format": "json",
// "version": 1}, then one segment document — a segment (with its subsegments embedded), or a
// subsegment sent on its own ("type": "subsegment", with the trace_id and parent_id it belongs
// to), which is how subsegments leave a Lambda function, whose facade segment is never sent.
// Datagrams that are not in that format are counted and dropped. A document sent again with the
// same trace and id (an in-progress segment, then its completed form; or the same segment twice,
// which the X-Ray SDK for Go sometimes does) replaces the first, and an embedded subsegment
// listed twice is kept once.
//
// Memory is bounded: past MaxSegments documents the oldest are evicted, and a trace goes with
// its last document.
package traces

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults.
const (
	// AddressEnv names the variable the tracer sends segments to, as the X-Ray SDKs read it.
	AddressEnv = "AWS_XRAY_DAEMON_ADDRESS"
	// DefaultAddress is the X-Ray daemon's default UDP address.
	DefaultAddress = "127.0.0.1:2000"
	// DefaultMaxSegments is how many documents a Collector keeps when Options.MaxSegments is 0.
	DefaultMaxSegments = 10000
	// maxDatagram is the largest datagram the X-Ray daemon accepts (64 KiB).
	maxDatagram = 64 * 1024
)

// Segment is one segment document, or one subsegment: embedded ones are in Subsegments, as
// they were sent.
type Segment struct {
	TraceID  string
	ID       string
	ParentID string
	Name     string
	// Type is "subsegment" for a subsegment (sent on its own or embedded), "" for a segment.
	Type string
	// Start and End are when the work began and ended; End is zero while InProgress.
	Start, End time.Time
	InProgress bool
	// Error (a client error, 4xx), Fault (a server error, 5xx) and Throttle (429) as the
	// tracer set them.
	Error, Fault, Throttle bool
	// Annotations are the indexed key-values (string, float64 or bool).
	Annotations map[string]any
	Subsegments []Segment
	// Document is the segment document as received (nil for embedded subsegments, which are
	// in their parent's).
	Document json.RawMessage
}

// Annotation returns the value of annotation key on s or, first found, on one of its embedded
// subsegments (inside Lambda, annotations are on subsegments).
func (s Segment) Annotation(key string) (any, bool) {
	if v, ok := s.Annotations[key]; ok {
		return v, true
	}
	for _, sub := range s.Subsegments {
		if v, ok := sub.Annotation(key); ok {
			return v, true
		}
	}
	return nil, false
}

// Stats counts what a Collector has seen.
type Stats struct {
	Received  int // datagrams read
	Malformed int // datagrams dropped because they were not a header and a segment document
	Stored    int // documents held now
	Evicted   int // documents dropped to stay within MaxSegments
	// Missed counts new-trace notifications a subscriber's full channel could not take.
	Missed int
}

// Options configures a Collector.
type Options struct {
	// MaxSegments bounds the documents kept; 0 means DefaultMaxSegments.
	MaxSegments int
	// Logger receives the collector's logs (malformed datagrams at debug level); nil uses
	// slog.Default().
	Logger *slog.Logger
}

// Collector is a listening X-Ray daemon stand-in. Its methods are safe for concurrent use.
type Collector struct {
	conn net.PacketConn
	max  int
	log  *slog.Logger
	done chan struct{}

	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	closed  bool
	seq     uint64
	queue   []*entry // every document held, oldest first
	traces  map[string]*trace
	byID    map[docKey]*entry
	subs    map[int]chan Segment
	nextSub int
	stats   Stats
}

type docKey struct{ trace, id string }

type entry struct {
	seg Segment
}

type trace struct {
	first uint64 // arrival order of its first document
	docs  []*entry
}

// AddressFromEnv returns the UDP address AWS_XRAY_DAEMON_ADDRESS names — "host:port", or the
// SDKs' two-address form "tcp:host:port udp:host:port" — or DefaultAddress when it is unset.
func AddressFromEnv() (string, error) {
	v := strings.TrimSpace(os.Getenv(AddressEnv))
	if v == "" {
		return DefaultAddress, nil
	}
	fields := strings.Fields(v)
	if len(fields) == 1 && !strings.HasPrefix(v, "udp:") && !strings.HasPrefix(v, "tcp:") {
		return v, nil
	}
	for _, f := range fields {
		if addr, ok := strings.CutPrefix(f, "udp:"); ok {
			return addr, nil
		}
	}
	return "", fmt.Errorf("%s=%q names no UDP address", AddressEnv, v)
}

// Listen starts a Collector on the UDP address addr ("127.0.0.1:0" picks a free port; see
// Addr). Close stops it.
func Listen(addr string, opts Options) (*Collector, error) {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for trace segments on udp %s: %w", addr, err)
	}
	c := &Collector{
		conn:   conn,
		max:    opts.MaxSegments,
		log:    opts.Logger,
		done:   make(chan struct{}),
		traces: map[string]*trace{},
		byID:   map[docKey]*entry{},
		subs:   map[int]chan Segment{},
	}
	if c.max <= 0 {
		c.max = DefaultMaxSegments
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if u, ok := conn.(*net.UDPConn); ok {
		// Room for bursts from many functions at once; the kernel may grant less.
		_ = u.SetReadBuffer(4 << 20)
	}
	go c.serve()
	return c, nil
}

// Addr returns the address the Collector listens on, as host:port.
func (c *Collector) Addr() string {
	return c.conn.LocalAddr().String()
}

// Close stops listening, waits for the reader to finish and closes subscribers' channels.
func (c *Collector) Close() error {
	c.closeOnce.Do(func() {
		if err := c.conn.Close(); err != nil {
			c.closeErr = fmt.Errorf("close trace collector on %s: %w", c.Addr(), err)
		}
		<-c.done
		c.mu.Lock()
		defer c.mu.Unlock()
		c.closed = true
		for id, ch := range c.subs {
			close(ch)
			delete(c.subs, id)
		}
	})
	return c.closeErr
}

// Traces returns the ids of the traces held, in the order their first document arrived.
func (c *Collector) Traces() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := slices.Collect(maps.Keys(c.traces))
	slices.SortFunc(ids, func(a, b string) int {
		fa, fb := c.traces[a].first, c.traces[b].first
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	})
	return ids
}

// Segments returns the documents held for a trace, in arrival order (nil for an unknown trace).
// They are copies: changing them changes nothing in the Collector.
func (c *Collector) Segments(traceID string) []Segment {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.traces[traceID]
	if !ok {
		return nil
	}
	out := make([]Segment, 0, len(t.docs))
	for _, e := range t.docs {
		out = append(out, e.seg.clone())
	}
	return out
}

// Stats returns the counters.
func (c *Collector) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Stored = len(c.queue)
	return s
}

// Subscribe returns a channel that receives the first document of every new trace — one whose
// id the Collector does not hold — as it arrives, and a function that ends the subscription.
// The reader never waits for a subscriber: when the channel's buffer is full the notification
// is dropped and counted in Stats.Missed. The channel is closed by cancel or Close.
func (c *Collector) Subscribe(buffer int) (<-chan Segment, func()) {
	ch := make(chan Segment, max(buffer, 0))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		close(ch)
		return ch, func() {}
	}
	id := c.nextSub
	c.nextSub++
	c.subs[id] = ch
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if ch, ok := c.subs[id]; ok {
			close(ch)
			delete(c.subs, id)
		}
	}
}

// serve reads datagrams until the connection is closed.
func (c *Collector) serve() {
	defer close(c.done)
	buf := make([]byte, maxDatagram+1)
	for {
		n, from, err := c.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			c.log.Warn("read trace datagram", "error", err)
			continue
		}
		c.ingest(buf[:n], from)
	}
}

func (c *Collector) ingest(datagram []byte, from net.Addr) {
	var seg Segment
	var err error
	if len(datagram) > maxDatagram {
		err = fmt.Errorf("datagram is over %d bytes", maxDatagram)
	} else {
		seg, err = Parse(datagram)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Received++
	if err != nil {
		c.stats.Malformed++
		c.log.Debug("dropped a malformed trace datagram", "from", from, "bytes", len(datagram), "error", err)
		return
	}
	key := docKey{seg.TraceID, seg.ID}
	if e, ok := c.byID[key]; ok {
		e.seg = seg // the completed form of an in-progress document
		return
	}
	e := &entry{seg: seg}
	c.byID[key] = e
	c.queue = append(c.queue, e)
	t, known := c.traces[seg.TraceID]
	if !known {
		c.seq++
		t = &trace{first: c.seq}
		c.traces[seg.TraceID] = t
	}
	t.docs = append(t.docs, e)
	for len(c.queue) > c.max {
		c.evictOldest()
	}
	if !known {
		for _, ch := range c.subs {
			select {
			case ch <- seg.clone():
			default:
				c.stats.Missed++
			}
		}
	}
}

// evictOldest drops the oldest document, and its trace when it was the trace's last.
func (c *Collector) evictOldest() {
	e := c.queue[0]
	c.queue[0] = nil
	c.queue = c.queue[1:] // append moves the queue to a new array as it slides off the old one
	c.stats.Evicted++
	delete(c.byID, docKey{e.seg.TraceID, e.seg.ID})
	t := c.traces[e.seg.TraceID]
	t.docs = slices.DeleteFunc(t.docs, func(d *entry) bool { return d == e })
	if len(t.docs) == 0 {
		delete(c.traces, e.seg.TraceID)
	}
}

// wireSegment is a segment document's JSON, as far as the Collector reads it.
type wireSegment struct {
	TraceID     string         `json:"trace_id"`
	ID          string         `json:"id"`
	ParentID    string         `json:"parent_id"`
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	StartTime   float64        `json:"start_time"`
	EndTime     float64        `json:"end_time"`
	InProgress  bool           `json:"in_progress"`
	Error       bool           `json:"error"`
	Fault       bool           `json:"fault"`
	Throttle    bool           `json:"throttle"`
	Annotations map[string]any `json:"annotations"`
	Subsegments []wireSegment  `json:"subsegments"`
}

// Parse reads one datagram in the daemon's format: the header line, then a segment document.
func Parse(datagram []byte) (Segment, error) {
	header, body, ok := bytes.Cut(datagram, []byte("\n"))
	if !ok {
		return Segment{}, errors.New("no header line")
	}
	var h struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(header, &h); err != nil {
		return Segment{}, fmt.Errorf("header is not JSON: %w", err)
	}
	if h.Format != "json" || h.Version != 1 {
		return Segment{}, fmt.Errorf("header says format %q version %d, want json version 1", h.Format, h.Version)
	}
	var w wireSegment
	if err := json.Unmarshal(body, &w); err != nil {
		return Segment{}, fmt.Errorf("segment document is not JSON: %w", err)
	}
	switch {
	case w.TraceID == "" || w.ID == "" || w.Name == "":
		return Segment{}, errors.New("segment document lacks trace_id, id or name")
	case w.StartTime <= 0:
		return Segment{}, errors.New("segment document lacks start_time")
	case w.Type == "subsegment" && w.ParentID == "":
		return Segment{}, errors.New("a subsegment sent on its own lacks parent_id")
	case w.Type != "" && w.Type != "subsegment":
		return Segment{}, fmt.Errorf("segment document has unknown type %q", w.Type)
	}
	seg := w.segment(w.TraceID, w.ParentID)
	seg.Document = json.RawMessage(bytes.Clone(bytes.TrimSpace(body)))
	return seg, nil
}

func (w wireSegment) segment(traceID, parentID string) Segment {
	s := Segment{
		TraceID: traceID, ID: w.ID, ParentID: parentID, Name: w.Name, Type: w.Type,
		Start: seconds(w.StartTime), End: seconds(w.EndTime), InProgress: w.InProgress,
		Error: w.Error, Fault: w.Fault, Throttle: w.Throttle, Annotations: w.Annotations,
	}
	at := map[string]int{}
	for _, sub := range w.Subsegments {
		e := sub.segment(traceID, w.ID)
		if e.Type == "" {
			e.Type = "subsegment"
		}
		// The X-Ray SDK for Go can emit a segment twice (Close races the goroutine watching
		// the segment's context), listing its subsegments twice in the second copy.
		if i, dup := at[e.ID]; dup {
			s.Subsegments[i] = e
			continue
		}
		at[e.ID] = len(s.Subsegments)
		s.Subsegments = append(s.Subsegments, e)
	}
	return s
}

// seconds converts X-Ray's epoch seconds (with a fraction) to a time, to the microsecond.
func seconds(f float64) time.Time {
	if f <= 0 {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC()
}

func (s Segment) clone() Segment {
	s.Annotations = maps.Clone(s.Annotations)
	s.Document = bytes.Clone(s.Document)
	if s.Subsegments != nil {
		subs := make([]Segment, len(s.Subsegments))
		for i, sub := range s.Subsegments {
			subs[i] = sub.clone()
		}
		s.Subsegments = subs
	}
	return s
}
