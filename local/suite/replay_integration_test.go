//go:build integration

package suite_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/topology"
)

// replayAge is how far back the tests move an answer's time: past any replay window the
// policy may declare (at most an hour), as a replay that late would find the record.
const replayAge = time.Hour + time.Minute

// ageAnswers moves the time the answer of every completed idempotency record match accepts
// was given back by replayAge. The functions hold the replay window the policy compiled into
// them; moving the record is what lets a test see the window close without waiting for it.
func ageAnswers(t *testing.T, s *suite.Suite, what string, match func(item map[string]dynamotypes.AttributeValue) bool) {
	t.Helper()
	table := aws.String(s.Provisioned.Tables["idempotency"])
	at := strconv.FormatInt(time.Now().Add(-replayAge).UnixMilli(), 10)
	n := 0
	for _, item := range idempotencyItems(t, s) {
		if onbString(item, "state") != "completed" || !match(item) {
			continue
		}
		_, err := env.DynamoDB.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{
			TableName:                 table,
			Key:                       map[string]dynamotypes.AttributeValue{"idempotencyKey": item["idempotencyKey"]},
			UpdateExpression:          aws.String("SET completedAt = :at"),
			ExpressionAttributeValues: map[string]dynamotypes.AttributeValue{":at": &dynamotypes.AttributeValueMemberN{Value: at}},
		})
		if err != nil {
			t.Fatalf("move the answer of %s back: %v", what, err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d completed idempotency records of %s, want 1", n, what)
	}
}

// idempotencyItems reads every item of the idempotency table, consistently.
func idempotencyItems(t *testing.T, s *suite.Suite) []map[string]dynamotypes.AttributeValue {
	t.Helper()
	var items []map[string]dynamotypes.AttributeValue
	pages := dynamodb.NewScanPaginator(env.DynamoDB, &dynamodb.ScanInput{
		TableName: aws.String(s.Provisioned.Tables["idempotency"]), ConsistentRead: aws.Bool(true),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(t.Context())
		if err != nil {
			t.Fatalf("scan the idempotency records: %v", err)
		}
		items = append(items, page.Items...)
	}
	return items
}

// recordKeys are the keys of the idempotency records there are now: what a test sharing the
// deployment finds there before it sends a request is not its own.
func recordKeys(t *testing.T, s *suite.Suite) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	for _, item := range idempotencyItems(t, s) {
		keys[fmt.Sprint(item["idempotencyKey"])] = true
	}
	return keys
}

// keyOf matches the record that answered with partnerID's key (201): its onboarding, or its
// pick-up (whose pending onboarding's record names the partner too, with 202).
func keyOf(partnerID string) func(map[string]dynamotypes.AttributeValue) bool {
	return func(item map[string]dynamotypes.AttributeValue) bool {
		return onbString(item, "partnerId") == partnerID && status(item) == "201"
	}
}

// status is a record's statusCode, or "".
func status(item map[string]dynamotypes.AttributeValue) string {
	if n, ok := item["statusCode"].(*dynamotypes.AttributeValueMemberN); ok {
		return n.Value
	}
	return ""
}

// idempotencyTableText renders every item of the idempotency table, for the canaries.
func idempotencyTableText(t *testing.T, s *suite.Suite) string {
	t.Helper()
	out, err := env.DynamoDB.Scan(t.Context(), &dynamodb.ScanInput{TableName: aws.String(s.Provisioned.Tables["idempotency"]), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("scan the idempotency records: %v", err)
	}
	var b strings.Builder
	for _, item := range out.Items {
		for k, v := range item {
			switch v := v.(type) {
			case *dynamotypes.AttributeValueMemberS:
				fmt.Fprintf(&b, "%s=%s ", k, v.Value)
			case *dynamotypes.AttributeValueMemberN:
				fmt.Fprintf(&b, "%s=%s ", k, v.Value)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// wantWindowClosed checks a replay after the replay window: 409 replay-window-closed, without
// the key. A failure never prints the body: an answer that is not the problem holds the key.
func wantWindowClosed(t *testing.T, r reply, key string) {
	t.Helper()
	if r.status != http.StatusConflict {
		t.Fatalf("%s %s after the replay window: %d, want 409 replay-window-closed", r.method, r.path, r.status)
	}
	wantFunctionProblem(t, r, http.StatusConflict, "replay-window-closed")
	if bytes.Contains(r.body, []byte(key)) || bytes.Contains(r.body, []byte("apiKey")) {
		t.Errorf("%s %s after the replay window shows the key", r.method, r.path)
	}
}

// invocationsLogged counts the invocations of the function declared decl whose end its logs
// hold.
func invocationsLogged(t *testing.T, s *suite.Suite, decl string) int {
	t.Helper()
	return strings.Count(functionLogs(t, s)[decl], "REPORT RequestId")
}

// waitForLogs waits until the logs of the function declared decl hold the end of n
// invocations more than the before they held when the test began (tests share the
// deployment): CloudWatch Logs receives them after the answers.
func waitForLogs(t *testing.T, s *suite.Suite, decl string, before, n int) {
	t.Helper()
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		got := invocationsLogged(t, s, decl) - before
		return got >= n, fmt.Sprintf("%d of %d invocations of %s in its logs", got, n, decl)
	})
}

// A replay through `lanyard local` gets the key again within the replay window; after it, 409
// replay-window-closed and no key, and nothing runs again — for an onboarding and for a
// pick-up. A refusal still replays after the window. The Idempotency-Keys are canaries: none
// reaches a function's log, a trace, a problem body or the idempotency table.
//
// Not parallel: the canaries capture the process's slog default.
func TestReplayWindowThroughLocal(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "lanyard", topology.Lanyard, canary)
	logged := invocationsLogged(t, s, "onboarding")
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	name := "Replay Freight " + harness.Name("t")

	inv := api.invite(name, "standard")
	idem, body := canary.New("idempotency-key").Reveal(), onboardBody(name, inv.InviteCode, "orders:read")
	first := api.onboard(idem, body)
	if first.status != http.StatusCreated {
		t.Fatalf("onboard: %d %s", first.status, api.redacted(first.body))
	}
	var ob onboarded
	decodeStrict(t, first.body, &ob)
	canary.Add("api key", ob.APIKey)
	if replay := api.onboard(idem, body); replay.status != http.StatusCreated || !sameJSON(replay.body, first.body) {
		t.Errorf("replay within the window: %d, same body: %t", replay.status, sameJSON(replay.body, first.body))
	}

	ageAnswers(t, s, "the onboarding", keyOf(ob.PartnerID))
	late := api.onboard(idem, body)
	wantWindowClosed(t, late, ob.APIKey)
	// The header still belongs to that request: another body under it is refused as before.
	wantFunctionProblem(t, api.onboard(idem, onboardBody(name, inv.InviteCode, "orders:read", "inventory:read")), http.StatusUnprocessableEntity, "idempotency-key-reused")

	// A refusal holds no secret: it replays after the window as it was answered.
	sandbox := api.invite(name+" sandbox", "sandbox")
	deniedKey, deniedBody := canary.New("idempotency-key-denied").Reveal(), onboardBody(name+" sandbox", sandbox.InviteCode, "orders:write")
	others := recordKeys(t, s) // the refusal's record is the one 403 not among them
	denied := wantFunctionProblem(t, api.onboard(deniedKey, deniedBody), http.StatusForbidden, "scopes-not-allowed")

	// The pick-up of an approved onboarding: the same window.
	onb := onbAPI(api)
	pend, _, _ := onb.onboardPending("Replay Premium "+harness.Name("t"), "shipments:write")
	if r := onb.decide(pend.OnboardingID, "approve", "contract signed"); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	pickupKey := canary.New("idempotency-key-pickup").Reveal()
	got := onb.pickup(pend.OnboardingID, pickupKey, pend.PickupToken)
	if got.status != http.StatusCreated {
		t.Fatalf("pick-up: %d %s", got.status, onbRedacted(got.body))
	}
	var picked onboarded
	decodeStrict(t, got.body, &picked)
	canary.Add("picked-up api key", picked.APIKey)
	if again := onb.pickup(pend.OnboardingID, pickupKey, pend.PickupToken); again.status != http.StatusCreated || !sameJSON(again.body, got.body) {
		t.Errorf("pick-up replay within the window: %d, same body: %t", again.status, sameJSON(again.body, got.body))
	}
	ageAnswers(t, s, "the pick-up", keyOf(picked.PartnerID))
	latePickup := onb.pickup(pend.OnboardingID, pickupKey, pend.PickupToken)
	wantWindowClosed(t, latePickup, picked.APIKey)

	ageAnswers(t, s, "the refusal", func(item map[string]dynamotypes.AttributeValue) bool {
		return status(item) == "403" && !others[fmt.Sprint(item["idempotencyKey"])]
	})
	if again := wantFunctionProblem(t, api.onboard(deniedKey, deniedBody), http.StatusForbidden, "scopes-not-allowed"); again.Detail != denied.Detail {
		t.Errorf("the refusal replays as %q, first answered %q", again.Detail, denied.Detail)
	}

	// Nothing ran again: one partner per onboarding, one secret each.
	if n := partnersNamed(t, s, name); n != 1 {
		t.Errorf("%d partners named %q, want 1", n, name)
	}
	for _, id := range []string{ob.PartnerID, picked.PartnerID} {
		if n := secretsOf(t, prefix, id); n != 1 {
			t.Errorf("%d secrets of partner %s, want 1", n, id)
		}
	}
	canary.CheckText("idempotency table", idempotencyTableText(t, s))
	waitForLogs(t, s, "onboarding", logged, 10) // the onboardings, pick-ups and replays above
	checkCanaries(t, s, canary)
}

// The same Idempotency-Key with another invite is another request, through `lanyard local`:
// whoever copies or guesses a partner's header and sends it with another invite, before the
// partner or after it, gets an onboarding (or a refusal) of their own — never the partner's
// answer — and the partner's own onboarding goes through. No header reaches a log, a trace, a
// problem body or the idempotency table.
//
// Not parallel: the canaries capture the process's slog default.
func TestCopiedIdempotencyKeyThroughLocal(t *testing.T) {
	canary := secrettest.Plant(t)
	s, _ := shared(t, "lanyard", topology.Lanyard, canary)
	logged := invocationsLogged(t, s, "onboarding")
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	victim, mallory := "Victim Freight "+harness.Name("t"), "Mallory Freight "+harness.Name("t")
	victimInv, malloryInv := api.invite(victim, "standard"), api.invite(mallory, "sandbox")
	header := canary.New("idempotency-key").Reveal()

	// Mallory has the victim's header before the victim sends it: her own onboarding…
	m := api.onboard(header, onboardBody(mallory, malloryInv.InviteCode, "orders:read"))
	if m.status != http.StatusCreated {
		t.Fatalf("Mallory's onboarding: %d %s", m.status, api.redacted(m.body))
	}
	var mob onboarded
	decodeStrict(t, m.body, &mob)
	canary.Add("Mallory's api key", mob.APIKey)
	// … and the victim's onboarding under the header goes through.
	vBody := onboardBody(victim, victimInv.InviteCode, "orders:read")
	v := api.onboard(header, vBody)
	if v.status != http.StatusCreated {
		t.Fatalf("the victim's onboarding after Mallory took its header: %d %s", v.status, api.redacted(v.body))
	}
	var vob onboarded
	decodeStrict(t, v.body, &vob)
	canary.Add("the victim's api key", vob.APIKey)
	if vob.PartnerID == mob.PartnerID || vob.KeyID == mob.KeyID {
		t.Fatalf("the victim got Mallory's onboarding %s", mob.PartnerID)
	}

	// After the victim, the header with another invite: that invite's own onboarding.
	late := api.invite("Late Freight "+harness.Name("t"), "sandbox")
	l := api.onboard(header, onboardBody(late.PartnerName, late.InviteCode, "orders:read"))
	if l.status != http.StatusCreated || bytes.Contains(l.body, []byte(vob.APIKey)) {
		t.Fatalf("another invite under the victim's header: %d, shows the victim's key %t", l.status, bytes.Contains(l.body, []byte(vob.APIKey)))
	}
	var lob onboarded
	decodeStrict(t, l.body, &lob)
	canary.Add("the late api key", lob.APIKey)
	if lob.PartnerID == vob.PartnerID {
		t.Errorf("another invite under the victim's header got the victim's partner %s", vob.PartnerID)
	}
	// A guessed invite code under the header: its own refusal.
	wantFunctionProblem(t, api.onboard(header, onboardBody(victim, "lnyd_inv_"+strings.Repeat("A", 43), "orders:read")), http.StatusForbidden, "invite-invalid")

	// The victim's replay answers the victim's key.
	if again := api.onboard(header, vBody); again.status != http.StatusCreated || !sameJSON(again.body, v.body) {
		t.Errorf("the victim's replay: %d, same body: %t", again.status, sameJSON(again.body, v.body))
	}
	for _, n := range []string{victim, mallory, late.PartnerName} {
		if got := partnersNamed(t, s, n); got != 1 {
			t.Errorf("%d partners named %q, want 1", got, n)
		}
	}
	canary.CheckText("idempotency table", idempotencyTableText(t, s))
	waitForLogs(t, s, "onboarding", logged, 5) // the onboardings above
	checkCanaries(t, s, canary)
}
