package metrics_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/platform/metrics"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// at is the fixed clock of every test: 2026-01-01T00:00:00.250Z.
var at = time.Date(2026, 1, 1, 0, 0, 0, 250e6, time.UTC)

func newWriter(t *testing.T, out *bytes.Buffer) *metrics.Writer {
	t.Helper()
	w, err := metrics.New(out, "Lanyard")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	w.Now = func() time.Time { return at }
	return w
}

// TestGoldenDocument: a set with two dimensions, a counter, a high-resolution latency with two
// values and a unit-less gauge is written as exactly the line in testdata/document.golden.json,
// and that line holds to the published format (checkEMF).
func TestGoldenDocument(t *testing.T) {
	var out bytes.Buffer
	w := newWriter(t, &out)
	set := w.Set(metrics.Dimension{Name: "Function", Value: "token"}, metrics.Dimension{Name: "Outcome", Value: "issued"})
	set.Add("Requests", metrics.Count, 1)
	set.AddHighResolution("Latency", metrics.Milliseconds, 12.5)
	set.AddHighResolution("Latency", metrics.Milliseconds, 8)
	set.Add("QueueDepth", metrics.None, 0)
	if err := set.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}

	golden := filepath.Join("testdata", "document.golden.json")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (regenerate with -update): %v", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("document differs from %s\n got: %s\nwant: %s", golden, out.Bytes(), want)
	}
	checkEMF(t, out.Bytes())

	// The set is empty after a flush: flushing again writes nothing.
	out.Reset()
	if err := set.Flush(); err != nil || out.Len() != 0 {
		t.Errorf("second Flush: err %v, wrote %q; want nothing", err, out.String())
	}
}

// checkEMF holds one written line to the published format, independently of the encoder: one
// JSON object on one line, `_aws` its first member with a millisecond Timestamp and directives
// whose dimension names are string members and whose metric names are number or number-array
// members of the root.
func checkEMF(t *testing.T, line []byte) {
	t.Helper()
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("want exactly one line ending in a newline, got %q", line)
	}
	if !bytes.HasPrefix(line, []byte(`{"_aws":`)) {
		t.Errorf("_aws is not the first member: %s", line)
	}
	var root map[string]json.RawMessage
	if err := json.Unmarshal(line, &root); err != nil {
		t.Fatalf("not a JSON object: %v", err)
	}
	var meta struct {
		Timestamp         *int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct {
				Name              string
				Unit              string
				StorageResolution *int
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(root["_aws"]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		t.Fatalf("_aws: %v", err)
	}
	if meta.Timestamp == nil || *meta.Timestamp != at.UnixMilli() {
		t.Errorf("Timestamp = %v, want %d", meta.Timestamp, at.UnixMilli())
	}
	if len(meta.CloudWatchMetrics) == 0 {
		t.Fatal("no metric directive")
	}
	for _, d := range meta.CloudWatchMetrics {
		if d.Namespace == "" {
			t.Error("empty Namespace")
		}
		for _, set := range d.Dimensions {
			if len(set) > metrics.MaxDimensions {
				t.Errorf("dimension set of %d", len(set))
			}
			for _, name := range set {
				var s string
				if err := json.Unmarshal(root[name], &s); err != nil {
					t.Errorf("dimension %q is not a string member: %v", name, err)
				}
			}
		}
		if n := len(d.Metrics); n == 0 || n > metrics.MaxMetrics {
			t.Errorf("%d metric definitions", n)
		}
		for _, m := range d.Metrics {
			if !metrics.Unit(m.Unit).Valid() {
				t.Errorf("metric %q: unit %q", m.Name, m.Unit)
			}
			if r := m.StorageResolution; r != nil && *r != 1 && *r != 60 {
				t.Errorf("metric %q: StorageResolution %d", m.Name, *r)
			}
			var one float64
			var many []float64
			if json.Unmarshal(root[m.Name], &one) != nil {
				if err := json.Unmarshal(root[m.Name], &many); err != nil || len(many) == 0 || len(many) > metrics.MaxValues {
					t.Errorf("metric %q is not a number or an array of 1 to 100 numbers: %s", m.Name, root[m.Name])
				}
			}
		}
	}
}

// TestEmitWithoutDimensions: a document may carry no dimension; its directive holds one empty
// dimension set, as the spec allows.
func TestEmitWithoutDimensions(t *testing.T) {
	var out bytes.Buffer
	w := newWriter(t, &out)
	if err := w.Emit(metrics.Document{Metrics: []metrics.Metric{{Name: "ColdStarts", Unit: metrics.Count, Values: []float64{1}}}}); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	want := `{"_aws":{"Timestamp":1767225600250,"CloudWatchMetrics":[{"Namespace":"Lanyard","Dimensions":[[]],"Metrics":[{"Name":"ColdStarts","Unit":"Count"}]}]},"ColdStarts":1}` + "\n"
	if out.String() != want {
		t.Errorf("got  %s\nwant %s", out.String(), want)
	}
	checkEMF(t, out.Bytes())
}

func values(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i)
	}
	return v
}

