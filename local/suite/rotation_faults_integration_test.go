//go:build integration

package suite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/topology"
)

// What shared/platform/faultinject reads and logs. The package is compiled only with the faultinject
// tag, which this test's build does not carry, so its names are spelt here; a drift would
// leave the test finding no crash in the log, and failing.
const (
	faultEnvVar           = "LANYARD_FAULT"
	faultCrashMessage     = "fault injected: the invocation crashes after this AWS call"
	faultUnreachedMessage = "fault armed: the invocation ended before its crash point"
)

// faultStep is one rotation step and the AWS calls one invocation of it makes in a rotation
// that starts from a converged state, as the rotation function's call lines
// (shared/platform/awscalls) listed them for the warm-up rotation: a crash is injected after
// each of them, and the test checks the list against the function (each crash is logged
// after the operation named, and a fault armed one call past the last never fires, the step
// ending after exactly the calls listed).
type faultStep struct {
	step  string
	calls []string // operation names, in order, as the SDK names them
	// completesAt is the call after which the rotation is complete (finishSecret's
	// UpdateSecretVersionStage, which moves AWSCURRENT), 0 when the step never completes it.
	completesAt int
}

// faultSteps reads the call lines the rotation function logged since since for the rotation
// of token, one invocation per step, and returns the steps in rotation order.
func (c *faultCheck) faultSteps(since time.Time, token string) []faultStep {
	c.t.Helper()
	order := []string{events.StepCreateSecret, events.StepSetSecret, events.StepTestSecret, events.StepFinishSecret}
	byStep := map[string][]string{}
	harness.Eventually(c.t, 60*time.Second, func() (bool, string) {
		lines, err := functionCalls(c.t.Context(), c.function, since)
		if err != nil {
			return false, err.Error()
		}
		clear(byStep)
		for _, l := range lines {
			step, _ := l.fields["step"].(string)
			if version, _ := l.fields["version"].(string); version != token || step == "" {
				continue
			}
			if _, dup := byStep[step]; dup {
				c.t.Fatalf("the warm-up rotation ran %s more than once", step)
			}
			byStep[step] = l.sequence
		}
		return len(byStep) == len(order), fmt.Sprintf("call lines of %d of the %d steps of rotation %s", len(byStep), len(order), token)
	})
	var steps []faultStep
	for _, step := range order {
		st := faultStep{step: step}
		for _, call := range byStep[step] {
			op := call[strings.LastIndex(call, ".")+1:] // "Secrets Manager.DescribeSecret"
			st.calls = append(st.calls, op)
			if step == events.StepFinishSecret && op == "UpdateSecretVersionStage" && st.completesAt == 0 {
				st.completesAt = len(st.calls)
			}
		}
		if len(st.calls) == 0 || st.calls[0] != "DescribeSecret" {
			c.t.Fatalf("%s's calls %v: want the guards' DescribeSecret first", step, st.calls)
		}
		if step == events.StepFinishSecret && st.completesAt == 0 {
			c.t.Fatalf("finishSecret's calls %v: no UpdateSecretVersionStage", st.calls)
		}
		c.t.Logf("%s: %d calls %v", step, len(st.calls), st.calls)
		steps = append(steps, st)
	}
	return steps
}

