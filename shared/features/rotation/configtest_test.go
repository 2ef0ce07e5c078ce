package rotation_test

import (
	"bytes"
	crand "crypto/rand"
	"io"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// The AWS calls of testSecret: the guards' DescribeSecret, load's reads of the partner, of the
// pending version, and of the current and pending keys' registry entries in one batch — and,
// for the configuration test, the AWSCURRENT version.
var (
	testSecretCalls = []string{
		"SecretsManager.DescribeSecret", "DynamoDB.GetItem",
		"SecretsManager.GetSecretValue", "DynamoDB.BatchGetItem",
	}
	configurationTestCalls = []string{
		"SecretsManager.DescribeSecret", "DynamoDB.GetItem",
		"SecretsManager.GetSecretValue", "DynamoDB.BatchGetItem", "SecretsManager.GetSecretValue",
	}
)

// configurationTest stages what Secrets Manager's test of the rotation configuration does
// (RotateSecret with RotateImmediately=false): a new version holding value, staged AWSPENDING,
// on which only testSecret runs. It returns the version's token.
func (fx *fixture) configurationTest(value credential.Key) string {
	fx.t.Helper()
	v := value.Plaintext()
	return fx.putPending(fx.secretARN, &v)
}

// Secrets Manager's test of the rotation configuration, a copy of the partner's current key
// staged AWSPENDING, passes testSecret: nothing is written, no event recorded, and the step
// makes as many AWS calls as for a real pending key (the AWSCURRENT read in place of the
// registry lookup, whose entry the guards read already).
func TestConfigurationTestPasses(t *testing.T) {
	c := secrettest.Plant(t)
	for _, tc := range []struct {
		name string
		// current returns the partner's current key.
		current func(fx *fixture) credential.Key
	}{
		{"the key issued at onboarding", func(fx *fixture) credential.Key { return fx.key0 }},
		{"a key a rotation made current", func(fx *fixture) credential.Key {
			return fx.converged(fx.rotate(), fx.key0, fx.version0, start)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, c)
			cur := tc.current(fx)
			token := fx.configurationTest(cur)
			recordsBefore := len(fx.records())
			before := fx.snapshot()
			if err := fx.step(t.Context(), events.StepTestSecret, fx.secretARN, token); err != nil {
				t.Fatalf("testSecret of the configuration test: %v", err)
			}
			fx.unchanged("testSecret of the configuration test", before)
			if got := len(fx.records()); got != recordsBefore {
				t.Errorf("%d outbox records after the configuration test, want %d", got, recordsBefore)
			}
			if got := fx.faults.perStep[events.StepTestSecret]; !slices.Equal(got, configurationTestCalls) {
				t.Errorf("testSecret's AWS calls %v, want %v", got, configurationTestCalls)
			}
			if ok, err := fx.authorize(cur); err != nil || !ok {
				t.Errorf("the current key authorizes after the configuration test: %v (%v)", ok, err)
			}
		})
	}
}

