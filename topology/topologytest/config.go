package topologytest

import (
	"slices"
	"testing"

	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
	"github.com/lanyardhq/lanyard/topology"
)

// CheckConfig fails t unless the variables cfg, the configuration struct of function name
// (shared/platform/lambdastart), reads are exactly those its entry in tp gives it, plus
// platform-wide ones (lambdastart.Platform: AWS_*, LANYARD_KEY_ENVIRONMENT, LANYARD_LOG_LEVEL,
// LANYARD_FAULT), which Lambda, the SDK or `lanyard local` set and the topology never
// declares. Each functions/<name> package calls it from its own test, where its unexported
// config type is in reach; topology's TestEveryFunctionChecksItsConfig makes sure each does.
func CheckConfig(t *testing.T, tp *topology.Topology, name string, cfg any) {
	t.Helper()
	var fn *topology.Function
	for i := range tp.Functions {
		if tp.Functions[i].Name == name {
			fn = &tp.Functions[i]
		}
	}
	if fn == nil {
		t.Fatalf("no function %s in the topology", name)
	}
	vars, err := lambdastart.Variables(cfg)
	if err != nil {
		t.Fatalf("function %s: %v", name, err)
	}
	for _, v := range vars {
		if _, given := fn.Env[v]; !given && !lambdastart.Platform(v) {
			t.Errorf("function %s: its configuration reads %s, which its topology entry does not give it", name, v)
		}
	}
	for v := range fn.Env {
		if lambdastart.Platform(v) {
			t.Errorf("function %s: its topology entry gives %s, a platform-wide variable the topology must not set", name, v)
		}
		if !slices.Contains(vars, v) {
			t.Errorf("function %s: its topology entry gives %s, which its configuration does not read", name, v)
		}
	}
}
