package faultinject_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Untagged on purpose, so the plain `go test ./...` runs it: no function links the injector
// unless built with the faultinject tag, and the rotation and authorizer functions do when it
// is (so the check looks at the right package).
func TestOnlyTheFaultinjectTagLinksTheInjector(t *testing.T) {
	t.Parallel()
	const pkg = "github.com/lanyardhq/lanyard/shared/platform/faultinject"
	deps := func(tags string, pkgs ...string) []string {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), "go", append([]string{"list", "-deps", "-tags", tags}, pkgs...)...).Output()
		if err != nil {
			t.Fatalf("go list -deps -tags %s: %v", tags, err)
		}
		return strings.Fields(string(out))
	}
	// The Lambda build's tags (scripts/build.sh lambda).
	if slices.Contains(deps("lambda.norpc", "github.com/lanyardhq/lanyard/functions/..."), pkg) {
		t.Errorf("a function links %s without the faultinject tag", pkg)
	}
	for _, fn := range []string{"rotation", "authorizer"} {
		if !slices.Contains(deps("lambda.norpc,faultinject", "github.com/lanyardhq/lanyard/functions/"+fn), pkg) {
			t.Errorf("the %s function does not link %s with the faultinject tag", fn, pkg)
		}
	}
}
