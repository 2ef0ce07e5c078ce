package topology_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

var update = flag.Bool("update", false, "rewrite the README's topology diagram")

// The README's diagram is generated from the production declaration; `make diagram` rewrites it.
func TestREADMEDiagramIsCurrent(t *testing.T) {
	const readme = "../README.md"
	doc, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	want, err := topology.ReplaceDiagram(string(doc), topology.Lanyard().Mermaid())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(readme, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != string(doc) {
		t.Fatal("the README's topology diagram is stale: run `make diagram`")
	}
}

func TestMermaidShowsEveryDeclaredPiece(t *testing.T) {
	t.Parallel()
	tp := topologytest.Sample()
	d := tp.Mermaid()
	if d != tp.Mermaid() {
		t.Fatal("diagram is not deterministic")
	}
	for _, want := range []string{
		"```mermaid", "flowchart LR",
		`route_GET_v1_probe["GET /v1/probe<br/>partner-key"]`,
		`route_POST_v1_admin_probe["POST /v1/admin/probe<br/>aws-iam"]`,
		`fn_stub_authorizer -. authorizes .-> route_GET_v1_probe`,
		`bus -- "Credential Revoked" --> queue_revocations[/"queue revocations<br/>DLQ after 2"/]`,
		"queue_revocations --> fn_recorder",
		`table_records[("table records")]`,
		"table_records -- stream --> fn_recorder",
		"fn_recorder -. read-write .-> table_deliveries",
		"fn_recorder -. publishes .-> bus",
		`schedule_probe_tick>"rate(1 minute)"] --> fn_probe`,
	} {
		if !strings.Contains(d, want) {
			t.Errorf("diagram lacks %s\n%s", want, d)
		}
	}
	if strings.Contains(d, "authorizes .-> route_GET_v1_open") {
		t.Error("an open route is drawn as authorized")
	}
}

func TestReplaceDiagramNeedsMarkers(t *testing.T) {
	t.Parallel()
	if _, err := topology.ReplaceDiagram("no markers here", "x"); err == nil {
		t.Fatal("a document without markers was accepted")
	}
	doc := "a\n" + topology.DiagramBegin + "\nold\n" + topology.DiagramEnd + "\nb"
	got, err := topology.ReplaceDiagram(doc, "new\n")
	if err != nil || got != "a\n"+topology.DiagramBegin+"\nnew\n"+topology.DiagramEnd+"\nb" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestMermaidShowsAConsumerOfEveryDetailType(t *testing.T) {
	t.Parallel()
	tp := topologytest.Sample()
	tp.Consumers[0].DetailTypes, tp.Consumers[0].AllDetailTypes = nil, true
	if d, want := tp.Mermaid(), `bus -- "every Lanyard event" --> queue_revocations`; !strings.Contains(d, want) {
		t.Errorf("diagram lacks %s\n%s", want, d)
	}
}
