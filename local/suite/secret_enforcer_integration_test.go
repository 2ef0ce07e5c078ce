//go:build integration

package suite_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/secretenforcer"
	"github.com/lanyardhq/lanyard/topology"
)

// The secret enforcer, through LocalStack's Secrets Manager: after a rotation the partner has
// a previous and a current key in one secret. Revoking the previous key takes AWSPREVIOUS off
// its version and leaves the secret rotating, undeleted; revoking the current key too (no key
// left on the secret) cancels its rotation, removes AWSPENDING (LocalStack leaves it on the
// rotated version), tags it lanyard:revoked with the revocation id and schedules its deletion
// with the policy's recovery window. Each Revocation Completed carries the secret enforcer's
// report.
func TestSecretAfterAPreviousKeyRevocationAndAFullRevocation(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	a := api.onboardNew("Retired Secrets "+harness.Name("t"), "standard", "orders:read")
	secretID := partnersecret.Name(partnersecret.Prefix(prefix), a.PartnerID)
	if _, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(secretID)}); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	cur, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		t.Fatal(err)
	}
	current := aws.ToString(cur.SecretString)
	canary.Add("current key", current)
	describe := func() *secretsmanager.DescribeSecretOutput {
		t.Helper()
		d, err := env.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	holder := func(d *secretsmanager.DescribeSecretOutput, stage string) string {
		for v, stages := range d.VersionIdsToStages {
			if slices.Contains(stages, stage) {
				return v
			}
		}
		return ""
	}
	revokedTag := func(d *secretsmanager.DescribeSecretOutput) string {
		for _, tag := range d.Tags {
			if aws.ToString(tag.Key) == secretenforcer.RevokedTag {
				return aws.ToString(tag.Value)
			}
		}
		return ""
	}
	before := describe()
	if holder(before, partnersecret.StagePrevious) == "" || !aws.ToBool(before.RotationEnabled) {
		t.Fatalf("after the rotation: versions %v, rotation %v; want an AWSPREVIOUS, rotating", before.VersionIdsToStages, aws.ToBool(before.RotationEnabled))
	}
	secretReport := func(c *events.RevocationCompleted) bool {
		return slices.ContainsFunc(c.Enforcers, func(r events.EnforcerReport) bool { return r.Enforcer == events.EnforcerSecret })
	}
	revoke := func(token string) *events.RevocationCompleted {
		t.Helper()
		if r := revokeWith(t, s, current, "application/x-www-form-urlencoded", revokeForm(token)); r.status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.status, api.redacted(r.body))
		}
		c := waitCompleted(t, s, a.PartnerID, lastRevocationID(t, s, a.PartnerID), enforcementWait(t)+60*time.Second)
		if !secretReport(c) {
			t.Errorf("Revocation Completed %+v lacks the secret enforcer's report", c)
		}
		return c
	}

	// The previous key: its label goes, the secret stays.
	revoke(a.APIKey)
	d := describe()
	if v := holder(d, partnersecret.StagePrevious); v != "" {
		t.Errorf("after the previous key's revocation version %s is still AWSPREVIOUS: %v", v, d.VersionIdsToStages)
	}
	if holder(d, partnersecret.StageCurrent) != holder(before, partnersecret.StageCurrent) || d.DeletedDate != nil ||
		!aws.ToBool(d.RotationEnabled) || revokedTag(d) != "" {
		t.Errorf("after the previous key's revocation: versions %v, deleted %v, rotation %v, tag %q; want the current key's secret untouched",
			d.VersionIdsToStages, d.DeletedDate, aws.ToBool(d.RotationEnabled), revokedTag(d))
	}

	// The current key, the last one: the secret is retired.
	c := revoke(current)
	d = describe()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	window := p.Revocation.SecretRecoveryWindow.Std()
	switch {
	case revokedTag(d) != c.RevocationID:
		t.Errorf("tag %s = %q, want the revocation %s", secretenforcer.RevokedTag, revokedTag(d), c.RevocationID)
	case aws.ToBool(d.RotationEnabled):
		t.Error("the retired secret still rotates")
	case holder(d, partnersecret.StagePending) != "":
		t.Errorf("the retired secret keeps AWSPENDING: %v", d.VersionIdsToStages)
	case d.DeletedDate == nil:
		t.Error("the retired secret's deletion is not scheduled")
	case d.DeletedDate.Sub(c.RevokedAt) < window-time.Minute || d.DeletedDate.Sub(c.RevokedAt) > window+5*time.Minute:
		t.Errorf("deletion scheduled %s after the revocation, want the recovery window %s", d.DeletedDate.Sub(c.RevokedAt), window)
	}
}
