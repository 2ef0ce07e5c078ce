package stsenforcer

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// InlinePolicyName is the name of the role's inline deny policy.
const InlinePolicyName = "lanyard-revoked-sessions"

// ManagedPath is the IAM path of the enforcer's customer managed policies; each is named
// "<role name>-<n>", n from 1.
const ManagedPath = "/lanyard-revoked-sessions/"

// maxPolicyVersions is how many versions IAM keeps of a managed policy.
const maxPolicyVersions = 5

// IAMAPI is the part of the IAM client the enforcer uses on the partner-access role and its
// own managed policies.
type IAMAPI interface {
	PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, opts ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	DeleteRolePolicy(ctx context.Context, in *iam.DeleteRolePolicyInput, opts ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, opts ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	CreatePolicy(ctx context.Context, in *iam.CreatePolicyInput, opts ...func(*iam.Options)) (*iam.CreatePolicyOutput, error)
	CreatePolicyVersion(ctx context.Context, in *iam.CreatePolicyVersionInput, opts ...func(*iam.Options)) (*iam.CreatePolicyVersionOutput, error)
	ListPolicyVersions(ctx context.Context, in *iam.ListPolicyVersionsInput, opts ...func(*iam.Options)) (*iam.ListPolicyVersionsOutput, error)
	DeletePolicyVersion(ctx context.Context, in *iam.DeletePolicyVersionInput, opts ...func(*iam.Options)) (*iam.DeletePolicyVersionOutput, error)
	AttachRolePolicy(ctx context.Context, in *iam.AttachRolePolicyInput, opts ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error)
	DetachRolePolicy(ctx context.Context, in *iam.DetachRolePolicyInput, opts ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error)
}

var _ IAMAPI = (*iam.Client)(nil)

// Role is the partner-access role as the enforcer writes its deny.
type Role struct {
	IAM IAMAPI
	// Name is the role's name, Partition and Account where its managed policies live.
	Name, Partition, Account string
}

// ParseRoleARN reads a role ARN, arn:<partition>:iam::<account>:role/[<path>/]<name>.
func ParseRoleARN(arn string) (Role, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[4] == "" || !strings.HasPrefix(parts[5], "role/") {
		return Role{}, fmt.Errorf("%q is not a role ARN", arn)
	}
	res := strings.TrimPrefix(parts[5], "role/")
	name := res[strings.LastIndex(res, "/")+1:]
	if name == "" {
		return Role{}, fmt.Errorf("%q names no role", arn)
	}
	return Role{Name: name, Partition: parts[1], Account: parts[4]}, nil
}

// ManagedARN is the ARN of the enforcer's n-th managed policy (n from 1).
func (r *Role) ManagedARN(n int) string {
	return fmt.Sprintf("arn:%s:iam::%s:policy%s%s", r.Partition, r.Account, ManagedPath, r.managedName(n))
}

func (r *Role) managedName(n int) string { return fmt.Sprintf("%s-%d", r.Name, n) }

// Attached lists the managed policies attached to the role: the enforcer's (by ARN) and how
// many others.
func (r *Role) Attached(ctx context.Context) (ours map[string]bool, others int, err error) {
	ours = map[string]bool{}
	var marker *string
	for {
		out, err := r.IAM.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(r.Name), Marker: marker})
		if err != nil {
			return nil, 0, fmt.Errorf("list the policies attached to role %s: %w", r.Name, err)
		}
		for _, p := range out.AttachedPolicies {
			arn := aws.ToString(p.PolicyArn)
			if strings.Contains(arn, ":policy"+ManagedPath+r.Name+"-") {
				ours[arn] = true
			} else {
				others++
			}
		}
		if !out.IsTruncated {
			return ours, others, nil
		}
		marker = out.Marker
	}
}

// Apply writes the documents back to front: each managed policy from the last, created or
// given a new default version, and attached; then the inline policy (deleted when empty); the
// enforcer's policies no longer needed are detached last (kept for later use). Render puts the
// newest statements first, so a new or late revocation pushes statements on towards the back,
// and pruning drops them from the back: written in this order, a statement that moves is in
// its new place before it leaves its old one.
func (r *Role) Apply(ctx context.Context, d Documents, attached map[string]bool) error {
	for i := len(d.Managed) - 1; i >= 0; i-- {
		arn := r.ManagedARN(i + 1)
		if err := r.putManaged(ctx, i+1, d.Managed[i]); err != nil {
			return err
		}
		if !attached[arn] {
			if _, err := r.IAM.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(r.Name), PolicyArn: aws.String(arn)}); err != nil {
				return fmt.Errorf("attach %s to role %s: %w", arn, r.Name, err)
			}
		}
	}
	if d.Inline != "" {
		if _, err := r.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(r.Name), PolicyName: aws.String(InlinePolicyName),
			PolicyDocument: aws.String(d.Inline)}); err != nil {
			return fmt.Errorf("put the inline deny of role %s: %w", r.Name, err)
		}
	} else {
		_, err := r.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(r.Name), PolicyName: aws.String(InlinePolicyName)})
		var missing *iamtypes.NoSuchEntityException
		if err != nil && !errors.As(err, &missing) {
			return fmt.Errorf("delete the inline deny of role %s: %w", r.Name, err)
		}
	}
	needed := map[string]bool{}
	for i := range d.Managed {
		needed[r.ManagedARN(i+1)] = true
	}
	var extra []string
	for arn := range attached {
		if !needed[arn] {
			extra = append(extra, arn)
		}
	}
	slices.Sort(extra)
	for _, arn := range extra {
		_, err := r.IAM.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(r.Name), PolicyArn: aws.String(arn)})
		var missing *iamtypes.NoSuchEntityException
		if err != nil && !errors.As(err, &missing) {
			return fmt.Errorf("detach %s from role %s: %w", arn, r.Name, err)
		}
	}
	return nil
}

// putManaged makes doc the default version of the n-th managed policy, creating the policy
// when it is not there, and deleting its oldest version when IAM's five are taken.
func (r *Role) putManaged(ctx context.Context, n int, doc string) error {
	arn := r.ManagedARN(n)
	versions, err := r.IAM.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(arn)})
	var missing *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &missing):
		if _, err := r.IAM.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(r.managedName(n)), Path: aws.String(ManagedPath),
			PolicyDocument: aws.String(doc),
			Description:    aws.String("Lanyard: sessions of revoked partners denied on role " + r.Name)}); err != nil {
			return fmt.Errorf("create %s: %w", arn, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("list the versions of %s: %w", arn, err)
	}
	if len(versions.Versions) >= maxPolicyVersions {
		var oldest *iamtypes.PolicyVersion
		for i, v := range versions.Versions {
			if v.IsDefaultVersion {
				continue
			}
			if oldest == nil || aws.ToTime(v.CreateDate).Before(aws.ToTime(oldest.CreateDate)) {
				oldest = &versions.Versions[i]
			}
		}
		if oldest != nil {
			if _, err := r.IAM.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(arn), VersionId: oldest.VersionId}); err != nil {
				return fmt.Errorf("delete version %s of %s: %w", aws.ToString(oldest.VersionId), arn, err)
			}
		}
	}
	if _, err := r.IAM.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(arn), PolicyDocument: aws.String(doc),
		SetAsDefault: true}); err != nil {
		return fmt.Errorf("put a version of %s: %w", arn, err)
	}
	return nil
}

// Decode reads a policy document as IAM returns it (URL-encoded, RFC 3986).
func Decode(doc string) (string, error) {
	s, err := url.PathUnescape(doc)
	if err != nil {
		return "", fmt.Errorf("decode a policy document: %w", err)
	}
	return s, nil
}