// A crash injected into the deployed rotation function (its faultinject build, LANYARD_FAULT
// set with UpdateFunctionConfiguration) after each AWS call of each step, then — the fault
// cleared — the next RotateSecret, converges: exactly one new key, AWSCURRENT and AWSPREVIOUS
// where they belong, no AWSPENDING stranded, one active and one previous key in the registry,
// the partner's item naming them, and the new key authorizing. When the crash came after the
// rotation completed (finishSecret, after AWSCURRENT moved), the state it left is checked as
// converged, and the next RotateSecret is a rotation of its own. A fault armed one call past
// a step's last never fires: that rotation completes, and so does the next.
//
// LocalStack runs the four steps inside RotateSecret and swallows a failing step (README):
// the faulted RotateSecret answers 200, and the next one re-runs the steps with the token
// AWSPENDING is on.
func TestRotationConvergesAfterACrashAfterEachAWSCall(t *testing.T) {
	t.Parallel() // a deployment of its own (see the package doc)
	canary := secrettest.Plant(t)
	s, prefix := start(t, topology.Lanyard(), canary.Logger())
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	name := "Crashing Freight " + harness.Name("t")
	ob := api.onboardNew(name, "standard", "orders:read")
	c := &faultCheck{t: t, s: s, canary: canary, partnerID: ob.PartnerID,
		secretID: partnersecret.Name(partnersecret.Prefix(prefix), ob.PartnerID), function: s.Provisioned.Functions["rotation"]}

	// A clean rotation first, so every case starts where the steps' calls it lists hold: a
	// partner with a previous key.
	warmUp := time.Now()
	c.rotate("warm-up")
	c.rotations++
	c.converged("warm-up", ob.APIKey)
	faultSteps := c.faultSteps(warmUp, c.currentVersion())

	began := time.Now()
	cases := 0
	for _, st := range faultSteps {
		for n := 1; n <= len(st.calls)+1; n++ {
			past := n > len(st.calls)
			what := fmt.Sprintf("%s after call %d", st.step, n)
			if past {
				what += " (past its last)"
			} else {
				what += " (" + st.calls[n-1] + ")"
			}
			caseBegan := time.Now()
			before := c.current()

			c.setFault(fmt.Sprintf("step=%s,after=%d", st.step, n))
			c.rotate(what + ": the faulted RotateSecret")
			if past {
				c.unreachedLogged(what, st.step, n, len(st.calls))
			} else {
				c.crashLogged(what, st.step, n, st.calls[n-1])
			}
			completed := c.current() != before
			if want := past || (st.completesAt > 0 && n >= st.completesAt); completed != want {
				t.Errorf("%s: the faulted attempt completed the rotation: %t, want %t", what, completed, want)
			}
			// The crashed attempt left a key on its AWSPENDING version once createSecret's
			// put (its last call) landed: the next attempt must keep it.
			pending := c.pendingValue()
			if want := !completed && (st.step != events.StepCreateSecret || n == len(st.calls)); (pending != "") != want {
				t.Errorf("%s: a key on a stranded AWSPENDING version: %t, want %t", what, pending != "", want)
			}
			if completed {
				c.rotations++
				c.converged(what+", the faulted attempt", before)
				before = c.current()
			}

			c.setFault("")
			c.rotate(what + ": the next RotateSecret")
			c.rotations++
			after := c.converged(what+", the next RotateSecret", before)
			if pending != "" && after != pending {
				t.Errorf("%s: the rotation converged on another key than the one the faulted attempt put", what)
			}
			t.Logf("%s: converged in %s (completed by the faulted attempt: %t)", what, time.Since(caseBegan).Round(time.Millisecond), completed)
			cases++
		}
	}
	t.Logf("%d fault cases in %s", cases, time.Since(began).Round(time.Millisecond))

	// One Credential Rotated per rotation, none twice, and an intact chain.
	store := &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}
	recs, err := store.Records(ctx, ob.PartnerID)
	if err != nil {
		t.Fatal(err)
	}
	rotated := 0
	for _, rec := range recs {
		if rec.DetailType == events.TypeCredentialRotated {
			rotated++
		}
	}
	if rotated != c.rotations {
		t.Errorf("%d Credential Rotated records, want %d (one per rotation)", rotated, c.rotations)
	}
	if err := store.VerifyPartner(ctx, ob.PartnerID); err != nil {
		t.Errorf("the partner's audit chain: %v", err)
	}
	checkCanaries(t, s, canary)
}

// faultCheck drives and checks one partner's rotations through a suite.
type faultCheck struct {
	t         *testing.T
	s         *suite.Suite
	canary    *secrettest.Canaries
	partnerID string
	secretID  string
	function  string // the rotation function's name
	rotations int    // rotations completed
}

// setFault sets LANYARD_FAULT on the rotation function (removes it when spec is empty),
// keeping its other variables, and waits until the update is applied.
func (c *faultCheck) setFault(spec string) {
	c.t.Helper()
	setFunctionFault(c.t, c.function, spec)
}

// setFunctionFault sets LANYARD_FAULT on the deployed function fn (removes it when spec is
// empty), keeping its other variables, and waits until the update is applied: the next
// invocation starts a new execution environment, whose injector reads it.
func setFunctionFault(t *testing.T, fn, spec string) {
	t.Helper()
	ctx := t.Context()
	cur, err := env.Lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(fn)})
	if err != nil {
		t.Fatalf("read the configuration of %s: %v", fn, err)
	}
	vars := map[string]string{}
	if cur.Environment != nil {
		maps.Copy(vars, cur.Environment.Variables)
	}
	if spec == "" {
		delete(vars, faultEnvVar)
	} else {
		vars[faultEnvVar] = spec
	}
	if _, err := env.Lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(fn), Environment: &lambdatypes.Environment{Variables: vars},
	}); err != nil {
		t.Fatalf("set %s=%q on %s: %v", faultEnvVar, spec, fn, err)
	}
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		cfg, err := env.Lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(fn)})
		if err != nil {
			return false, err.Error()
		}
		got := ""
		if cfg.Environment != nil {
			got = cfg.Environment.Variables[faultEnvVar]
		}
		return cfg.LastUpdateStatus == lambdatypes.LastUpdateStatusSuccessful && got == spec,
			fmt.Sprintf("last update %s, %s=%q", cfg.LastUpdateStatus, faultEnvVar, got)
	})
}

