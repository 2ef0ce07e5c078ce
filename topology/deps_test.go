package topology_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/topology"
)

const module = "github.com/lanyardhq/lanyard/"

// What a function binary must never link: the deployment declaration, lanyard local, the CDK
// app and the CLI.
var notInBinaries = []string{"topology", "local", "infra", "cmd"}

// knownLinks are the imports through which a binary still links one of notInBinaries, each
// with the reason; any other fails the test. The problem catalogue still reads ProblemBase
// and the gateway responses from topology; when the catalogue owns them, this entry goes.
var knownLinks = map[string]string{
	"shared/platform/problem -> topology": "ProblemBase and GatewayResponses still live in topology",
}

func TestFunctionBinariesLinkNoDeclarationToolingOrCLI(t *testing.T) {
	t.Parallel()
	for _, tags := range []string{"", "faultinject"} {
		for _, f := range topology.Lanyard().Functions {
			cmd := exec.Command("go", "list", "-deps", "-tags", tags, "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./"+f.Main)
			cmd.Dir = ".."
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps ./%s: %v", f.Main, err)
			}
			for line := range strings.Lines(string(out)) {
				fields := strings.Fields(line)
				if len(fields) == 0 || !strings.HasPrefix(fields[0], module) {
					continue
				}
				importer := strings.TrimPrefix(fields[0], module)
				for _, imp := range fields[1:] {
					rel, ok := strings.CutPrefix(imp, module)
					if !ok || !slices.Contains(notInBinaries, strings.Split(rel, "/")[0]) {
						continue
					}
					if _, known := knownLinks[importer+" -> "+rel]; !known {
						t.Errorf("function %s (tags %q) links %s: %s imports it", f.Name, tags, rel, importer)
					}
				}
			}
		}
	}
}
