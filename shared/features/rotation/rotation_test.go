package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/onboarding"
	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// A rotation started by RotateSecret runs the four steps: the new key is AWSCURRENT, the old
// one AWSPREVIOUS; the registry holds the new key active and the old one previous until its
// grace ends; the partner's keyId is the new key; Credential Rotated is on the outbox chain.
// Through the authorizer both keys work during grace, and only the new one after it.
func TestRotation(t *testing.T) {
	c := secrettest.Plant(t)
	for _, tc := range []struct {
		name string
		opts []func(*fixture)
	}{
		{"the steps get the secret's ARN", nil},
		{"the steps get the secret's name", []func(*fixture){func(fx *fixture) { fx.stepsByName = true }}},
		{"an untagged secret names its partner", []func(*fixture){func(fx *fixture) { fx.untagged = true }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, c, tc.opts...)
			token := fx.rotate()
			if len(fx.errs) > 0 {
				t.Fatalf("the rotation failed: %v", fx.errs)
			}
			desc, err := fx.sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(fx.secretARN)})
			if err != nil || desc.LastRotatedDate == nil {
				t.Fatalf("the fake does not record the rotation as complete: %v", err)
			}
			k1 := fx.converged(token, fx.key0, fx.version0, start)
			if ds := fx.records(); len(ds) != 1 {
				t.Errorf("%d outbox records, want one Credential Rotated", len(ds))
			}
			if n := len(fx.entries()); n != 2 {
				t.Errorf("the partner has %d registry entries, want 2", n)
			}
			tier, _ := fx.policy.Tier(testTier)
			for _, at := range []struct {
				name      string
				after     time.Duration
				old, next bool
			}{
				{"right after the rotation", 0, true, true},
				{"just before grace ends", tier.Rotation.GraceWindow.Std() - time.Second, true, true},
				{"once grace has ended", time.Second, false, true},
			} {
				fx.clock.Advance(at.after)
				for _, k := range []struct {
					name string
					key  credential.Key
					want bool
				}{{"the old key", fx.key0, at.old}, {"the new key", k1, at.next}} {
					if got, err := fx.authorize(k.key); err != nil || got != k.want {
						t.Errorf("%s, %s authorizes: %v (%v), want %v", at.name, k.name, got, err, k.want)
					}
				}
			}
		})
	}
}

// Every step run again with the same token changes nothing, during the rotation and after it.
func TestEachStepIsIdempotent(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	token := fx.pendingVersion()
	for _, step := range steps {
		if err := fx.step(t.Context(), step, fx.secretARN, token); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		before := fx.snapshot()
		if err := fx.step(t.Context(), step, fx.secretARN, token); err != nil {
			t.Fatalf("%s again: %v", step, err)
		}
		fx.unchanged(step+" run again", before)
	}
	fx.converged(token, fx.key0, fx.version0, start)
	before := fx.snapshot()
	if err := fx.steps(token); err != nil {
		t.Fatalf("the four steps again after the rotation: %v", err)
	}
	fx.unchanged("the four steps run again after the rotation", before)
}

