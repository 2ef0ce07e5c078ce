package provision

import (
	"testing"

	"github.com/lanyardhq/lanyard/topology"
)

// A consumer's rule matches Lanyard's source and its detail types; a consumer of every detail
// type is matched by the source alone, so types added later reach it.
func TestEventPattern(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    topology.Consumer
		want string
	}{
		{topology.Consumer{DetailTypes: []string{"Credential Revoked", "Credential Issued"}},
			`{"detail-type":["Credential Issued","Credential Revoked"],"source":["lanyard"]}`},
		{topology.Consumer{AllDetailTypes: true}, `{"source":["lanyard"]}`},
	} {
		if got := eventPattern(tc.c); got != tc.want {
			t.Errorf("eventPattern(%+v) = %s, want %s", tc.c, got, tc.want)
		}
	}
}
