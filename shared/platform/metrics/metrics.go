package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"time"
)

// The spec's and CloudWatch's limits this package holds documents to.
const (
	MaxDimensions      = 30        // dimension keys in one dimension set
	MaxMetrics         = 100       // metric definitions in one directive
	MaxValues          = 100       // values of one metric in one document
	MaxNameLength      = 255       // namespace, dimension and metric names
	MaxValueLength     = 1024      // a dimension value
	MaxDocumentBytes   = 256 << 10 // one encoded document (one log event)
	reservedMember     = "_aws"
	reservedNamePrefix = "AWS/"
)

// ErrInvalid matches (errors.Is) every refusal of a document: nothing was written.
var ErrInvalid = errors.New("invalid metric document")

// Dimension is one dimension of every metric in a document: a name and a low-cardinality value
// (the function, the route, the outcome), never a partner's or a key's.
type Dimension struct {
	Name  string
	Value string
}

// Metric is one metric's values in a document.
type Metric struct {
	Name       string
	Unit       Unit
	Resolution Resolution // zero: left out (Standard)
	Values     []float64
}

// Document is what one flush writes: metrics that share one set of dimensions.
type Document struct {
	Dimensions []Dimension
	Metrics    []Metric
}

// Writer writes documents to the function's log stream under one namespace.
type Writer struct {
	// Now stamps each document; New sets time.Now.
	Now func() time.Time

	namespace string
	mu        sync.Mutex
	out       io.Writer
}

// New returns a Writer of documents in namespace to out (os.Stdout in Lambda: the log stream).
func New(out io.Writer, namespace string) (*Writer, error) {
	if out == nil {
		return nil, fmt.Errorf("%w: no output", ErrInvalid)
	}
	if err := checkNamespace(namespace); err != nil {
		return nil, err
	}
	return &Writer{Now: time.Now, namespace: namespace, out: out}, nil
}

// Namespace is the CloudWatch namespace of every metric the Writer writes.
func (w *Writer) Namespace() string { return w.namespace }

// Emit checks d and writes it as one line. A document that breaks a rule is refused with an
// error matching ErrInvalid, and nothing is written.
func (w *Writer) Emit(d Document) error {
	line, err := encode(w.namespace, w.Now(), d)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.out.Write(line); err != nil {
		return fmt.Errorf("write metric document: %w", err)
	}
	return nil
}

// Set collects metrics under one set of dimensions until Flush writes them.
type Set struct {
	w       *Writer
	dims    []Dimension
	mu      sync.Mutex
	metrics []Metric
}

// Set returns an empty Set whose metrics will carry dims. The dimensions are checked when the
// set is flushed.
func (w *Writer) Set(dims ...Dimension) *Set {
	return &Set{w: w, dims: append([]Dimension(nil), dims...)}
}

// Add records values of the metric name in unit at standard resolution; adding the same name
// with the same unit again appends to its values (at most MaxValues by the flush, which refuses
// more). The same name with another unit or resolution is a second metric, which the flush
// refuses.
func (s *Set) Add(name string, unit Unit, values ...float64) {
	s.add(name, unit, 0, values)
}

// AddHighResolution is Add for a metric stored at one-second resolution.
func (s *Set) AddHighResolution(name string, unit Unit, values ...float64) {
	s.add(name, unit, High, values)
}

func (s *Set) add(name string, unit Unit, res Resolution, values []float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.metrics {
		m := &s.metrics[i]
		if m.Name == name && m.Unit == unit && m.Resolution == res {
			m.Values = append(m.Values, values...)
			return
		}
	}
	s.metrics = append(s.metrics, Metric{Name: name, Unit: unit, Resolution: res, Values: append([]float64(nil), values...)})
}

// Flush writes what the set holds as one document and empties it, whether or not the write
// succeeded. A set that holds no metric writes nothing.
func (s *Set) Flush() error {
	s.mu.Lock()
	ms := s.metrics
	s.metrics = nil
	s.mu.Unlock()
	if len(ms) == 0 {
		return nil
	}
	return s.w.Emit(Document{Dimensions: s.dims, Metrics: ms})
}

// refuse is a refusal; what names the member must never be a value the guard refused.
func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func checkNamespace(ns string) error {
	if why := identifying(ns); why != "" {
		return refuse("namespace refused: %s", why)
	}
	if err := checkText(ns, MaxNameLength); err != "" {
		return refuse("namespace %s", err)
	}
	if ns[0] == ':' || len(ns) >= len(reservedNamePrefix) && ns[:len(reservedNamePrefix)] == reservedNamePrefix {
		return refuse("namespace %q is reserved (starts with : or %s)", ns, reservedNamePrefix)
	}
	return nil
}

// checkText says what is wrong with s as a name or value of at most limit characters, or "".
func checkText(s string, limit int) string {
	if s == "" {
		return "is empty"
	}
	if len(s) > limit {
		return "is longer than " + strconv.Itoa(limit) + " characters"
	}
	blank := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "holds a character that is not printable ASCII"
		}
		if c != ' ' {
			blank = false
		}
	}
	if blank {
		return "is blank"
	}
	return ""
}