// A crash after any AWS call of any step leaves a state from which the next attempt with the
// same token converges: exactly one new key, no AWSPENDING stranded. While the rotation is
// unfinished, RotateSecret refuses another one (AWS's behaviour, which the fake has), so the
// attempt that follows is the same rotation retried, as Secrets Manager retries it (and as
// LocalStack runs it again on the next RotateSecret).
func TestCrashAfterEachCallConverges(t *testing.T) {
	c := secrettest.Plant(t)
	// A clean rotation lists each step's calls.
	clean := newFixture(t, c)
	clean.rotate()
	if len(clean.errs) > 0 {
		t.Fatalf("the clean rotation failed: %v", clean.errs)
	}
	calls := clean.faults.perStep
	for _, step := range steps {
		if len(calls[step]) == 0 {
			t.Fatalf("%s made no AWS call", step)
		}
		for n, op := range calls[step] {
			t.Run(fmt.Sprintf("%s after call %d %s", step, n+1, op), func(t *testing.T) {
				fx := newFixture(t, c)
				fx.faults.crashAfterCall(step, n+1)
				token := fx.rotate()
				if len(fx.errs) == 1 && !errors.Is(fx.errs[0], errCrashed) {
					t.Fatalf("the crashed rotation failed with %v", fx.errs[0])
				}
				stages := fx.stages()
				if slices.Contains(stages[token], "AWSPENDING") && !slices.Contains(stages[token], "AWSCURRENT") {
					_, err := fx.rotateSecret(uuid.NewString(), true)
					var refused *smtypes.InvalidRequestException
					if !errors.As(err, &refused) {
						t.Errorf("RotateSecret while the rotation is unfinished: %v, want InvalidRequestException", err)
					}
				}
				if err := fx.steps(token); err != nil {
					t.Fatalf("the retried rotation: %v", err)
				}
				fx.converged(token, fx.key0, fx.version0, start)
				if n := len(fx.entries()); n != 2 {
					t.Errorf("the partner has %d registry entries, want the old key's and one new key's", n)
				}
				if fs := failed(fx.records()); len(fs) != 0 {
					t.Errorf("%d Credential Rotation Failed recorded by a crashed function", len(fs))
				}
			})
		}
	}
}

// A step that fails returns the error and records Credential Rotation Failed with the step and
// a reason from the vocabulary, once per token and step however often it fails again.
func TestFailureRecordedOncePerTokenAndStep(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	fx.faults.failing(func(step, op string) bool {
		return step == events.StepTestSecret && op == "SecretsManager.GetSecretValue"
	})
	token := fx.rotate()
	if len(fx.errs) != 1 || rotation.Reason(fx.errs[0]) != rotation.ReasonSecretUnreadable {
		t.Fatalf("the rotation failed with %v, want one %s error", fx.errs, rotation.ReasonSecretUnreadable)
	}
	for attempt := 2; attempt <= 3; attempt++ {
		if err := fx.steps(token); err == nil {
			t.Fatalf("attempt %d succeeded with testSecret failing", attempt)
		}
	}
	fx.faults.failing(func(step, op string) bool {
		return step == events.StepFinishSecret && op == "SecretsManager.UpdateSecretVersionStage"
	})
	for attempt := 1; attempt <= 2; attempt++ {
		if err := fx.steps(token); rotation.Reason(err) != rotation.ReasonStageMoveFailed {
			t.Fatalf("attempt with finishSecret failing: %v, want %s", err, rotation.ReasonStageMoveFailed)
		}
	}
	fx.faults.failing(nil)
	if err := fx.steps(token); err != nil {
		t.Fatalf("the rotation once nothing fails: %v", err)
	}
	fx.converged(token, fx.key0, fx.version0, start)
	ds := fx.records()
	var got []string
	for _, f := range failed(ds) {
		got = append(got, f.Step+" "+f.Reason)
		if f.SecretARN != fx.secretARN || f.VersionID != token || f.PartnerID != fx.partnerID {
			t.Errorf("Credential Rotation Failed %+v", *f)
		}
	}
	want := []string{"testSecret " + rotation.ReasonSecretUnreadable, "finishSecret " + rotation.ReasonStageMoveFailed}
	if !slices.Equal(got, want) {
		t.Errorf("failures recorded %v, want %v", got, want)
	}
	if n := len(rotated(ds)); n != 1 {
		t.Errorf("%d Credential Rotated, want 1", n)
	}
	item := fx.partnerItem()
	for _, step := range []string{events.StepTestSecret, events.StepFinishSecret} {
		if got := attrS(item, partners.FailureMarkerPrefix+step); got != token {
			t.Errorf("the partner's %s failure marker is %q, want the token", step, got)
		}
	}
}

