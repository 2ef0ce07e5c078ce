package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/lanyardhq/lanyard/topology"
)

var update = flag.Bool("update", false, "regenerate routes_gen.go from the topology")

// The route table the binary carries is the topology's, generated (topology.AuthorizerRoutesSource);
// `go generate ./functions/authorizer` (this test with -update) rewrites it.
func TestRoutesAreCurrent(t *testing.T) {
	want, err := topology.AuthorizerRoutesSource(topology.Lanyard())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Base(topology.AuthorizerRoutesFile)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (regenerate with `go generate ./functions/authorizer`)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: regenerate it with `go generate ./functions/authorizer`", topology.AuthorizerRoutesFile)
	}
}
