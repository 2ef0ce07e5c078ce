package topology

import (
	"bytes"
	"fmt"
	"go/format"

	"github.com/lanyardhq/lanyard/shared/features/authorizer"
)

// PartnerKeyRoutes are the AuthPartnerKey routes of routes, as the authorizer lists them in
// its policies.
func PartnerKeyRoutes(routes []Route) []authorizer.Route {
	var out []authorizer.Route
	for _, r := range routes {
		if r.Auth == AuthPartnerKey {
			out = append(out, authorizer.Route{Method: r.Method, Path: r.Path, Scope: r.Scope})
		}
	}
	return out
}

// AuthorizerRoutesFile is where the authorizer function's route table is generated, from the
// repository root.
const AuthorizerRoutesFile = "functions/authorizer/routes_gen.go"

// AuthorizerRoutesSource renders t's partner-key routes as the Go source of
// AuthorizerRoutesFile: the authorizer binary gets its route table as code, without linking the
// topology (and without an environment variable, which Lambda caps at 4 KB).
func AuthorizerRoutesSource(t *Topology) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated from topology.Lanyard() by `go generate ./functions/authorizer`; DO NOT EDIT.\n\n")
	b.WriteString("package main\n\nimport \"github.com/lanyardhq/lanyard/shared/features/authorizer\"\n\n")
	b.WriteString("// routes are the API's partner-key routes (topology.PartnerKeyRoutes).\n")
	b.WriteString("var routes = []authorizer.Route{\n")
	for _, r := range PartnerKeyRoutes(t.Routes) {
		fmt.Fprintf(&b, "\t{Method: %q, Path: %q, Scope: %q},\n", r.Method, r.Path, r.Scope)
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("format the authorizer's routes: %w", err)
	}
	return src, nil
}