// A createSecret whose put meets the version filled by a concurrent attempt with the token
// (ResourceExistsException) keeps that attempt's key, and the rotation finishes with it.
func TestConcurrentCreateSecretKeepsTheFirstKey(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	first, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Add("the concurrent attempt's key", first.Plaintext().Reveal())
	var token string
	fx.faults.intercepting(func(step, op string) {
		if step != events.StepCreateSecret || op != "SecretsManager.PutSecretValue" {
			return
		}
		fx.faults.intercepting(nil)
		if _, err := fx.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(fx.secretARN), ClientRequestToken: aws.String(token),
			SecretString: aws.String(first.Plaintext().Reveal()), VersionStages: []string{"AWSPENDING"},
		}); err != nil {
			t.Errorf("the concurrent put: %v", err)
		}
	})
	token = uuid.NewString()
	if _, err := fx.rotateSecret(token, true); err != nil {
		t.Fatal(err)
	}
	if len(fx.errs) > 0 {
		t.Fatalf("the rotation failed: %v", fx.errs)
	}
	if k := fx.converged(token, fx.key0, fx.version0, start); k.ID() != first.ID() {
		t.Errorf("the rotation made key %s current, want the concurrent attempt's %s", k.ID(), first.ID())
	}
}

// Two rotations in a row leave one previous key: the key the second one replaced. The key the
// first one replaced retires when the second finishes, unless it is no longer previous.
func TestTwoRotationsLeaveOnePreviousKey(t *testing.T) {
	c := secrettest.Plant(t)
	for _, tc := range []struct {
		name string
		// before changes the first key before the second rotation; want is its status after,
		// retiresNow whether the second rotation retires it.
		before     func(fx *fixture)
		want       registry.Status
		retiresNow bool
	}{
		{"the older key still in grace retires", func(*fixture) {}, registry.StatusRetired, true},
		{"an older key retired already stays so", func(fx *fixture) {
			fx.transact(registry.Retire(testTables.Credentials, fx.key0.ID(), registry.StatusPrevious, start.Add(time.Minute)))
		}, registry.StatusRetired, false},
		{"an older key revoked stays so", func(fx *fixture) {
			fx.setStatus(fx.key0.ID(), registry.StatusRevoked)
		}, registry.StatusRevoked, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, c)
			t1 := fx.rotate()
			k1 := fx.converged(t1, fx.key0, fx.version0, start)
			tc.before(fx)
			retiredBefore := fx.entry(fx.key0.ID()).RetiredAt
			fx.clock.Advance(time.Hour)
			second := fx.clock.Now()
			t2 := fx.rotate()
			if len(fx.errs) > 0 {
				t.Fatalf("the second rotation failed: %v", fx.errs)
			}
			k2 := fx.converged(t2, k1, t1, second)
			old := fx.entry(fx.key0.ID())
			if old.Status != tc.want {
				t.Errorf("the first key is %s, want %s", old.Status, tc.want)
			}
			if wantRetired := retiredBefore; tc.retiresNow {
				if !old.RetiredAt.Equal(second) {
					t.Errorf("the first key retired at %s, want %s", old.RetiredAt, second)
				}
			} else if !old.RetiredAt.Equal(wantRetired) {
				t.Errorf("the first key's retirement moved to %s", old.RetiredAt)
			}
			var previous []credential.KeyID
			for _, e := range fx.entries() {
				if e.Status == registry.StatusPrevious {
					previous = append(previous, e.KeyID)
				}
			}
			if !slices.Equal(previous, []credential.KeyID{k1.ID()}) {
				t.Errorf("previous keys %v, want only %s", previous, k1.ID())
			}
			if stages := fx.stages(); len(stages[fx.version0]) != 0 {
				t.Errorf("the first version still has stages %v", stages[fx.version0])
			}
			for _, k := range []struct {
				name string
				key  credential.Key
				want bool
			}{{"the first key", fx.key0, false}, {"the second key", k1, true}, {"the third key", k2, true}} {
				if got, err := fx.authorize(k.key); err != nil || got != k.want {
					t.Errorf("%s authorizes: %v (%v), want %v", k.name, got, err, k.want)
				}
			}
			if n := len(rotated(fx.records())); n != 2 {
				t.Errorf("%d Credential Rotated, want 2", n)
			}
		})
	}
}