// check refuses a document that breaks the spec, CloudWatch's limits or the guard.
func check(d Document) error {
	if len(d.Dimensions) > MaxDimensions {
		return refuse("%d dimensions, at most %d", len(d.Dimensions), MaxDimensions)
	}
	if len(d.Metrics) == 0 {
		return refuse("no metric")
	}
	if len(d.Metrics) > MaxMetrics {
		return refuse("%d metrics, at most %d", len(d.Metrics), MaxMetrics)
	}
	seen := map[string]bool{reservedMember: true}
	for i, dim := range d.Dimensions {
		if why := identifying(dim.Name); why != "" {
			return refuse("dimension %d: name refused: %s", i+1, why)
		}
		if err := checkText(dim.Name, MaxNameLength); err != "" {
			return refuse("dimension %d: name %s", i+1, err)
		}
		if dim.Name[0] == ':' {
			return refuse("dimension %q: a name must not start with :", dim.Name)
		}
		if seen[dim.Name] {
			return refuse("dimension %q: the name is used twice or reserved", dim.Name)
		}
		seen[dim.Name] = true
		if why := identifying(dim.Value); why != "" {
			return refuse("dimension %q: value refused: %s", dim.Name, why)
		}
		if err := checkText(dim.Value, MaxValueLength); err != "" {
			return refuse("dimension %q: value %s", dim.Name, err)
		}
	}
	for i, m := range d.Metrics {
		if why := identifying(m.Name); why != "" {
			return refuse("metric %d: name refused: %s", i+1, why)
		}
		if err := checkText(m.Name, MaxNameLength); err != "" {
			return refuse("metric %d: name %s", i+1, err)
		}
		if seen[m.Name] {
			return refuse("metric %q: the name is used twice, by a dimension, or reserved", m.Name)
		}
		seen[m.Name] = true
		if !m.Unit.Valid() {
			return refuse("metric %q: unit %q is not one of CloudWatch's", m.Name, m.Unit)
		}
		if m.Resolution != 0 && m.Resolution != High && m.Resolution != Standard {
			return refuse("metric %q: storage resolution %d, want 1 or 60", m.Name, int(m.Resolution))
		}
		if len(m.Values) == 0 {
			return refuse("metric %q: no value", m.Name)
		}
		if len(m.Values) > MaxValues {
			return refuse("metric %q: %d values, at most %d", m.Name, len(m.Values), MaxValues)
		}
		for _, v := range m.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return refuse("metric %q: a value is not a finite number", m.Name)
			}
		}
	}
	return nil
}

// encode checks d and renders it as one line: `_aws` first, then the dimensions and the metrics
// in the caller's order.
func encode(namespace string, at time.Time, d Document) ([]byte, error) {
	if err := check(d); err != nil {
		return nil, err
	}
	type definition struct {
		Name              string `json:"Name"`
		Unit              Unit   `json:"Unit"`
		StorageResolution int    `json:"StorageResolution,omitempty"`
	}
	type directive struct {
		Namespace  string       `json:"Namespace"`
		Dimensions [][]string   `json:"Dimensions"`
		Metrics    []definition `json:"Metrics"`
	}
	type metadata struct {
		Timestamp         int64       `json:"Timestamp"`
		CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
	}
	dir := directive{Namespace: namespace, Dimensions: [][]string{make([]string, 0, len(d.Dimensions))}}
	for _, dim := range d.Dimensions {
		dir.Dimensions[0] = append(dir.Dimensions[0], dim.Name)
	}
	for _, m := range d.Metrics {
		res := 0
		if m.Resolution == High {
			res = int(High)
		}
		dir.Metrics = append(dir.Metrics, definition{Name: m.Name, Unit: m.Unit, StorageResolution: res})
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteString(`{"_aws":`)
	if err := enc.Encode(metadata{Timestamp: at.UnixMilli(), CloudWatchMetrics: []directive{dir}}); err != nil {
		return nil, fmt.Errorf("encode metric directive: %w", err)
	}
	member := func(name string, v any) error {
		trimNewline(&buf)
		buf.WriteByte(',')
		if err := enc.Encode(name); err != nil {
			return fmt.Errorf("encode member name: %w", err)
		}
		trimNewline(&buf)
		buf.WriteByte(':')
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("encode member %q: %w", name, err)
		}
		return nil
	}
	for _, dim := range d.Dimensions {
		if err := member(dim.Name, dim.Value); err != nil {
			return nil, err
		}
	}
	for _, m := range d.Metrics {
		var v any = m.Values
		if len(m.Values) == 1 {
			v = m.Values[0]
		}
		if err := member(m.Name, v); err != nil {
			return nil, err
		}
	}
	trimNewline(&buf)
	buf.WriteString("}\n")
	if buf.Len() > MaxDocumentBytes {
		return nil, refuse("the document is %d bytes, at most %d", buf.Len(), MaxDocumentBytes)
	}
	return buf.Bytes(), nil
}

// trimNewline drops the newline json.Encoder ends every value with.
func trimNewline(b *bytes.Buffer) {
	if n := b.Len(); n > 0 && b.Bytes()[n-1] == '\n' {
		b.Truncate(n - 1)
	}
}
