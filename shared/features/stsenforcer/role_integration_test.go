//go:build integration

package stsenforcer_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/fakes/iamtest"
	"github.com/lanyardhq/lanyard/shared/features/stsenforcer"
)

// The documents written to a role in LocalStack's IAM and read back deny what they were
// rendered to deny: a growing set overflows into managed policies (attached, each on a new
// default version, the oldest version deleted past IAM's five), a shrinking one detaches the
// policies no longer needed, an empty one deletes the inline policy. A policy the role had
// already stays attached and untouched.
func TestApplyOnLocalStackIAM(t *testing.T) {
	t.Parallel()
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	ctx := t.Context()
	name := harness.Name("lanyard-sts-role")
	out, err := env.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	own, err := env.IAM.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name + "-grants"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.IAM.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: own.Policy.Arn}); err != nil {
		t.Fatal(err)
	}
	role, err := stsenforcer.ParseRoleARN(aws.ToString(out.Role.Arn))
	if err != nil {
		t.Fatal(err)
	}
	role.IAM = env.IAM
	t.Cleanup(func() { cleanupRole(env.IAM, &role, aws.ToString(own.Policy.Arn)) })

	entries := revocationsWithin(3, 400, time.Hour)
	now := t0.Add(time.Hour)
	steps := []struct {
		name    string
		entries []stsenforcer.Entry
		managed int
	}{
		{"a few partners: inline", entries[:3], 0},
		{"four hundred: overflow", entries, -1},
		{"again, four times: new versions", entries, -1},
		{"a few again: detached", entries[:3], 0},
		{"none: nothing left", nil, 0},
	}
	for _, st := range steps {
		repeat := 1
		if st.name == "again, four times: new versions" {
			repeat = 4
		}
		for range repeat {
			ours, others, err := role.Attached(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if others != 1 {
				t.Fatalf("%s: %d other policies attached, want the role's own", st.name, others)
			}
			docs, err := rules.Render(st.entries, now, stsenforcer.AttachmentQuota-others)
			if err != nil {
				t.Fatal(err)
			}
			if (st.managed == -1 && len(docs.Managed) == 0) || (st.managed >= 0 && len(docs.Managed) != st.managed) {
				t.Fatalf("%s: %d managed policies rendered", st.name, len(docs.Managed))
			}
			if err := role.Apply(ctx, docs, ours); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		back, err := iamtest.RoleDocuments(ctx, env.IAM, name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := iamtest.Parse(back)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range st.entries {
			if !denied(p, session{e.PartnerID, e.RevokedAt.Add(-time.Second)}) {
				t.Fatalf("%s: %s's earlier session is not denied by the role's policies as IAM holds them", st.name, e.PartnerID)
			}
		}
		if denied(p, session{"p-0000000000000000000000000z", t0}) {
			t.Fatalf("%s: another partner's session is denied", st.name)
		}
		ours, others, err := role.Attached(ctx)
		if err != nil || others != 1 {
			t.Fatalf("%s: %d others attached, %v", st.name, others, err)
		}
		if want := max(st.managed, 0); st.managed >= 0 && len(ours) != want {
			t.Errorf("%s: %d of the enforcer's policies attached, want %d", st.name, len(ours), want)
		}
	}
}

// cleanupRole removes the enforcer's policies, the role's own and the role.
func cleanupRole(c *iam.Client, role *stsenforcer.Role, own string) {
	ctx := context.Background()
	_, _ = c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(role.Name), PolicyName: aws.String(stsenforcer.InlinePolicyName)})
	arns := []string{own}
	for n := 1; n <= stsenforcer.AttachmentQuota; n++ {
		arns = append(arns, role.ManagedARN(n))
	}
	for _, arn := range arns {
		_, _ = c.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(role.Name), PolicyArn: aws.String(arn)})
		if vs, err := c.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(arn)}); err == nil {
			for _, v := range vs.Versions {
				if !v.IsDefaultVersion {
					_, _ = c.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(arn), VersionId: v.VersionId})
				}
			}
		}
		_, _ = c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(arn)})
	}
	_, _ = c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(role.Name)})
}