// The guards of AWS's rotation templates, and the partner's.
func TestGuards(t *testing.T) {
	c := secrettest.Plant(t)
	for _, tc := range []struct {
		name string
		// prepare returns the step's SecretId and token.
		prepare func(fx *fixture) (secretID, token string)
		step    string
		reason  string // "" when the step does nothing and succeeds
		event   bool   // whether Credential Rotation Failed is recorded
	}{
		{"rotation not enabled", func(fx *fixture) (string, string) {
			arn := fx.otherSecret(true, false)
			return arn, fx.putPending(arn, nil)
		}, events.StepCreateSecret, rotation.ReasonRotationDisabled, true},
		{"the token is not a version", func(fx *fixture) (string, string) {
			return fx.secretARN, uuid.NewString()
		}, events.StepCreateSecret, rotation.ReasonUnknownVersion, true},
		{"the version is not AWSPENDING", func(fx *fixture) (string, string) {
			return fx.secretARN, fx.putVersion(fx.secretARN, "STAGING")
		}, events.StepSetSecret, rotation.ReasonNotPending, true},
		{"the version is AWSCURRENT already", func(fx *fixture) (string, string) {
			return fx.secretARN, fx.version0
		}, events.StepFinishSecret, "", false},
		{"an unknown step", func(fx *fixture) (string, string) {
			return fx.secretARN, fx.pendingVersion()
		}, "rollbackSecret", rotation.ReasonUnknownStep, false},
		{"a secret of no partner", func(fx *fixture) (string, string) {
			arn := fx.otherSecret(false, true)
			return arn, fx.pendingEmpty(arn)
		}, events.StepCreateSecret, rotation.ReasonPartnerUnknown, false},
		{"another secret tagged for the partner", func(fx *fixture) (string, string) {
			arn := fx.otherSecret(true, true)
			return arn, fx.pendingEmpty(arn)
		}, events.StepCreateSecret, rotation.ReasonSecretNotPartners, true},
		{"the current key is revoked", func(fx *fixture) (string, string) {
			fx.setStatus(fx.key0.ID(), registry.StatusRevoked)
			return fx.secretARN, fx.pendingVersion()
		}, events.StepCreateSecret, rotation.ReasonCurrentKeyNotActive, true},
		{"the pending version holds no key", func(fx *fixture) (string, string) {
			v := fx.c.New("not a key")
			return fx.secretARN, fx.putPending(fx.secretARN, &v)
		}, events.StepCreateSecret, rotation.ReasonPendingNotAKey, true},
		{"the pending key is another environment's", func(fx *fixture) (string, string) {
			k, err := credential.Generate(credential.EnvLive, nil)
			if err != nil {
				fx.t.Fatal(err)
			}
			fx.c.Add("live key", k.Plaintext().Reveal())
			v := k.Plaintext()
			return fx.secretARN, fx.putPending(fx.secretARN, &v)
		}, events.StepSetSecret, rotation.ReasonPendingWrongEnv, true},
		{"setSecret before createSecret", func(fx *fixture) (string, string) {
			return fx.secretARN, fx.pendingVersion()
		}, events.StepSetSecret, rotation.ReasonSecretUnreadable, true},
		{"testSecret before setSecret", func(fx *fixture) (string, string) {
			token := fx.pendingVersion()
			if err := fx.step(fx.t.Context(), events.StepCreateSecret, fx.secretARN, token); err != nil {
				fx.t.Fatal(err)
			}
			return fx.secretARN, token
		}, events.StepTestSecret, rotation.ReasonPendingUnregistered, true},
		{"the pending key id is registered with another verifier", func(fx *fixture) (string, string) {
			token := fx.pendingVersion()
			if err := fx.step(fx.t.Context(), events.StepCreateSecret, fx.secretARN, token); err != nil {
				fx.t.Fatal(err)
			}
			pending := fx.keyAt(token, "AWSPENDING")
			other, err := credential.Generate(credential.EnvLocal, nil)
			if err != nil {
				fx.t.Fatal(err)
			}
			e := fx.entry(fx.key0.ID())
			e.KeyID, e.Verifier, e.Status, e.SecretVersionID = pending.ID(), credential.NewVerifier(other), registry.StatusPending, token
			fx.transact(itemtest.Must(registry.PutNew(testTables.Credentials, e))(t))
			return fx.secretARN, token
		}, events.StepSetSecret, rotation.ReasonKeyIDConflict, true},
		{"finishSecret before setSecret", func(fx *fixture) (string, string) {
			token := fx.pendingVersion()
			if err := fx.step(fx.t.Context(), events.StepCreateSecret, fx.secretARN, token); err != nil {
				fx.t.Fatal(err)
			}
			return fx.secretARN, token
		}, events.StepFinishSecret, rotation.ReasonPendingUnregistered, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, c)
			id, token := tc.prepare(fx)
			before := fx.snapshot()
			err := fx.step(t.Context(), tc.step, id, token)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("%s: %v, want nothing done", tc.step, err)
				}
				fx.unchanged(tc.step, before)
				return
			}
			if err == nil || rotation.Reason(err) != tc.reason {
				t.Fatalf("%s: %v, want a %s error", tc.step, err, tc.reason)
			}
			fs := failed(fx.records())
			if !tc.event {
				if len(fs) != 0 {
					t.Errorf("%d Credential Rotation Failed, want none", len(fs))
				}
				return
			}
			if len(fs) != 1 || fs[0].Step != tc.step || fs[0].Reason != tc.reason || fs[0].VersionID != token {
				t.Fatalf("Credential Rotation Failed %v, want one for %s, %s, version %s", fs, tc.step, tc.reason, token)
			}
			fx.unchangedExceptFailure(tc.step, before)
			if got := attrS(fx.partnerItem(), "keyId"); got != string(fx.key0.ID()) {
				t.Errorf("a refused step moved the partner's key to %s", got)
			}
		})
	}
}