// rotate calls RotateSecret. LocalStack swallows a failing step, so an error is a failure.
func (c *faultCheck) rotate(what string) {
	c.t.Helper()
	if _, err := env.SecretsManager.RotateSecret(c.t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String(c.secretID)}); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

// read returns the value of the secret's version with stage (empty when there is none).
func (c *faultCheck) read(stage string) string {
	c.t.Helper()
	out, err := env.SecretsManager.GetSecretValue(c.t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(c.secretID), VersionStage: aws.String(stage)})
	if gone(err) {
		return ""
	}
	if err != nil {
		c.t.Fatalf("read %s: %v", stage, err)
	}
	v := aws.ToString(out.SecretString)
	c.canary.Add("the "+stage+" key", v)
	return v
}

func (c *faultCheck) current() string { return c.read(partnersecret.StageCurrent) }

// currentVersion is the id of the secret's AWSCURRENT version.
func (c *faultCheck) currentVersion() string {
	c.t.Helper()
	v, err := currentOf(c.t.Context(), c.secretID)
	if err != nil || v == "" {
		c.t.Fatalf("the AWSCURRENT version: %q, %v", v, err)
	}
	return v
}

// pendingValue is the key a stranded AWSPENDING version holds, or "" (no such version, or no
// value in it yet).
func (c *faultCheck) pendingValue() string {
	c.t.Helper()
	d, err := env.SecretsManager.DescribeSecret(c.t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(c.secretID)})
	if err != nil {
		c.t.Fatal(err)
	}
	for version, stages := range d.VersionIdsToStages {
		if strings.Contains(strings.Join(stages, " "), partnersecret.StagePending) && !strings.Contains(strings.Join(stages, " "), partnersecret.StageCurrent) {
			out, err := env.SecretsManager.GetSecretValue(c.t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(c.secretID), VersionId: aws.String(version)})
			if err != nil || aws.ToString(out.SecretString) == "" {
				return "" // the version holds no value yet
			}
			v := aws.ToString(out.SecretString)
			c.canary.Add("a pending key", v)
			return v
		}
	}
	return ""
}

