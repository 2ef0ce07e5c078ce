package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// What a scope may grant, and the limits its grants live within.
const (
	// InvokeAction is the only action a grant may name: calling the partner API.
	InvokeAction = "execute-api:Invoke"
	// IAMPolicyVersion is the policy language version of every document built from grants.
	IAMPolicyVersion = "2012-10-17"
	// MaxSessionPolicySize is STS's limit on the plaintext of an AssumeRole session policy
	// (characters). STS also packs the policy with the session tags and refuses a packed size
	// over its own limit (PackedPolicyTooLarge); our tags are two short ones.
	MaxSessionPolicySize = 2048
	// MaxManagedPolicySize is IAM's limit on a customer managed policy (characters, whitespace
	// not counted): the partner-access role's grants, the union of every scope's.
	MaxManagedPolicySize = 6144
	// SizingStageARN stands for the partner API stage when the policy's sizes are checked: the
	// longest partition and region, a ten-character API id and a stage name of 32 characters.
	// The token function checks the real stage ARN at cold start (see SessionPolicy).
	SizingStageARN = "arn:aws-iso-b:execute-api:ap-southeast-5:123456789012:abcdefghij/stage-name-of-thirty-two-chars-x"
)

// routeResourcePattern is the schema's $defs/routeResource pattern (a test keeps the two equal).
const routeResourcePattern = `^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)/[A-Za-z0-9._~-]+(/([A-Za-z0-9._~-]+|\*))*$`

const maxRouteResourceLen = 256

var routeResourceRE = regexp.MustCompile(routeResourcePattern)

// grantActions are the actions a grant may name (the schema's $defs/grantAction enum).
var grantActions = []string{InvokeAction}

// ErrNoPermissions is returned by SessionPolicy for scopes that grant nothing.
var ErrNoPermissions = errors.New("the scopes grant no AWS permission")

// Statement is one Allow statement of an IAM policy, as IAM spells its members.
type Statement struct {
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// ScopeNames returns the name of every scope of the catalog, sorted.
func (p *Policy) ScopeNames() []string {
	names := make([]string, len(p.Scopes))
	for i, s := range p.Scopes {
		names[i] = s.Name
	}
	slices.Sort(names)
	return names
}

// Permissions returns what the grants of scopes allow, resolved under the partner API stage's
// ARN stageARN ("arn:<partition>:execute-api:<region>:<account>:<api>/<stage>"; resolution is
// plain concatenation, so a CDK token works too): one Allow statement per distinct set of
// actions, in a fixed order, actions and resources sorted and without repeats, however scopes
// are ordered or repeated. Scopes not in the catalog grant nothing.
func (p *Policy) Permissions(stageARN string, scopes []string) []Statement {
	want := map[string]bool{}
	for _, s := range scopes {
		want[s] = true
	}
	byActions := map[string]*Statement{}
	for _, s := range p.Scopes {
		if !want[s.Name] {
			continue
		}
		for _, g := range s.Grants {
			actions := slices.Compact(slices.Sorted(slices.Values(g.Actions)))
			k := strings.Join(actions, " ")
			st, ok := byActions[k]
			if !ok {
				st = &Statement{Effect: "Allow", Action: actions}
				byActions[k] = st
			}
			for _, r := range g.Resources {
				st.Resource = append(st.Resource, stageARN+"/"+r)
			}
		}
	}
	out := make([]Statement, 0, len(byActions))
	for _, k := range slices.Sorted(maps.Keys(byActions)) {
		st := byActions[k]
		slices.Sort(st.Resource)
		st.Resource = slices.Compact(st.Resource)
		out = append(out, *st)
	}
	return out
}

// SessionPolicy renders Permissions as a compact IAM policy document: the session policy of an
// AssumeRole for a key holding scopes. The same scopes give the same bytes. It fails with
// ErrNoPermissions when the scopes grant nothing, and when the document is over STS's
// MaxSessionPolicySize.
func (p *Policy) SessionPolicy(stageARN string, scopes []string) (string, error) {
	stmts := p.Permissions(stageARN, scopes)
	if len(stmts) == 0 {
		return "", fmt.Errorf("session policy of scopes %v: %w", scopes, ErrNoPermissions)
	}
	doc, err := marshalCompact(Document{Version: IAMPolicyVersion, Statement: stmts})
	if err != nil {
		return "", fmt.Errorf("session policy of scopes %v: %w", scopes, err)
	}
	if len(doc) > MaxSessionPolicySize {
		return "", fmt.Errorf("session policy of scopes %v is %d characters, over STS's %d", scopes, len(doc), MaxSessionPolicySize)
	}
	return doc, nil
}

// marshalCompact renders v as JSON without insignificant whitespace or HTML escaping.
func marshalCompact(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("encode policy document: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// checkGrants checks one scope's grants: at least one, actions from grantActions, resources
// that are routes.
func checkGrants(ps *problems, at string, s Scope) {
	if len(s.Grants) == 0 {
		ps.add(at+"/grants", "scope %s grants nothing: say what its AWS credentials may do", s.Name)
	}
	for i, g := range s.Grants {
		gat := fmt.Sprintf("%s/grants/%d", at, i)
		if len(g.Actions) == 0 {
			ps.add(gat+"/actions", "names no action")
		}
		seen := map[string]int{}
		for j, a := range g.Actions {
			aat := fmt.Sprintf("%s/actions/%d", gat, j)
			if !slices.Contains(grantActions, a) {
				ps.add(aat, "%q is not an action a scope may grant (%s)", a, strings.Join(grantActions, ", "))
			}
			if first, dup := seen[a]; dup {
				ps.add(aat, "action %s repeats item %d", a, first)
			}
			seen[a] = j
		}
		if len(g.Resources) == 0 {
			ps.add(gat+"/resources", "names no resource")
		}
		seen = map[string]int{}
		for j, r := range g.Resources {
			rat := fmt.Sprintf("%s/resources/%d", gat, j)
			if !routeResourceRE.MatchString(r) || len(r) > maxRouteResourceLen {
				ps.add(rat, "%s", routeMessage(r))
			}
			if first, dup := seen[r]; dup {
				ps.add(rat, "resource %s repeats item %d", r, first)
			}
			seen[r] = j
		}
	}
}

// routeMessage says what a route resource should look like.
func routeMessage(got string) string {
	return fmt.Sprintf("%q is not a route like \"GET/v1/orders/*\": a method, then a path whose first segment is literal, * for a whole segment", got)
}

// checkSizes checks that the documents built from the grants fit their limits, for a stage ARN
// as long as SizingStageARN: every tier's session policy with all its scopes, and the
// partner-access role's policy with every scope's grants.
func checkSizes(ps *problems, p *Policy) {
	for i, t := range p.Tiers {
		doc, err := marshalCompact(Document{Version: IAMPolicyVersion, Statement: p.Permissions(SizingStageARN, t.Scopes)})
		if err == nil && len(doc) > MaxSessionPolicySize {
			ps.add(fmt.Sprintf("/tiers/%d/scopes", i), "tier %s: the session policy of all its scopes is %d characters, over STS's %d: grant fewer routes or use wildcards",
				t.Name, len(doc), MaxSessionPolicySize)
		}
	}
	doc, err := marshalCompact(Document{Version: IAMPolicyVersion, Statement: p.Permissions(SizingStageARN, p.ScopeNames())})
	if err == nil && len(doc) > MaxManagedPolicySize {
		ps.add("/scopes", "the grants of all scopes together are %d characters, over IAM's %d for the partner-access role's policy",
			len(doc), MaxManagedPolicySize)
	}
}