// A stale AWSPENDING — a rotation that kept failing — is handled as AWS documents it.
// RotateSecret refuses a new rotation while AWSPENDING is on a version that is not AWSCURRENT,
// so the stale rotation is retried with its own token and converges on its own key. An
// operator who abandons it instead (takes AWSPENDING off its version, as CancelRotateSecret's
// documentation directs) gets a new rotation on a new version, whose setSecret retires the
// abandoned key's pending entry: that key never becomes valid.
func TestStaleAwspending(t *testing.T) {
	c := secrettest.Plant(t)
	failTest := func(step, op string) bool {
		return step == events.StepTestSecret && op == "SecretsManager.GetSecretValue"
	}

	t.Run("retried with its own token", func(t *testing.T) {
		fx := newFixture(t, c)
		fx.faults.failing(failTest)
		stale := fx.rotate()
		pending := fx.keyAt(stale, "AWSPENDING")
		for _, immediately := range []bool{true, false} {
			_, err := fx.rotateSecret(uuid.NewString(), immediately)
			var refused *smtypes.InvalidRequestException
			if !errors.As(err, &refused) {
				t.Errorf("RotateSecret (immediately %v) while AWSPENDING is stale: %v, want InvalidRequestException", immediately, err)
			}
		}
		fx.faults.failing(nil)
		if err := fx.steps(stale); err != nil {
			t.Fatalf("the stale rotation retried: %v", err)
		}
		if k := fx.converged(stale, fx.key0, fx.version0, start); k.ID() != pending.ID() {
			t.Errorf("the retried rotation made key %s current, want the stale version's %s", k.ID(), pending.ID())
		}
		if n := len(fx.entries()); n != 2 {
			t.Errorf("the partner has %d registry entries, want 2", n)
		}
	})

	t.Run("abandoned by an operator", func(t *testing.T) {
		fx := newFixture(t, c)
		fx.faults.failing(failTest)
		stale := fx.rotate()
		abandoned := fx.keyAt(stale, "AWSPENDING")
		if e := fx.entry(abandoned.ID()); e.Status != registry.StatusPending {
			t.Fatalf("the stale key is %s, want pending", e.Status)
		}
		fx.faults.failing(nil)
		if _, err := fx.sm.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(fx.secretARN), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(stale),
		}); err != nil {
			t.Fatal(err)
		}
		fx.clock.Advance(time.Minute)
		token := fx.rotate()
		if len(fx.errs) != 1 { // the stale rotation's
			t.Fatalf("the new rotation failed: %v", fx.errs[1:])
		}
		k := fx.converged(token, fx.key0, fx.version0, start.Add(time.Minute))
		if k.ID() == abandoned.ID() {
			t.Fatal("the new rotation reused the abandoned key")
		}
		e := fx.entry(abandoned.ID())
		if e.Status != registry.StatusRetired || !e.RetiredAt.Equal(start.Add(time.Minute)) {
			t.Errorf("the abandoned key is %s (retired at %s), want retired when the new key was registered", e.Status, e.RetiredAt)
		}
		if _, listed := fx.stages()[stale]; listed {
			t.Errorf("the abandoned version still has stages")
		}
		if ok, err := fx.authorize(abandoned); err != nil || ok {
			t.Errorf("the abandoned key authorizes: %v (%v)", ok, err)
		}
	})
}

