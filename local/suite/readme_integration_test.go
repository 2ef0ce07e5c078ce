//go:build integration

package suite_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/lanyardhq/lanyard/topology"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the README's `make dev` sample from what lanyard local prints")

// The README's `make dev` sample is what `lanyard local` prints on a first run: the same
// resources, changes, routes and hints, line for line (columns compared by their words, names
// under the default prefix "lanyard", the default addresses). -update-readme rewrites the sample.
func TestREADMEMakeDevSampleIsCurrent(t *testing.T) {
	t.Parallel()
	tp := topology.Lanyard()
	s, prefix := start(t, tp, nil)
	sum := s.Summary(tp)
	r := strings.NewReplacer(prefix, "lanyard")
	for i, c := range sum.Changes {
		sum.Changes[i].Name = r.Replace(c.Name)
	}
	sum.API, sum.Traces = "http://127.0.0.1:4510", "127.0.0.1:2000"
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0) // as the CLI's table output
	sum.Render(tw, false)
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	printed := b.String()

	readme, err := os.ReadFile(filepath.Join(env.Root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const start, end = "```\n$ make dev\n", "\n```"
	i := strings.Index(string(readme), start)
	if i < 0 {
		t.Fatal("the README has no `$ make dev` sample")
	}
	sample := string(readme)[i+len(start):]
	sample = sample[:strings.Index(sample, end)]
	if *updateREADME {
		lines := strings.Split(strings.TrimRight(printed, "\n"), "\n")
		for n, l := range lines {
			lines[n] = strings.TrimRight(l, " ")
		}
		updated := strings.Replace(string(readme), start+sample+end, start+strings.Join(lines, "\n")+end, 1)
		if err := os.WriteFile(filepath.Join(env.Root, "README.md"), []byte(updated), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}

	want, got := words(sample), words(printed)
	for n := range max(len(want), len(got)) {
		var w, g string
		if n < len(want) {
			w = want[n]
		}
		if n < len(got) {
			g = got[n]
		}
		if w != g {
			t.Errorf("README line %d: %q\n                 lanyard local prints %q", n+1, w, g)
		}
	}
	if t.Failed() {
		t.Logf("lanyard local printed:\n%s", printed)
	}
}

// words is each line's words joined by one space, so column widths do not matter.
func words(text string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		out = append(out, strings.Join(strings.Fields(line), " "))
	}
	return out
}