// converged checks the state of a completed rotation from the key before: exactly one new key,
// AWSCURRENT on it and AWSPREVIOUS on the key before, no AWSPENDING stranded; in the registry
// one entry per key ever issued (no orphans), the new key the one active and the key before
// the one previous, none pending; the partner's item naming them; and the new key
// authorizing. It returns the new key.
func (c *faultCheck) converged(what, before string) string {
	c.t.Helper()
	ctx := c.t.Context()
	cur, prev := c.current(), c.read(partnersecret.StagePrevious)
	if cur == before {
		c.t.Fatalf("%s: AWSCURRENT still holds the key before", what)
	}
	if prev != before {
		c.t.Errorf("%s: AWSPREVIOUS is not the key before", what)
	}
	noStrandedPending(c.t, c.secretID)
	newKey, err := credential.Parse(cur)
	if err != nil {
		c.t.Fatalf("%s: AWSCURRENT does not hold a key: %v", what, err)
	}
	oldKey, err := credential.Parse(before)
	if err != nil {
		c.t.Fatalf("%s: the key before does not parse: %v", what, err)
	}

	entries := c.registryEntries()
	byStatus := map[registry.Status][]credential.KeyID{}
	for _, e := range entries {
		byStatus[e.Status] = append(byStatus[e.Status], e.KeyID)
	}
	if len(entries) != c.rotations+1 {
		c.t.Errorf("%s: %d registry entries for the partner after %d rotations, want %d (%v)", what, len(entries), c.rotations, c.rotations+1, byStatus)
	}
	if a := byStatus[registry.StatusActive]; len(a) != 1 || a[0] != newKey.ID() {
		c.t.Errorf("%s: active keys %v, want [%s]", what, a, newKey.ID())
	}
	if p := byStatus[registry.StatusPrevious]; len(p) != 1 || p[0] != oldKey.ID() {
		c.t.Errorf("%s: previous keys %v, want [%s]", what, p, oldKey.ID())
	}
	if p := byStatus[registry.StatusPending]; len(p) != 0 {
		c.t.Errorf("%s: pending keys left %v", what, p)
	}

	item, err := env.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(c.s.Provisioned.Tables["partners"]), Key: partners.Key(c.partnerID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		c.t.Fatalf("%s: read the partner: %v", what, err)
	}
	attr := func(name string) string {
		if v, ok := item.Item[name].(*dynamotypes.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	if attr("keyId") != string(newKey.ID()) || attr(partners.AttrPreviousKeyID) != string(oldKey.ID()) || attr(partners.AttrPendingKeyID) != "" {
		c.t.Errorf("%s: partner keyId %q previousKeyId %q pendingKeyId %q, want %s, %s and none", what,
			attr("keyId"), attr(partners.AttrPreviousKeyID), attr(partners.AttrPendingKeyID), newKey.ID(), oldKey.ID())
	}

	me := send(c.t, c.s, http.MethodGet, "/v1/partners/me", "Bearer "+cur, "")
	var prof profile
	if me.status != http.StatusOK || json.Unmarshal(me.body, &prof) != nil || prof.KeyID != string(newKey.ID()) {
		c.t.Errorf("%s: GET /v1/partners/me with the new key: %d, key id %q", what, me.status, prof.KeyID)
	}
	return cur
}

// registryEntries reads the partner's registry entries (a consistent scan: the by-partner
// index is eventually consistent).
func (c *faultCheck) registryEntries() []registry.Entry {
	c.t.Helper()
	var entries []registry.Entry
	p := dynamodb.NewScanPaginator(env.DynamoDB, &dynamodb.ScanInput{
		TableName: aws.String(c.s.Provisioned.Tables["credentials"]), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": registry.AttrPartnerID},
		ExpressionAttributeValues: map[string]dynamotypes.AttributeValue{":p": &dynamotypes.AttributeValueMemberS{Value: c.partnerID}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(c.t.Context())
		if err != nil {
			c.t.Fatalf("scan the registry: %v", err)
		}
		for _, item := range page.Items {
			e, err := registry.EntryFromItem(item)
			if err != nil {
				c.t.Fatalf("a registry entry of the partner: %v", err)
			}
			entries = append(entries, e)
		}
	}
	return entries
}

// crashLogged waits until the rotation function's log shows the injected crash of step after
// call n, made after the operation the table names: the fault did fire, where the table says.
func (c *faultCheck) crashLogged(what, step string, n int, op string) {
	c.t.Helper()
	harness.Eventually(c.t, 30*time.Second, func() (bool, string) {
		text, err := c.log()
		if err != nil {
			return false, err.Error()
		}
		var ops []string
		for line := range strings.SplitSeq(text, "\n") {
			var l struct {
				Message   string `json:"message"`
				Step      string `json:"step"`
				After     int    `json:"after"`
				Operation string `json:"operation"`
			}
			i := strings.Index(line, "{")
			if i < 0 || json.Unmarshal([]byte(line[i:]), &l) != nil || l.Message != faultCrashMessage || l.Step != step || l.After != n {
				continue
			}
			ops = append(ops, l.Operation)
		}
		if len(ops) == 0 {
			return false, fmt.Sprintf("%s: no injected crash in the rotation function's log yet", what)
		}
		if len(ops) > 1 || ops[0] != op {
			c.t.Fatalf("%s: crashes logged after %v, want one after %s", what, ops, op)
		}
		return true, ""
	})
}

// unreachedLogged waits until the rotation function's log shows that an invocation of step,
// armed to crash after call n, ended after calls calls.
func (c *faultCheck) unreachedLogged(what, step string, n, calls int) {
	c.t.Helper()
	harness.Eventually(c.t, 30*time.Second, func() (bool, string) {
		text, err := c.log()
		if err != nil {
			return false, err.Error()
		}
		var made []int
		for line := range strings.SplitSeq(text, "\n") {
			var l struct {
				Message string `json:"message"`
				Step    string `json:"step"`
				After   int    `json:"after"`
				Calls   int    `json:"calls"`
			}
			i := strings.Index(line, "{")
			if i < 0 || json.Unmarshal([]byte(line[i:]), &l) != nil || l.Step != step || l.After != n {
				continue
			}
			if l.Message == faultCrashMessage {
				c.t.Fatalf("%s: a crash was injected", what)
			}
			if l.Message == faultUnreachedMessage {
				made = append(made, l.Calls)
			}
		}
		if len(made) == 0 {
			return false, fmt.Sprintf("%s: the armed invocation's end is not in the rotation function's log yet", what)
		}
		if len(made) > 1 || made[0] != calls {
			c.t.Fatalf("%s: armed invocations made %v AWS calls, want one making %d", what, made, calls)
		}
		return true, ""
	})
}

// log reads the rotation function's CloudWatch log.
func (c *faultCheck) log() (string, error) {
	ctx := context.WithoutCancel(c.t.Context())
	p := cloudwatchlogs.NewFilterLogEventsPaginator(env.Logs, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/" + c.function)})
	var text strings.Builder
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", err
		}
		for _, e := range page.Events {
			text.WriteString(aws.ToString(e.Message))
			text.WriteString("\n")
		}
	}
	return text.String(), nil
}
