//go:build integration

package suite_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/topology"
)

// What the authorizer's faultinject build (functions/authorizer/faultinject.go,
// shared/platform/faultinject) names and logs, spelt here as faultEnvVar is.
const (
	authorizeStep     = "authorize"
	faultArmedMessage = "fault injection armed"
	faultPauseMessage = "fault injected: the invocation pauses after this AWS call"
)

// armAuthorizerPause sets LANYARD_FAULT=step=authorize,after=1,pause=<pause> on the authorizer
// of s (a deployment of the test's own: every request through it is held) and waits until the
// update is applied. From the authorizer's next cold start on, every invocation reads the
// key's registry entry (its first AWS call, a consistent GetItem), then holds what it read for
// pause, then decides and answers from it: a revocation committed, and the stage's cache
// flushed, during the pause does not change that answer. setFunctionFault with an empty spec
// disarms it.
func armAuthorizerPause(t *testing.T, s *suite.Suite, pause time.Duration) {
	t.Helper()
	setFunctionFault(t, s.Provisioned.Functions["authorizer"], fmt.Sprintf("step=%s,after=1,pause=%s", authorizeStep, pause))
}

// authorizerFaultLine is the part of the authorizer's fault lines the tests read.
type authorizerFaultLine struct {
	Message   string `json:"message"`
	Step      string `json:"step"`
	After     int    `json:"after"`
	Pause     string `json:"pause"`
	Operation string `json:"operation"`
}

// authorizerFaultLines reads the lines the authorizer of s logged about its fault so far.
func authorizerFaultLines(t *testing.T, s *suite.Suite) (armed, paused []authorizerFaultLine, err error) {
	t.Helper()
	c := &faultCheck{t: t, function: s.Provisioned.Functions["authorizer"]}
	text, err := c.log()
	if err != nil {
		return nil, nil, err
	}
	for line := range strings.SplitSeq(text, "\n") {
		var l authorizerFaultLine
		i := strings.Index(line, "{")
		if i < 0 || json.Unmarshal([]byte(line[i:]), &l) != nil {
			continue
		}
		switch l.Message {
		case faultArmedMessage:
			armed = append(armed, l)
		case faultPauseMessage:
			paused = append(paused, l)
		}
	}
	return armed, paused, nil
}

// With a pause armed on the deployed authorizer (its faultinject build), a request with a
// fresh partner key — no cached policy, so the front invokes the authorizer — takes at least
// the pause and succeeds: the invocation read the key, was held after that read, then allowed
// the request. The authorizer's log shows the fault armed at its cold start and the one pause,
// after the registry's GetItem.
func TestAuthorizerPausesAfterItsRegistryRead(t *testing.T) {
	t.Parallel() // a deployment of its own (see the package doc)
	const pause = 3 * time.Second
	canary := secrettest.Plant(t)
	s, _ := start(t, topology.Lanyard(), canary.Logger())
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	ob := api.onboardNew("Paused Freight "+harness.Name("t"), "standard", "orders:read")

	armAuthorizerPause(t, s, pause)
	began := time.Now()
	me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+ob.APIKey, "")
	took := time.Since(began)
	if me.status != http.StatusOK {
		t.Fatalf("GET /v1/partners/me with the fresh key, the authorizer paused: %d %s", me.status, api.redacted(me.body))
	}
	if took < pause {
		t.Errorf("GET /v1/partners/me took %s, less than the authorizer's pause of %s", took.Round(time.Millisecond), pause)
	}
	t.Logf("GET /v1/partners/me with the authorizer paused %s: %d in %s", pause, me.status, took.Round(time.Millisecond))

	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		armed, paused, err := authorizerFaultLines(t, s)
		if err != nil {
			return false, err.Error()
		}
		want := authorizerFaultLine{Step: authorizeStep, After: 1, Pause: pause.String()}
		for _, l := range armed {
			if l.Step != want.Step || l.After != want.After || l.Pause != want.Pause {
				t.Fatalf("the authorizer armed %+v, want step %s after %d pause %s", l, want.Step, want.After, want.Pause)
			}
		}
		if len(armed) == 0 || len(paused) == 0 {
			return false, fmt.Sprintf("the authorizer's log: %d armed and %d pause lines, want both", len(armed), len(paused))
		}
		if len(paused) != 1 {
			t.Fatalf("the authorizer paused %d times, want once (one request, one invocation): %+v", len(paused), paused)
		}
		if l := paused[0]; l.Step != want.Step || l.After != want.After || l.Pause != want.Pause || l.Operation != "GetItem" {
			t.Fatalf("the authorizer paused %+v, want after its GetItem (step %s after %d pause %s)", l, want.Step, want.After, want.Pause)
		}
		return true, ""
	})
	checkCanaries(t, s, canary)
}
