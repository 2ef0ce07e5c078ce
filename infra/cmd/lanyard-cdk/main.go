// Command lanyard-cdk is Lanyard's CDK app. `make synth` runs it through the CDK CLI (cdk.json)
// and writes the CloudFormation templates to cdk.out/. The functions' packages must be built
// first (`make build` writes bin/<name>/function.zip). It builds what package infra defines
// from topology.Lanyard() with the deployment's dependents from its context
// (infra.DependentsContext), and on a bad declaration, prop or missing package prints one line
// naming it and exits 1.
package main

import (
	"fmt"
	"os"

	"github.com/lanyardhq/lanyard/infra"
	"github.com/lanyardhq/lanyard/topology"
)

func main() {
	top := topology.Lanyard()
	// The internal systems that may introspect partner keys: the context's lanyard:dependents.
	dependents, err := infra.Dependents(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "infra: %v\n", err)
		os.Exit(1)
	}
	top.Dependents = dependents
	if err := infra.Synth(top, ".", infra.Environment(os.Getenv)); err != nil {
		fmt.Fprintf(os.Stderr, "infra: %v\n", err)
		os.Exit(1)
	}
}
