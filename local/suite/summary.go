package suite

import (
	"fmt"
	"io"

	"github.com/lanyardhq/lanyard/local/provision"
	"github.com/lanyardhq/lanyard/topology"
)

// Summary is what `lanyard local` reports once the suite is up: what provisioning changed,
// where the API front and the trace collector listen, and the routes.
type Summary struct {
	API       string             `json:"api"`
	Traces    string             `json:"traceCollector"`
	Changed   bool               `json:"changed"`
	Changes   []provision.Change `json:"changes"`
	Functions map[string]string  `json:"functions"`
	Tables    map[string]string  `json:"tables"`
	Bus       string             `json:"bus"`
	Routes    []string           `json:"routes"`
}

// Summary reports the running suite, with the routes of tp (the topology it was started with).
func (s *Suite) Summary(tp *topology.Topology) Summary {
	sum := Summary{API: s.APIURL, Traces: s.Traces.Addr(), Changed: s.Provisioned.Changed(), Changes: s.Provisioned.Changes,
		Functions: s.Provisioned.Functions, Tables: s.Provisioned.Tables, Bus: s.Provisioned.Bus}
	for _, r := range tp.Routes {
		auth := string(r.Auth)
		if r.DependentsOnly {
			auth += ", dependents only"
		}
		sum.Routes = append(sum.Routes, fmt.Sprintf("%s %s (%s)", r.Method, r.Path, auth))
	}
	return sum
}

// Render writes the summary as tab-separated columns (for a tabwriter); once leaves out what
// only a running suite serves.
func (sum Summary) Render(w io.Writer, once bool) {
	_, _ = fmt.Fprintf(w, "resource\tname\tchange\n")
	for _, c := range sum.Changes {
		_, _ = fmt.Fprintf(w, "%s\t%s\t%s %s\n", c.Kind, c.Name, c.Action, c.Detail)
	}
	if !sum.Changed {
		_, _ = fmt.Fprintf(w, "\t(nothing changed)\t\n")
	}
	if once {
		return
	}
	_, _ = fmt.Fprintf(w, "\nAPI\t%s\t\n", sum.API)
	for _, r := range sum.Routes {
		_, _ = fmt.Fprintf(w, "\t%s\t\n", r)
	}
	_, _ = fmt.Fprintf(w, "traces\tsegments to %s\t\n", sum.Traces)
	_, _ = fmt.Fprintf(w, "\ntry\tcurl -s %s/v1/health\t\n", sum.API)
	_, _ = fmt.Fprintf(w, "\tCtrl-C stops\t\n")
}

// RenderDown writes what Down removed and what it kept, one line each, as tab-separated
// columns (for a tabwriter).
func RenderDown(w io.Writer, td *provision.Teardown) {
	for _, r := range td.Removed {
		_, _ = fmt.Fprintf(w, "removed\t%s\t%s\t%s\n", r.Kind, r.Name, r.Detail)
	}
	for _, k := range td.Kept {
		_, _ = fmt.Fprintf(w, "kept\t%s\t%s\t%s\n", k.Kind, k.Name, k.Detail)
	}
	if len(td.Removed) == 0 && len(td.Kept) == 0 {
		_, _ = fmt.Fprintf(w, "\t(nothing to remove)\t\t\n")
	}
}
