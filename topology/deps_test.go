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

func TestFunctionBinariesLinkNoDeclarationToolingOrCLI(t *testing.T) {
	t.Parallel()
	for _, tags := range []string{"lambda.norpc", "lambda.norpc,faultinject,lanyardlocal"} { // Lambda's and make build-local's
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
					t.Errorf("function %s (tags %q) links %s: %s imports it", f.Name, tags, rel, importer)
				}
			}
		}
	}
}