func dims(n int) []metrics.Dimension {
	d := make([]metrics.Dimension, n)
	for i := range d {
		d[i] = metrics.Dimension{Name: "D" + string(rune('A'+i/26)) + string(rune('a'+i%26)), Value: "v"}
	}
	return d
}

func manyMetrics(n int) []metrics.Metric {
	m := make([]metrics.Metric, n)
	for i := range m {
		m[i] = metrics.Metric{Name: "M" + string(rune('A'+i/26)) + string(rune('a'+i%26)), Unit: metrics.Count, Values: []float64{1}}
	}
	return m
}

// TestLimits: every rule of the format and of CloudWatch is enforced at its bound: the limit
// itself is written, one more is refused with ErrInvalid and nothing is written.
func TestLimits(t *testing.T) {
	one := []metrics.Metric{{Name: "Requests", Unit: metrics.Count, Values: []float64{1}}}
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name    string
		doc     metrics.Document
		wantErr string // "" when the document must be written
	}{
		{"30 dimensions", metrics.Document{Dimensions: dims(30), Metrics: one}, ""},
		{"31 dimensions", metrics.Document{Dimensions: dims(31), Metrics: one}, "31 dimensions, at most 30"},
		{"100 metrics", metrics.Document{Metrics: manyMetrics(100)}, ""},
		{"101 metrics", metrics.Document{Metrics: manyMetrics(101)}, "101 metrics, at most 100"},
		{"no metric", metrics.Document{Dimensions: dims(1)}, "no metric"},
		{"100 values", metrics.Document{Metrics: []metrics.Metric{{Name: "Latency", Unit: metrics.Milliseconds, Values: values(100)}}}, ""},
		{"101 values", metrics.Document{Metrics: []metrics.Metric{{Name: "Latency", Unit: metrics.Milliseconds, Values: values(101)}}}, `metric "Latency": 101 values, at most 100`},
		{"no value", metrics.Document{Metrics: []metrics.Metric{{Name: "Latency", Unit: metrics.Milliseconds}}}, `metric "Latency": no value`},
		{"NaN", metrics.Document{Metrics: []metrics.Metric{{Name: "Ratio", Unit: metrics.Percent, Values: []float64{math.NaN()}}}}, "not a finite number"},
		{"infinity", metrics.Document{Metrics: []metrics.Metric{{Name: "Ratio", Unit: metrics.Percent, Values: []float64{math.Inf(1)}}}}, "not a finite number"},
		{"empty metric name", metrics.Document{Metrics: []metrics.Metric{{Unit: metrics.Count, Values: []float64{1}}}}, "metric 1: name is empty"},
		{"blank metric name", metrics.Document{Metrics: []metrics.Metric{{Name: "  ", Unit: metrics.Count, Values: []float64{1}}}}, "metric 1: name is blank"},
		{"metric name of 255", metrics.Document{Metrics: []metrics.Metric{{Name: long(255), Unit: metrics.Count, Values: []float64{1}}}}, ""},
		{"metric name of 256", metrics.Document{Metrics: []metrics.Metric{{Name: long(256), Unit: metrics.Count, Values: []float64{1}}}}, "longer than 255"},
		{"metric name not ASCII", metrics.Document{Metrics: []metrics.Metric{{Name: "Latenz\u00e4", Unit: metrics.Count, Values: []float64{1}}}}, "not printable ASCII"},
		{"unknown unit", metrics.Document{Metrics: []metrics.Metric{{Name: "Requests", Unit: "Requests", Values: []float64{1}}}}, `unit "Requests" is not one of CloudWatch's`},
		{"no unit", metrics.Document{Metrics: []metrics.Metric{{Name: "Requests", Values: []float64{1}}}}, `unit "" is not one of CloudWatch's`},
		{"unit per second", metrics.Document{Metrics: []metrics.Metric{{Name: "Rate", Unit: metrics.CountPerSecond, Values: []float64{1}}}}, ""},
		{"resolution 60", metrics.Document{Metrics: []metrics.Metric{{Name: "Requests", Unit: metrics.Count, Resolution: metrics.Standard, Values: []float64{1}}}}, ""},
		{"resolution 5", metrics.Document{Metrics: []metrics.Metric{{Name: "Requests", Unit: metrics.Count, Resolution: 5, Values: []float64{1}}}}, "storage resolution 5, want 1 or 60"},
		{"metric named _aws", metrics.Document{Metrics: []metrics.Metric{{Name: "_aws", Unit: metrics.Count, Values: []float64{1}}}}, "reserved"},
		{"metric named twice", metrics.Document{Metrics: append(append([]metrics.Metric(nil), one...), one...)}, `metric "Requests": the name is used twice`},
		{"metric named like a dimension", metrics.Document{Dimensions: []metrics.Dimension{{Name: "Requests", Value: "x"}}, Metrics: one}, `metric "Requests": the name is used twice, by a dimension`},
		{"dimension named twice", metrics.Document{Dimensions: []metrics.Dimension{{Name: "Route", Value: "a"}, {Name: "Route", Value: "b"}}, Metrics: one}, `dimension "Route": the name is used twice`},
		{"empty dimension name", metrics.Document{Dimensions: []metrics.Dimension{{Value: "a"}}, Metrics: one}, "dimension 1: name is empty"},
		{"dimension name starting with a colon", metrics.Document{Dimensions: []metrics.Dimension{{Name: ":Route", Value: "a"}}, Metrics: one}, "must not start with :"},
		{"empty dimension value", metrics.Document{Dimensions: []metrics.Dimension{{Name: "Route"}}, Metrics: one}, `dimension "Route": value is empty`},
		{"dimension value of 1024", metrics.Document{Dimensions: []metrics.Dimension{{Name: "Route", Value: long(1024)}}, Metrics: one}, ""},
		{"dimension value of 1025", metrics.Document{Dimensions: []metrics.Dimension{{Name: "Route", Value: long(1025)}}, Metrics: one}, "longer than 1024"},
		{"dimension value with a newline", metrics.Document{Dimensions: []metrics.Dimension{{Name: "Route", Value: "a\nb"}}, Metrics: one}, "not printable ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := newWriter(t, &out).Emit(tt.doc)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Emit: %v", err)
				}
				checkEMF(t, out.Bytes())
				return
			}
			if !errors.Is(err, metrics.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Emit: %v; want ErrInvalid saying %q", err, tt.wantErr)
			}
			if out.Len() != 0 {
				t.Errorf("a refused document wrote %d bytes", out.Len())
			}
		})
	}
}