// The partner tag and the partner item's keyId attribute are shared/features/onboarding's and
// shared/features/partner's.
func TestSharedNames(t *testing.T) {
	if rotation.PartnerTag != onboarding.PartnerTag {
		t.Errorf("PartnerTag %q, onboarding's %q", rotation.PartnerTag, onboarding.PartnerTag)
	}
	item := itemtest.Must(partners.Partner{KeyID: "k-marker"}.Item())(t)
	if got := attrS(item, "keyId"); got != "k-marker" {
		t.Errorf("partners.Item keeps the key id elsewhere than keyId")
	}
}

// Every reason is a short kebab-case code, valid as Credential Rotation Failed's reason.
func TestReasons(t *testing.T) {
	code := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	seen := map[string]bool{}
	for _, r := range rotation.Reasons() {
		if !code.MatchString(r) || seen[r] {
			t.Errorf("reason %q is not a unique kebab-case code", r)
		}
		seen[r] = true
	}
	if !strings.Contains(strings.Join(rotation.Reasons(), " "), rotation.ReasonInternal) {
		t.Error("ReasonInternal is not listed")
	}
}

// unchangedExceptFailure checks a refused step changed nothing but the outbox (its Credential
// Rotation Failed) and the partner's failure marker of the step.
func (fx *fixture) unchangedExceptFailure(step string, before snapshot) {
	fx.t.Helper()
	after := fx.snapshot()
	if !reflect.DeepEqual(before.Stages, after.Stages) {
		fx.t.Errorf("a refused %s changed the staging labels: %v, then %v", step, before.Stages, after.Stages)
	}
	if !reflect.DeepEqual(before.Tables[testTables.Credentials], after.Tables[testTables.Credentials]) {
		fx.t.Errorf("a refused %s changed the registry", step)
	}
	strip := func(items []dynamodbtest.Item) []dynamodbtest.Item {
		var out []dynamodbtest.Item
		for _, it := range items {
			it = maps.Clone(it)
			delete(it, partners.FailureMarkerPrefix+step)
			out = append(out, it)
		}
		return out
	}
	if !reflect.DeepEqual(strip(before.Tables[testTables.Partners]), strip(after.Tables[testTables.Partners])) {
		fx.t.Errorf("a refused %s changed the partner beyond its failure marker", step)
	}
}

