package metrics_test

import (
	"fmt"
	"os"
	"time"

	"github.com/lanyardhq/lanyard/shared/platform/metrics"
)

// A function counts each request by outcome and records its latency, then flushes one line to
// its log stream (os.Stdout in Lambda) at the end of the invocation.
func Example() {
	w, err := metrics.New(os.Stdout, "Lanyard") // once per cold start
	if err != nil {
		fmt.Println(err)
		return
	}
	w.Now = func() time.Time { return time.UnixMilli(1767225600000) } // a fixed clock for the example

	set := w.Set(metrics.Dimension{Name: "Function", Value: "token"}, metrics.Dimension{Name: "Outcome", Value: "issued"})
	set.Add("Requests", metrics.Count, 1)
	set.Add("Latency", metrics.Milliseconds, 12.5)
	if err := set.Flush(); err != nil {
		fmt.Println(err)
	}

	// A partner id is never a dimension: the document is refused and nothing is written.
	err = w.Emit(metrics.Document{
		Dimensions: []metrics.Dimension{{Name: "Partner", Value: "p-abcdefghijklmnopqrstuvwxyz"}},
		Metrics:    []metrics.Metric{{Name: "Requests", Unit: metrics.Count, Values: []float64{1}}},
	})
	fmt.Println(err)
	// Output:
	// {"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":"Lanyard","Dimensions":[["Function","Outcome"]],"Metrics":[{"Name":"Requests","Unit":"Count"},{"Name":"Latency","Unit":"Milliseconds"}]}]},"Function":"token","Outcome":"issued","Requests":1,"Latency":12.5}
	// invalid metric document: dimension "Partner": value refused: it has the shape of a partner id or another per-entity id
}
