package authorizer

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

// PolicyVersion is the IAM policy language version of every policy the authorizer returns.
const PolicyVersion = "2012-10-17"

// InvokeAction is the action API Gateway checks a method call against.
const InvokeAction = "execute-api:Invoke"

// routeGrant is one partner-key route as the policy names it.
type routeGrant struct {
	scope string // "" admits any valid key
	// suffix follows the stage ARN: "/GET/v1/partners/*" for GET /v1/partners/{id}.
	suffix string
}

// Route is one partner-key route of the API.
type Route struct {
	Method string
	Path   string // "/v1/partners/{id}"
	// Scope is the scope a key needs to call the route; "" admits any valid partner key.
	Scope string
}

// routeGrants lists routes as policy resource suffixes.
func routeGrants(routes []Route) []routeGrant {
	var out []routeGrant
	for _, r := range routes {
		out = append(out, routeGrant{scope: r.Scope, suffix: "/" + resourceMethod(r.Method) + resourcePath(r.Path)})
	}
	return out
}

// resourceMethod is the method part of a method ARN: the verb, or * for API Gateway's ANY.
func resourceMethod(m string) string {
	if m = strings.ToUpper(m); m == "ANY" {
		return "*"
	}
	return m
}

// resourcePath is a route's path with each path parameter ({id}, {proxy+}) replaced by the
// wildcard *, which matches the value's characters, slashes included, as IAM matches it.
func resourcePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = "*"
		}
	}
	return strings.Join(segs, "/")
}

// grant is what one key's scopes permit, computed once per registry lookup and reused by
// every decision the cached entry serves.
type grant struct {
	// scopes is the context's "scopes": the key's scopes, sorted, space separated.
	scopes   string
	suffixes []string
	// last holds the resources for the stage last asked for: one authorizer serves one stage,
	// so the list is built once per lookup, not once per request.
	last atomic.Pointer[stageResources]
}

type stageResources struct {
	stage string
	list  []string
}

// newGrant keeps the routes that need no scope or one of scopes.
func newGrant(routes []routeGrant, scopes []string) *grant {
	sorted := slices.Clone(scopes)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	g := &grant{scopes: strings.Join(sorted, " ")}
	for _, r := range routes {
		if r.scope == "" || slices.Contains(sorted, r.scope) {
			if !slices.Contains(g.suffixes, r.suffix) {
				g.suffixes = append(g.suffixes, r.suffix)
			}
		}
	}
	return g
}

// resources is the grant's resource list under the stage ARN stage, as a fresh slice.
func (g *grant) resources(stage string) []string {
	r := g.last.Load()
	if r == nil || r.stage != stage {
		list := make([]string, len(g.suffixes))
		for i, s := range g.suffixes {
			list[i] = stage + s
		}
		r = &stageResources{stage: stage, list: list}
		g.last.Store(r)
	}
	return slices.Clone(r.list)
}

// stageARN cuts a method ARN, arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/<verb>/<path>,
// down to its stage's ARN, arn:<partition>:execute-api:<region>:<account>:<api>/<stage>,
// without allocating.
func stageARN(methodArn string) (string, error) {
	i, colons := 0, 0
	for ; i < len(methodArn) && colons < 5; i++ {
		if methodArn[i] == ':' {
			colons++
		}
	}
	head := methodArn[:i]
	if colons < 5 || !strings.HasPrefix(head, "arn:") || !strings.Contains(head, ":execute-api:") {
		return "", fmt.Errorf("method ARN %q is not an execute-api ARN", methodArn)
	}
	rest := methodArn[i:]
	api := strings.IndexByte(rest, '/')
	if api <= 0 {
		return "", fmt.Errorf("method ARN %q names no API and stage", methodArn)
	}
	stage := strings.IndexByte(rest[api+1:], '/')
	if stage <= 0 {
		return "", fmt.Errorf("method ARN %q names no stage and method", methodArn)
	}
	return methodArn[:i+api+1+stage], nil
}

// policy is a policy document with one statement on resources.
func policy(effect string, resources []string) lambdaevents.APIGatewayCustomAuthorizerPolicy {
	return lambdaevents.APIGatewayCustomAuthorizerPolicy{
		Version: PolicyVersion,
		Statement: []lambdaevents.IAMPolicyStatement{
			{Action: []string{InvokeAction}, Effect: effect, Resource: resources},
		},
	}
}
