//go:build integration

package suite_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/credential"
	"github.com/lanyardhq/lanyard/shared/outbox"
	"github.com/lanyardhq/lanyard/shared/registry"
	"github.com/lanyardhq/lanyard/shared/secret/secrettest"
	"github.com/lanyardhq/lanyard/topology"
)

// Onboarding switches the partner secret's rotation on (the tier's interval, the rotation
// function, RotateImmediately=false through the local patch); LocalStack's own RotateSecret
// then drives the production rotation function through the four steps, twice: each time the
// new key becomes AWSCURRENT and authorizes, the key it replaced stays valid as previous, and
// one previous key at a time — the second rotation retires the first key.
func TestRotationThroughLocalStack(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := start(t, topology.Lanyard(), canary.Logger())
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	name := "Rotating Freight " + harness.Name("t")
	inv := api.invite(name, "standard")
	r := api.onboard(harness.Name("idem"), onboardBody(name, inv.InviteCode, "orders:read"))
	if r.status != http.StatusCreated {
		t.Fatalf("onboard: %d %s", r.status, api.redacted(r.body))
	}
	var ob onboarded
	decodeStrict(t, r.body, &ob)
	canary.Add("first key", ob.APIKey)
	secretID := prefix + "/" + topology.SecretsPath + ob.PartnerID

	desc, err := env.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		t.Fatalf("describe the partner's secret: %v", err)
	}
	if !aws.ToBool(desc.RotationEnabled) || desc.RotationRules == nil || aws.ToInt64(desc.RotationRules.AutomaticallyAfterDays) != 30 ||
		!strings.HasSuffix(aws.ToString(desc.RotationLambdaARN), ":function:"+s.Provisioned.Functions["rotation"]) {
		t.Fatalf("rotation after onboarding: enabled %v, rules %+v, function %s", aws.ToBool(desc.RotationEnabled), desc.RotationRules, aws.ToString(desc.RotationLambdaARN))
	}

	keys := []string{ob.APIKey}
	for round := 1; round <= 2; round++ {
		if _, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(secretID)}); err != nil {
			t.Fatalf("rotation %d: %v", round, err)
		}
		cur, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
		if err != nil {
			t.Fatalf("rotation %d: read AWSCURRENT: %v", round, err)
		}
		key := aws.ToString(cur.SecretString)
		canary.Add(fmt.Sprintf("key of rotation %d", round), key)
		if key == keys[len(keys)-1] {
			t.Fatalf("rotation %d: AWSCURRENT still holds the key it replaced", round)
		}
		prev, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID), VersionStage: aws.String("AWSPREVIOUS")})
		if err != nil || aws.ToString(prev.SecretString) != keys[len(keys)-1] {
			t.Errorf("rotation %d: AWSPREVIOUS is not the key replaced (%v)", round, err)
		}
		keys = append(keys, key)
		noStrandedPending(t, secretID)
		// The new key and the one it replaced both authorize.
		for i, k := range keys[len(keys)-2:] {
			if me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+k, ""); me.status != http.StatusOK {
				t.Errorf("rotation %d: key %d answered %d", round, len(keys)-2+i, me.status)
			}
		}
	}

	// The registry: the last key active, the one before previous with a grace, the first retired.
	reg := &registry.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["credentials"]}
	want := []registry.Status{registry.StatusRetired, registry.StatusPrevious, registry.StatusActive}
	for i, k := range keys {
		parsed, err := credential.Parse(k)
		if err != nil {
			t.Fatalf("key %d does not parse: %v", i, err)
		}
		e, err := reg.Get(ctx, parsed.ID())
		if err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		if e.Status != want[i] || (e.Status == registry.StatusPrevious && !e.GraceUntil.After(time.Now().Add(6*24*time.Hour))) {
			t.Errorf("key %d: status %s grace until %s, want %s (a week's grace for standard)", i, e.Status, e.GraceUntil, want[i])
		}
	}
	store := &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}
	recs, err := store.Records(ctx, ob.PartnerID)
	if err != nil {
		t.Fatal(err)
	}
	rotated := 0
	for _, rec := range recs {
		if rec.DetailType == "Credential Rotated" {
			rotated++
		}
	}
	if rotated != 2 {
		t.Errorf("%d Credential Rotated records, want 2", rotated)
	}
	if err := store.VerifyPartner(ctx, ob.PartnerID); err != nil {
		t.Errorf("the partner's audit chain: %v", err)
	}
	checkCanaries(t, s, canary)
}

// noStrandedPending fails the test when AWSPENDING sits on a version that is not AWSCURRENT.
func noStrandedPending(t *testing.T, secretID string) {
	t.Helper()
	d, err := env.SecretsManager.DescribeSecret(context.WithoutCancel(t.Context()), &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		t.Fatal(err)
	}
	for version, stages := range d.VersionIdsToStages {
		pending, current := false, false
		for _, st := range stages {
			pending = pending || st == "AWSPENDING"
			current = current || st == "AWSCURRENT"
		}
		if pending && !current {
			t.Errorf("AWSPENDING stranded on version %s", version)
		}
	}
}
