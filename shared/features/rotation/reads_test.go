package rotation_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// The AWS calls of each step of a rotation: the guards' DescribeSecret; createSecret and
// testSecret read the partner, then (testSecret) the pending key, then the registry entries in
// one batch; setSecret and finishSecret read the pending key, then the partner (finishSecret:
// with its outbox head) and the pending key's entry in one batch, and check the current key's
// entry in their transaction. finishSecret moves AWSCURRENT and leaves AWSPENDING with it.
var (
	createSecretCalls = []string{
		"SecretsManager.DescribeSecret", "DynamoDB.GetItem", "DynamoDB.BatchGetItem",
		"SecretsManager.GetSecretValue", "SecretsManager.PutSecretValue",
	}
	setSecretCalls = []string{
		"SecretsManager.DescribeSecret", "SecretsManager.GetSecretValue", "DynamoDB.BatchGetItem",
		"DynamoDB.TransactWriteItems",
	}
	finishSecretCalls = []string{
		"SecretsManager.DescribeSecret", "SecretsManager.GetSecretValue", "DynamoDB.BatchGetItem",
		"DynamoDB.TransactWriteItems", "SecretsManager.UpdateSecretVersionStage",
	}
)

// Each step reads what it checks once, and a rotation makes 18 AWS calls; the older previous
// key's retirement, which finishSecret puts in its commit without reading the key's entry,
// comes out of the commit again when that key is no longer previous (one more
// TransactWriteItems, no read).
func TestEachStepReadsOnce(t *testing.T) {
	c := secrettest.Plant(t)
	for _, tc := range []struct {
		name string
		// before prepares the second rotation (the one counted) after the first.
		before func(fx *fixture)
		finish []string
	}{
		{"the older key still previous", func(*fixture) {}, finishSecretCalls},
		{"the older key retired already", func(fx *fixture) {
			fx.transact(registry.Retire(testTables.Credentials, fx.key0.ID(), registry.StatusPrevious, start.Add(time.Minute)))
		}, slices.Insert(slices.Clone(finishSecretCalls), 4, "DynamoDB.TransactWriteItems")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, c)
			k1 := fx.converged(fx.rotate(), fx.key0, fx.version0, start)
			tc.before(fx)
			t2 := fx.rotate()
			if len(fx.errs) > 0 {
				t.Fatalf("the second rotation failed: %v", fx.errs)
			}
			for step, want := range map[string][]string{
				events.StepCreateSecret: createSecretCalls, events.StepSetSecret: setSecretCalls,
				events.StepTestSecret: testSecretCalls, events.StepFinishSecret: tc.finish,
			} {
				if got := fx.faults.perStep[step]; !slices.Equal(got, want) {
					t.Errorf("%s's AWS calls %v, want %v", step, got, want)
				}
			}
			if e := fx.entry(k1.ID()); e.Status != registry.StatusPrevious {
				t.Errorf("the key the second rotation replaced is %s, want previous", e.Status)
			}
			if e := fx.entry(fx.key0.ID()); e.Status != registry.StatusRetired {
				t.Errorf("the first key is %s, want retired", e.Status)
			}
			if stages := fx.stages()[t2]; !slices.Equal(stages, []string{"AWSCURRENT", "AWSPENDING"}) && !slices.Equal(stages, []string{"AWSPENDING", "AWSCURRENT"}) {
				t.Errorf("the new version's stages %v, want AWSCURRENT with AWSPENDING left on it", stages)
			}
		})
	}
}

// What setSecret and finishSecret take of the current key's entry without reading it is
// checked by their transaction: when it does not hold, the step reads the entry and does what
// it did when it read it first — refuses with the same reason, or registers the pending key
// with the current key's own scopes.
func TestAssumedCurrentKeyIsChecked(t *testing.T) {
	c := secrettest.Plant(t)
	for _, tc := range []struct {
		name string
		step string
		// change changes the state after the steps before step.
		change func(fx *fixture)
		reason string // "" when the step succeeds
	}{
		{"setSecret, the current key revoked", events.StepSetSecret, func(fx *fixture) {
			fx.setStatus(fx.key0.ID(), registry.StatusRevoked)
		}, rotation.ReasonCurrentKeyNotActive},
		{"finishSecret, the current key revoked", events.StepFinishSecret, func(fx *fixture) {
			fx.setStatus(fx.key0.ID(), registry.StatusRevoked)
		}, rotation.ReasonCurrentKeyNotActive},
		{"finishSecret, the current key registered for another partner", events.StepFinishSecret, func(fx *fixture) {
			fx.setAttr(testTables.Credentials, registry.Key(fx.key0.ID()), registry.AttrPartnerID, "p-someoneelse00000000000000000")
		}, rotation.ReasonCurrentKeyUnknown},
		{"setSecret, the partner's scopes other than the current key's", events.StepSetSecret, func(fx *fixture) {
			fx.transact(types.TransactWriteItem{Update: &types.Update{
				TableName: aws.String(testTables.Partners), Key: partners.Key(fx.partnerID),
				UpdateExpression:          aws.String("SET #s = :s"),
				ExpressionAttributeNames:  map[string]string{"#s": "scopes"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "orders:read"}}}},
			}})
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, c)
			token := fx.pendingVersion()
			for _, step := range steps {
				if step == tc.step {
					break
				}
				if err := fx.step(t.Context(), step, fx.secretARN, token); err != nil {
					t.Fatalf("%s: %v", step, err)
				}
			}
			tc.change(fx)
			before := fx.snapshot()
			err := fx.step(t.Context(), tc.step, fx.secretARN, token)
			reads := 0
			for _, op := range fx.faults.perStep[tc.step] {
				if op == "DynamoDB.BatchGetItem" {
					reads++
				}
			}
			if reads != 2 {
				t.Errorf("%s's calls %v: want the registry read after the transaction", tc.step, fx.faults.perStep[tc.step])
			}
			if tc.reason != "" {
				if rotation.Reason(err) != tc.reason {
					t.Fatalf("%s: %v, want a %s error", tc.step, err, tc.reason)
				}
				fx.unchangedExceptFailure(tc.step, before)
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.step, err)
			}
			pending := fx.keyAt(token, "AWSPENDING")
			if got, want := fx.entry(pending.ID()).Scopes, fx.entry(fx.key0.ID()).Scopes; !slices.Equal(got, want) {
				t.Errorf("the pending key's scopes %v, want the current key's %v", got, want)
			}
			if err := fx.steps(token); err != nil {
				t.Fatalf("the rotation after %s: %v", tc.step, err)
			}
			fx.converged(token, fx.key0, fx.version0, start)
		})
	}
}

// setAttr sets one string attribute of an item.
func (fx *fixture) setAttr(table string, key map[string]types.AttributeValue, name, value string) {
	fx.t.Helper()
	fx.transact(types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(table), Key: key,
		UpdateExpression:          aws.String("SET #a = :v"),
		ExpressionAttributeNames:  map[string]string{"#a": name},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: value}},
	}})
}
