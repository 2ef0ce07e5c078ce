//go:build integration

package suite_test

import (
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

// The tests of this file wait on LocalStack's clock: it fires a rate(1 minute) rule about a
// minute after the rule is created, and a minute apart after that. They provision their
// deployment before calling t.Parallel, in the package's serial phase — this file sorts first,
// so that is the package's first minute — and wait in the parallel phase, by when the clock
// has mostly run.

// A declared schedule is a real EventBridge rule that LocalStack fires: the recorder receives
// the Scheduled Event without anyone invoking it.
func TestScheduleFiresItsFunction(t *testing.T) {
	tp := topologytest.Sample()
	tp.Schedules = append(tp.Schedules, topology.Schedule{Name: "recorder-tick", Function: "recorder", Expression: "rate(1 minute)"})
	s, _ := start(t, tp, nil)
	t.Parallel() // a deployment of its own (see the package doc), waiting on the clock
	ctx := t.Context()
	harness.Eventually(t, 150*time.Second, func() (bool, string) {
		ds, err := deliveries(ctx, s.Provisioned.Tables["deliveries"])
		if err != nil {
			return false, err.Error()
		}
		for _, d := range ds {
			if d.Source == "aws:events" && d.DetailType == "Scheduled Event" {
				return true, ""
			}
		}
		return false, "no Scheduled Event recorded yet"
	})
}
