// Package iamtest evaluates identity policy documents the way IAM does for the statements
// Lanyard writes: it stands in for IAM's evaluation, which LocalStack does not do (it stores
// policies and enforces none). A request is a set of condition context values; a Deny whose
// every condition holds denies it. Only the operators Lanyard's documents use are known
// (StringEquals, DateLessThan); any other shape is an error, never a silent miss.
package iamtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// Request is what IAM evaluates a request by: its condition keys' values.
type Request struct {
	Strings map[string]string
	Dates   map[string]time.Time
}

// Policies are parsed documents' Deny statements on every action and resource.
type Policies struct{ denies []deny }

// deny is one Deny statement's conditions: each key's accepted values, by operator.
type deny struct {
	sid     string
	strings map[string][]string
	dates   map[string][]time.Time
}

// Parse reads docs. A Deny of less than every action on every resource, or a condition
// operator other than StringEquals and DateLessThan, is an error.
func Parse(docs []string) (Policies, error) {
	var out Policies
	for _, raw := range docs {
		var d struct {
			Version   string
			Statement []struct {
				Sid       string
				Effect    string
				Action    any
				Resource  any
				Condition map[string]map[string]json.RawMessage
			}
		}
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			return Policies{}, fmt.Errorf("a policy document: %w", err)
		}
		if d.Version != "2012-10-17" {
			return Policies{}, fmt.Errorf("policy version %q", d.Version)
		}
		for _, st := range d.Statement {
			if st.Effect != "Deny" {
				continue
			}
			if st.Action != "*" || st.Resource != "*" {
				return Policies{}, fmt.Errorf("statement %s: a Deny of %v on %v, not of everything", st.Sid, st.Action, st.Resource)
			}
			dn := deny{sid: st.Sid, strings: map[string][]string{}, dates: map[string][]time.Time{}}
			for op, kv := range st.Condition {
				for k, v := range kv {
					var vals []string
					if err := json.Unmarshal(v, &vals); err != nil {
						var one string
						if err := json.Unmarshal(v, &one); err != nil {
							return Policies{}, fmt.Errorf("statement %s: %s %s: %w", st.Sid, op, k, err)
						}
						vals = []string{one}
					}
					switch op {
					case "StringEquals":
						dn.strings[k] = vals
					case "DateLessThan":
						for _, v := range vals {
							at, err := time.Parse(time.RFC3339, v)
							if err != nil {
								return Policies{}, fmt.Errorf("statement %s: %s %s: %w", st.Sid, op, k, err)
							}
							dn.dates[k] = append(dn.dates[k], at)
						}
					default:
						return Policies{}, fmt.Errorf("statement %s: condition operator %s is not known here", st.Sid, op)
					}
				}
			}
			out.denies = append(out.denies, dn)
		}
	}
	return out, nil
}

// Statements is how many Deny statements the documents hold.
func (p Policies) Statements() int { return len(p.denies) }

// Denied says whether a Deny holds for r: every one of its conditions matches one of its values.
func (p Policies) Denied(r Request) bool {
	for _, d := range p.denies {
		if d.holds(r) {
			return true
		}
	}
	return false
}

func (d deny) holds(r Request) bool {
	for k, vals := range d.strings {
		got, ok := r.Strings[k]
		if !ok || !slices.Contains(vals, got) {
			return false
		}
	}
	for k, ats := range d.dates {
		got, ok := r.Dates[k]
		if !ok || !slices.ContainsFunc(ats, got.Before) {
			return false
		}
	}
	return true
}

// RoleDocuments reads back every policy document of a role as IAM holds them: its inline
// policies, then the default version of each managed policy attached, decoded.
func RoleDocuments(ctx context.Context, c *iam.Client, role string) ([]string, error) {
	var docs []string
	decode := func(s *string) (string, error) { return url.PathUnescape(aws.ToString(s)) }
	inline, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		return nil, fmt.Errorf("list the inline policies of %s: %w", role, err)
	}
	for _, name := range inline.PolicyNames {
		p, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("read inline policy %s of %s: %w", name, role, err)
		}
		d, err := decode(p.PolicyDocument)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	attached, err := c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		return nil, fmt.Errorf("list the policies attached to %s: %w", role, err)
	}
	for _, a := range attached.AttachedPolicies {
		p, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: a.PolicyArn})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", aws.ToString(a.PolicyArn), err)
		}
		v, err := c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: a.PolicyArn, VersionId: p.Policy.DefaultVersionId})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", aws.ToString(a.PolicyArn), err)
		}
		d, err := decode(v.PolicyVersion.Document)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, nil
}
