//go:build integration

package suite_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
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

// An enforcer that keeps failing sends its deliveries to its DLQ, and the revocation shows as
// stalled: the gateway enforcer of this deployment flushes a stage that does not exist (every
// delivery fails), its queue gives each message one receive, and the tracker's budget is 5
// seconds. The revocation-check schedule — LocalStack's clock, no one invoking the tracker —
// records Revocation Stalled naming the gateway enforcer, and `lanyard revocation status` and
// `lanyard revocation list --stalled` show it.
func TestFailingEnforcerDeadLettersAndTheRevocationStalls(t *testing.T) {
	canary := secrettest.Plant(t)
	tp := topology.Lanyard()
	for i := range tp.Functions {
		f := &tp.Functions[i]
		switch f.Name {
		case "revocation-gateway":
			f.Env = maps.Clone(f.Env)
			f.Env["PARTNER_API_ARN"] = topology.Literal("arn:aws:execute-api:" + suite.Region + ":" + suite.Account + ":no-such-api/local")
			f.Timeout = 10 * time.Second
		case "revocation-tracker":
			f.Env = maps.Clone(f.Env)
			f.Env[lambdastart.RevocationBudgetVar] = topology.Literal("5s")
		}
	}
	for i := range tp.Consumers {
		if c := &tp.Consumers[i]; c.Name == "revocation-gateway" {
			c.VisibilityTimeout, c.MaxReceiveCount = 60*time.Second, 1
		}
	}
	s, prefix := start(t, tp, canary.Logger())
	t.Parallel() // a deployment of its own (see the package doc), waiting on the clock
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	a := api.onboardNew("Stalled Freight "+harness.Name("t"), "standard", "orders:read")
	if r := revokeWith(t, s, a.APIKey, "application/x-www-form-urlencoded", revokeForm(a.APIKey)); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, api.redacted(r.body))
	}
	id := lastRevocationID(t, s, a.PartnerID)

	dlq := s.Provisioned.Queues[prefix+"-revocation-gateway-dlq"]
	harness.Eventually(t, 4*time.Minute, func() (bool, string) {
		counts, err := queueCounts(t.Context(), dlq)
		if err != nil {
			return false, err.Error()
		}
		return counts[0] == 1, fmt.Sprintf("the enforcer's DLQ holds %d visible and %d in-flight messages, want 1 visible", counts[0], counts[1])
	})
	var stalled *events.RevocationStalled
	harness.Eventually(t, 3*time.Minute, func() (bool, string) {
		if ds := revocationTrail(t, s, a.PartnerID)[events.TypeRevocationStalled]; len(ds) > 0 {
			stalled = ds[0].(*events.RevocationStalled)
			return true, ""
		}
		return false, "no Revocation Stalled yet"
	})
	// The gateway enforcer is missing; the others may or may not have reported within the 5 s
	// budget. Missing and reported together are the declared enforcers, each once.
	accounted := slices.Clone(stalled.Missing)
	for _, r := range stalled.Enforcers {
		accounted = append(accounted, r.Enforcer)
	}
	slices.Sort(accounted)
	declared := slices.Sorted(slices.Values(topology.Lanyard().Enforcers()))
	if stalled.RevocationID != id || !slices.Contains(stalled.Missing, events.EnforcerGateway) || stalled.BudgetMS != 5000 ||
		!slices.Equal(accounted, declared) {
		t.Errorf("Revocation Stalled %+v, want revocation %s missing the gateway enforcer, every declared enforcer %v missing or reported once, budget 5 s", stalled, id, declared)
	}
	trail := revocationTrail(t, s, a.PartnerID)
	for _, d := range trail[events.TypeRevocationEnforced] {
		if e := d.(*events.RevocationEnforced); e.Enforcer == events.EnforcerGateway {
			t.Errorf("the failing gateway enforcer reported: %+v", e)
		}
	}
	if n := len(trail[events.TypeRevocationCompleted]); n != 0 {
		t.Errorf("%d Revocation Completed with the gateway enforcer failing", n)
	}

	// What ops see.
	type enforcerStatus struct {
		Enforcer string `json:"enforcer"`
		Reported bool   `json:"reported"`
		Expected bool   `json:"expected"`
	}
	type revocationStatus struct {
		RevocationID string           `json:"revocationId"`
		Status       string           `json:"status"`
		Enforcers    []enforcerStatus `json:"enforcers"`
	}
	var shown struct {
		Revocations []revocationStatus `json:"revocations"`
	}
	cli := lanyardCLI(t)
	local := []string{"--prefix", prefix, "--localstack", env.LocalStackURL, "--dynamodb", env.DynamoDBURL}
	if err := json.Unmarshal(cli(append([]string{"-o", "json", "revocation", "status", id}, local...)...), &shown); err != nil || len(shown.Revocations) != 1 {
		t.Fatalf("lanyard revocation status: %v, %d revocations", err, len(shown.Revocations))
	}
	status := shown.Revocations[0]
	gatewayMissing := slices.ContainsFunc(status.Enforcers, func(e enforcerStatus) bool {
		return e.Enforcer == events.EnforcerGateway && !e.Reported && e.Expected
	})
	if status.RevocationID != id || status.Status != "stalled" || len(status.Enforcers) != len(topology.Lanyard().Enforcers()) || !gatewayMissing {
		t.Errorf("lanyard revocation status: %+v, want %s stalled, every declared enforcer shown, the gateway's missing", status, id)
	}
	if out := string(cli(append([]string{"revocation", "list", "--stalled"}, local...)...)); !strings.Contains(out, id) {
		t.Errorf("lanyard revocation list --stalled does not list %s:\n%s", id, out)
	}
	checkCanaries(t, s, canary)
}

// lanyardCLI builds the lanyard command once for the test and returns a runner of it that fails
// the test when the command fails.
func lanyardCLI(t *testing.T) func(args ...string) []byte {
	t.Helper()
	run := lanyardCLIRun(t)
	return func(args ...string) []byte {
		t.Helper()
		r := run(args...)
		if r.code != 0 {
			t.Fatalf("lanyard %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		return []byte(r.stdout)
	}
}

// lanyardBinary builds the lanyard CLI for a test and returns its path.
func lanyardBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lanyard")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/lanyard")
	build.Dir = env.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/lanyard: %v\n%s", err, out)
	}
	return bin
}

// cliRun is one run of the built CLI: what it printed and its exit code.
type cliRun struct {
	stdout, stderr string
	code           int
}

// lanyardCLIRun builds the lanyard CLI for a test and returns a function that runs it and
// hands back its output and exit code, failing or not.
func lanyardCLIRun(t *testing.T) func(args ...string) cliRun {
	t.Helper()
	bin := lanyardBinary(t)
	return func(args ...string) cliRun {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), bin, args...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return cliRun{stdout: stdout.String(), stderr: stderr.String()}
		case errors.As(err, &exit):
			return cliRun{stdout: stdout.String(), stderr: stderr.String(), code: exit.ExitCode()}
		}
		t.Fatalf("lanyard %s: %v", strings.Join(args, " "), err)
		return cliRun{}
	}
}