// transact writes items in one transaction.
func (fx *fixture) transact(items ...types.TransactWriteItem) {
	fx.t.Helper()
	if _, err := fx.db.TransactWriteItems(fx.t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		fx.t.Fatal(err)
	}
}

// setStatus sets a registry entry's status, as a revocation would.
func (fx *fixture) setStatus(id credential.KeyID, status registry.Status) {
	fx.t.Helper()
	_, err := fx.db.UpdateItem(fx.t.Context(), &dynamodb.UpdateItemInput{
		TableName: aws.String(testTables.Credentials), Key: registry.Key(id),
		UpdateExpression:          aws.String("SET #s = :s"),
		ExpressionAttributeNames:  map[string]string{"#s": registry.AttrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: string(status)}},
	})
	if err != nil {
		fx.t.Fatal(err)
	}
}

// otherSecret creates another secret holding a key, tagged for the fixture's partner or not,
// with rotation switched on or not, and returns its ARN.
func (fx *fixture) otherSecret(tagged, rotating bool) string {
	fx.t.Helper()
	v := fx.c.New("other secret")
	in := &secretsmanager.CreateSecretInput{Name: aws.String("elsewhere/" + uuid.NewString()), SecretString: aws.String(v.Reveal())}
	if tagged {
		in.Tags = []smtypes.Tag{{Key: aws.String(rotation.PartnerTag), Value: aws.String(fx.partnerID)}}
	}
	out, err := fx.sm.CreateSecret(fx.t.Context(), in)
	if err != nil {
		fx.t.Fatal(err)
	}
	if rotating {
		if _, err := fx.sm.RotateSecret(fx.t.Context(), &secretsmanager.RotateSecretInput{
			SecretId: out.ARN, RotationLambdaARN: aws.String(rotationLambda),
			RotationRules: &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}, RotateImmediately: aws.Bool(false),
		}); err != nil {
			fx.t.Fatal(err)
		}
	}
	return aws.ToString(out.ARN)
}

// pendingEmpty starts a rotation of secret arn whose function does not run.
func (fx *fixture) pendingEmpty(arn string) string {
	fx.t.Helper()
	hook := fx.sm.Rotate
	fx.sm.Rotate = func(_ context.Context, _, _ string) error { return errors.New("the rotation function is not called") }
	defer func() { fx.sm.Rotate = hook }()
	token := uuid.NewString()
	if _, err := fx.sm.RotateSecret(fx.t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String(arn), ClientRequestToken: aws.String(token)}); err != nil {
		fx.t.Fatal(err)
	}
	return token
}

// putPending puts a version staged AWSPENDING holding v (a fresh canary when nil).
func (fx *fixture) putPending(arn string, v *secret.Value) string {
	fx.t.Helper()
	if v == nil {
		nv := fx.c.New("pending value")
		v = &nv
	}
	token := uuid.NewString()
	if _, err := fx.sm.PutSecretValue(fx.t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), ClientRequestToken: aws.String(token), SecretString: aws.String(v.Reveal()), VersionStages: []string{"AWSPENDING"},
	}); err != nil {
		fx.t.Fatal(err)
	}
	return token
}

// putVersion puts a version holding a fresh canary, staged stage.
func (fx *fixture) putVersion(arn, stage string) string {
	fx.t.Helper()
	v := fx.c.New("staged value")
	token := uuid.NewString()
	if _, err := fx.sm.PutSecretValue(fx.t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), ClientRequestToken: aws.String(token), SecretString: aws.String(v.Reveal()), VersionStages: []string{stage},
	}); err != nil {
		fx.t.Fatal(err)
	}
	return token
}