// TestNamespace: New refuses a namespace CloudWatch would refuse or that names a key.
func TestNamespace(t *testing.T) {
	tests := []struct {
		ns      string
		wantErr string
	}{
		{"Lanyard", ""},
		{"Lanyard/Token", ""},
		{"", "is empty"},
		{strings.Repeat("n", 256), "longer than 255"},
		{"AWS/Lambda", "reserved"},
		{":Lanyard", "reserved"},
		{"Lanyard\t", "not printable ASCII"},
		{"Lanyard/lnyd_live", "shape of a partner key"},
	}
	for _, tt := range tests {
		_, err := metrics.New(&bytes.Buffer{}, tt.ns)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (!errors.Is(err, metrics.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("New(%.20q) = %v, want %q", tt.ns, err, tt.wantErr)
		}
	}
	if _, err := metrics.New(nil, "Lanyard"); !errors.Is(err, metrics.ErrInvalid) {
		t.Errorf("New(nil) = %v, want ErrInvalid", err)
	}
}

// TestDocumentSize: a document over 256 KiB is refused even when each part is within its limit.
func TestDocumentSize(t *testing.T) {
	var ms []metrics.Metric
	for i := range 100 {
		v := values(100)
		for j := range v {
			v[j] = 1.2345678901234567e+300 + float64(i)
		}
		ms = append(ms, metrics.Metric{Name: strings.Repeat("m", 250) + string(rune('A'+i/26)) + string(rune('a'+i%26)), Unit: metrics.Count, Values: v})
	}
	var out bytes.Buffer
	err := newWriter(t, &out).Emit(metrics.Document{Metrics: ms})
	if !errors.Is(err, metrics.ErrInvalid) || !strings.Contains(err.Error(), "at most 262144") || out.Len() != 0 {
		t.Fatalf("Emit of an oversized document: %v, wrote %d bytes", err, out.Len())
	}
}

// TestUnits: every unit CloudWatch lists is valid, spelled as CloudWatch spells it.
func TestUnits(t *testing.T) {
	want := "Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes Gigabytes Terabytes Bits Kilobits Megabits Gigabits Terabits Percent Count Bytes/Second Kilobytes/Second Megabytes/Second Gigabytes/Second Terabytes/Second Bits/Second Kilobits/Second Megabits/Second Gigabits/Second Terabits/Second Count/Second None"
	var got []string
	for _, u := range metrics.Units() {
		if !u.Valid() {
			t.Errorf("%q not valid", u)
		}
		got = append(got, string(u))
	}
	if strings.Join(got, " ") != want {
		t.Errorf("units\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	for _, u := range []metrics.Unit{"", "count", "Milliseconds/Second", "Requests"} {
		if u.Valid() {
			t.Errorf("%q valid", u)
		}
	}
}
