package stsenforcer_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/lanyardhq/lanyard/shared/features/stsenforcer"
)

// roleState is a role's documents as IAM holds them between two of the enforcer's writes; after
// each write it checks that every session that must stay denied is.
type roleState struct {
	t        *testing.T
	inline   string
	managed  map[string]string // ARN → default version's document
	attached map[string]bool
	mustDeny []stsenforcer.Entry
	writes   int
}

func (r *roleState) docs() []string {
	var out []string
	if r.inline != "" {
		out = append(out, r.inline)
	}
	for _, arn := range slices.Sorted(func(yield func(string) bool) {
		for a := range r.attached {
			if !yield(a) {
				return
			}
		}
	}) {
		out = append(out, r.managed[arn])
	}
	return out
}

func (r *roleState) wrote(what string) {
	r.t.Helper()
	r.writes++
	p := parse(r.t, r.docs())
	for _, e := range r.mustDeny {
		if !denied(p, session{e.PartnerID, e.RevokedAt.Add(-time.Second)}) {
			r.t.Fatalf("after write %d (%s), %s's session is denied by no document", r.writes, what, e.PartnerID)
		}
	}
}

func (r *roleState) PutRolePolicy(_ context.Context, in *iam.PutRolePolicyInput, _ ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error) {
	r.inline = aws.ToString(in.PolicyDocument)
	r.wrote("inline")
	return &iam.PutRolePolicyOutput{}, nil
}

func (r *roleState) DeleteRolePolicy(context.Context, *iam.DeleteRolePolicyInput, ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error) {
	r.inline = ""
	r.wrote("inline deleted")
	return &iam.DeleteRolePolicyOutput{}, nil
}

func (r *roleState) ListAttachedRolePolicies(context.Context, *iam.ListAttachedRolePoliciesInput, ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	out := &iam.ListAttachedRolePoliciesOutput{}
	for a := range r.attached {
		out.AttachedPolicies = append(out.AttachedPolicies, iamtypes.AttachedPolicy{PolicyArn: aws.String(a)})
	}
	return out, nil
}

func (r *roleState) CreatePolicy(_ context.Context, in *iam.CreatePolicyInput, _ ...func(*iam.Options)) (*iam.CreatePolicyOutput, error) {
	arn := "arn:aws:iam::123456789012:policy" + aws.ToString(in.Path) + aws.ToString(in.PolicyName)
	r.managed[arn] = aws.ToString(in.PolicyDocument)
	return &iam.CreatePolicyOutput{}, nil
}

func (r *roleState) CreatePolicyVersion(_ context.Context, in *iam.CreatePolicyVersionInput, _ ...func(*iam.Options)) (*iam.CreatePolicyVersionOutput, error) {
	r.managed[aws.ToString(in.PolicyArn)] = aws.ToString(in.PolicyDocument)
	r.wrote("version of " + aws.ToString(in.PolicyArn))
	return &iam.CreatePolicyVersionOutput{}, nil
}

func (r *roleState) ListPolicyVersions(_ context.Context, in *iam.ListPolicyVersionsInput, _ ...func(*iam.Options)) (*iam.ListPolicyVersionsOutput, error) {
	if _, ok := r.managed[aws.ToString(in.PolicyArn)]; !ok {
		return nil, &iamtypes.NoSuchEntityException{}
	}
	return &iam.ListPolicyVersionsOutput{Versions: []iamtypes.PolicyVersion{{VersionId: aws.String("v1"), IsDefaultVersion: true}}}, nil
}

func (r *roleState) DeletePolicyVersion(context.Context, *iam.DeletePolicyVersionInput, ...func(*iam.Options)) (*iam.DeletePolicyVersionOutput, error) {
	return &iam.DeletePolicyVersionOutput{}, nil
}

func (r *roleState) AttachRolePolicy(_ context.Context, in *iam.AttachRolePolicyInput, _ ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error) {
	r.attached[aws.ToString(in.PolicyArn)] = true
	r.wrote("attach")
	return &iam.AttachRolePolicyOutput{}, nil
}

func (r *roleState) DetachRolePolicy(_ context.Context, in *iam.DetachRolePolicyInput, _ ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error) {
	delete(r.attached, aws.ToString(in.PolicyArn))
	r.wrote("detach")
	return &iam.DetachRolePolicyOutput{}, nil
}

// Between any two of the enforcer's writes, every partner denied before and after a change of
// the set stays denied — through a new revocation, a revocation delivered late (older than
// others already written), a partner revoked again, and pruning — while statements move
// between the inline policy and the managed policies.
func TestNoSessionSlipsThroughBetweenWrites(t *testing.T) {
	t.Parallel()
	base := revocationsWithin(4, 500, time.Hour)
	state := &roleState{t: t, managed: map[string]string{}, attached: map[string]bool{}}
	role := &stsenforcer.Role{IAM: state, Name: "partner-access", Partition: "aws", Account: "123456789012"}
	now := t0.Add(time.Hour)
	apply := func(entries []stsenforcer.Entry, at time.Time) stsenforcer.Documents {
		t.Helper()
		d, err := rules.Render(entries, at, stsenforcer.AttachmentQuota-1)
		if err != nil {
			t.Fatal(err)
		}
		ours, _, err := role.Attached(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := role.Apply(t.Context(), d, ours); err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := apply(base, now)
	if len(first.Managed) < 2 || !first.Cutoff.IsZero() {
		t.Fatalf("%d managed policies, cut-off %s: want several and no role-wide deny", len(first.Managed), first.Cutoff)
	}
	// Forty new revocations, then forty late ones: more than a document's slack, so
	// statements move on into the next documents.
	var fresh, late []stsenforcer.Entry
	for i := range 40 {
		fresh = append(fresh, stsenforcer.Entry{PartnerID: fmt.Sprintf("p-%022dnew%d", i, i%10), RevokedAt: now})
		late = append(late, stsenforcer.Entry{PartnerID: fmt.Sprintf("p-%021dlate%d", i, i%10), RevokedAt: t0.Add(5 * time.Minute)})
	}
	grown := append(slices.Clone(base), fresh...)
	again := base[7]
	again.RevokedAt = now.Add(time.Minute)
	final := append(slices.DeleteFunc(append(slices.Clone(grown), late...), func(e stsenforcer.Entry) bool { return e.PartnerID == again.PartnerID }), again)
	steps := []struct {
		name    string
		entries []stsenforcer.Entry
		at      time.Time
	}{
		{"new revocations", grown, now},
		{"late ones", append(slices.Clone(grown), late...), now},
		{"a partner revoked again", final, now.Add(time.Minute)},
		// The set loses entries only to pruning, from the oldest.
		{"pruning", final, now.Add(35 * time.Minute)},
		{"more pruning", final, now.Add(50 * time.Minute)},
	}
	prev := base
	for _, st := range steps {
		d, err := rules.Render(st.entries, st.at, stsenforcer.AttachmentQuota-1)
		if err != nil {
			t.Fatal(err)
		}
		// Denied before and after: present in both sets, kept after.
		state.mustDeny = nil
		for _, e := range d.Kept {
			if slices.ContainsFunc(prev, func(p stsenforcer.Entry) bool { return p.PartnerID == e.PartnerID && !p.RevokedAt.Before(e.RevokedAt) }) {
				state.mustDeny = append(state.mustDeny, e)
			}
		}
		before := state.writes
		apply(st.entries, st.at)
		t.Logf("%s: %d writes, %d partners kept, %d managed policies", st.name, state.writes-before, len(d.Kept), len(d.Managed))
		prev = st.entries
	}
}
