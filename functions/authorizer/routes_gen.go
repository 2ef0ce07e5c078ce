// Code generated from topology.Lanyard() by `go generate ./functions/authorizer`; DO NOT EDIT.

package main

import "github.com/lanyardhq/lanyard/shared/features/authorizer"

// routes are the API's partner-key routes (topology.PartnerKeyRoutes).
var routes = []authorizer.Route{
	{Method: "GET", Path: "/v1/partners/me", Scope: ""},
	{Method: "POST", Path: "/v1/token", Scope: ""},
	{Method: "GET", Path: "/v1/credentials/current", Scope: ""},
	{Method: "POST", Path: "/v1/credentials/ack", Scope: ""},
	{Method: "POST", Path: "/v1/revoke", Scope: ""},
}