// A real pending key is tested as before: registry.Verify through the registry, accepted as
// pending, with no read of AWSCURRENT; the rotation then finishes.
func TestPendingKeyTestedAsBefore(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	token := fx.pendingVersion()
	for _, step := range steps[:2] {
		if err := fx.step(t.Context(), step, fx.secretARN, token); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	before := fx.snapshot()
	if err := fx.step(t.Context(), events.StepTestSecret, fx.secretARN, token); err != nil {
		t.Fatalf("testSecret: %v", err)
	}
	fx.unchanged("testSecret", before)
	if got := fx.faults.perStep[events.StepTestSecret]; !slices.Equal(got, testSecretCalls) {
		t.Errorf("testSecret's AWS calls %v, want %v", got, testSecretCalls)
	}
	if err := fx.step(t.Context(), events.StepFinishSecret, fx.secretARN, token); err != nil {
		t.Fatalf("finishSecret: %v", err)
	}
	fx.converged(token, fx.key0, fx.version0, start)
}

// Nothing that merely looks like the configuration test passes: a pending version holding
// another partner's key, a previous or retired key of the partner, the current key when
// AWSCURRENT does not hold it, a forged key with the current key's id, or the current key
// once expired, is refused by testSecret as any pending value that is not the rotation's
// pending key, with Credential Rotation Failed; setSecret refuses the configuration test's
// copy too: passing is testSecret's alone.
func TestConfigurationTestLookalikesRefused(t *testing.T) {
	c := secrettest.Plant(t)
	for _, tc := range []struct {
		name string
		// pending prepares the partner and returns the value to stage AWSPENDING.
		pending func(fx *fixture) credential.Key
		step    string
		reason  string
	}{
		{"another partner's key", func(fx *fixture) credential.Key {
			return fx.otherPartnersKey()
		}, events.StepTestSecret, rotation.ReasonKeyIDConflict},
		{"the partner's previous key", func(fx *fixture) credential.Key {
			fx.converged(fx.rotate(), fx.key0, fx.version0, start)
			return fx.key0
		}, events.StepTestSecret, rotation.ReasonKeyIDConflict},
		{"the partner's retired key", func(fx *fixture) credential.Key {
			t1 := fx.rotate()
			k1 := fx.converged(t1, fx.key0, fx.version0, start)
			fx.converged(fx.rotate(), k1, t1, start)
			if e := fx.entry(fx.key0.ID()); e.Status != registry.StatusRetired {
				fx.t.Fatalf("the first key is %s, want retired", e.Status)
			}
			return fx.key0
		}, events.StepTestSecret, rotation.ReasonPendingDidNotVerify},
		{"the current key when AWSCURRENT holds another", func(fx *fixture) credential.Key {
			t1 := fx.rotate()
			k1 := fx.converged(t1, fx.key0, fx.version0, start)
			// AWSCURRENT back on the onboarded version: the registry's current key is not
			// what AWSCURRENT holds.
			if _, err := fx.sm.UpdateSecretVersionStage(fx.t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
				SecretId: aws.String(fx.secretARN), VersionStage: aws.String("AWSCURRENT"),
				MoveToVersionId: aws.String(fx.version0), RemoveFromVersionId: aws.String(t1),
			}); err != nil {
				fx.t.Fatal(err)
			}
			return k1
		}, events.StepTestSecret, rotation.ReasonKeyIDConflict},
		{"a forged key with the current key's id", func(fx *fixture) credential.Key {
			return fx.sameIDKey(fx.key0)
		}, events.StepTestSecret, rotation.ReasonPendingDidNotVerify},
		{"the current key once expired", func(fx *fixture) credential.Key {
			tier, _ := fx.policy.Tier(testTier)
			fx.clock.Advance(tier.KeyLifetime.Std())
			return fx.key0
		}, events.StepTestSecret, rotation.ReasonPendingDidNotVerify},
		{"setSecret on the current key's copy", func(fx *fixture) credential.Key {
			return fx.key0
		}, events.StepSetSecret, rotation.ReasonKeyIDConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, c)
			token := fx.configurationTest(tc.pending(fx))
			keyID := attrS(fx.partnerItem(), "keyId")
			failedBefore := len(failed(fx.records()))
			before := fx.snapshot()
			err := fx.step(t.Context(), tc.step, fx.secretARN, token)
			if rotation.Reason(err) != tc.reason {
				t.Fatalf("%s: %v, want a %s error", tc.step, err, tc.reason)
			}
			fs := failed(fx.records())
			if len(fs) != failedBefore+1 {
				t.Fatalf("%d Credential Rotation Failed, want %d", len(fs), failedBefore+1)
			}
			if f := fs[len(fs)-1]; f.Step != tc.step || f.Reason != tc.reason || f.VersionID != token || f.PartnerID != fx.partnerID {
				t.Errorf("Credential Rotation Failed %+v, want %s, %s, version %s", *f, tc.step, tc.reason, token)
			}
			fx.unchangedExceptFailure(tc.step, before)
			if got := attrS(fx.partnerItem(), "keyId"); got != keyID {
				t.Errorf("a refused step moved the partner's key from %s to %s", keyID, got)
			}
		})
	}
}

// Secrets Manager's test of the rotation configuration whose AWSCURRENT read fails is a
// failure of testSecret (secret-read-failed), recorded once, not a pass.
func TestConfigurationTestCurrentUnreadable(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	token := fx.configurationTest(fx.key0)
	reads := 0
	fx.faults.failing(func(step, op string) bool {
		if step != events.StepTestSecret || op != "SecretsManager.GetSecretValue" {
			return false
		}
		reads++
		return reads == 2 // the AWSCURRENT version's
	})
	err := fx.step(t.Context(), events.StepTestSecret, fx.secretARN, token)
	if rotation.Reason(err) != rotation.ReasonSecretUnreadable {
		t.Fatalf("testSecret: %v, want a %s error", err, rotation.ReasonSecretUnreadable)
	}
	if fs := failed(fx.records()); len(fs) != 1 || fs[0].Reason != rotation.ReasonSecretUnreadable {
		t.Errorf("Credential Rotation Failed %v, want one %s", fs, rotation.ReasonSecretUnreadable)
	}
}

// otherPartnersKey registers an active key of another partner and returns it.
func (fx *fixture) otherPartnersKey() credential.Key {
	fx.t.Helper()
	k, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.c.Add("another partner's key", k.Plaintext().Reveal())
	e := fx.entry(fx.key0.ID())
	e.KeyID, e.PartnerID, e.Verifier, e.SecretVersionID = k.ID(), partners.NewID(), credential.NewVerifier(k), "another-version"
	fx.transact(itemtest.Must(registry.PutNew(testTables.Credentials, e))(fx.t))
	return k
}

// sameIDKey is a well-formed key with k's id and environment but another secret: only the
// registry's verifier tells it from k.
func (fx *fixture) sameIDKey(k credential.Key) credential.Key {
	fx.t.Helper()
	const base32 = "abcdefghijklmnopqrstuvwxyz234567"
	// Generate maps each random byte b of the id to base32[b&31]: feed it the positions of the
	// id's characters (after its leading 'k'), then real randomness for the secret.
	var pos [256]byte
	for i, c := range []byte(base32) {
		pos[c] = byte(i & 31)
	}
	id := string(k.ID())[1:]
	prefix := make([]byte, len(id))
	for i := range id {
		prefix[i] = pos[id[i]]
	}
	forged, err := credential.Generate(k.Env(), io.MultiReader(bytes.NewReader(prefix), crand.Reader))
	if err != nil || forged.ID() != k.ID() || forged.Plaintext().Reveal() == k.Plaintext().Reveal() {
		fx.t.Fatalf("forge a key with id %s: %v (got %s)", k.ID(), err, forged.ID())
	}
	fx.c.Add("forged key", forged.Plaintext().Reveal())
	return forged
}
