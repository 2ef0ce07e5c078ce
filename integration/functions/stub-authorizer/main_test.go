package main

import (
	"errors"
	"reflect"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

const stage = "arn:aws:execute-api:us-east-1:000000000000:lanyard/local"

func TestAuthorize(t *testing.T) {
	t.Parallel()
	claims := map[string]any{"partner": "p-1", "scopes": "probe:read"}
	cases := []struct {
		name, key, method, resource, arn string
		principal, effect, allowed       string
		context                          map[string]any
		err                              error
	}{
		{name: "allow-all grants the whole stage", key: "allow-all", method: "POST", resource: "/v1/probe/{id}", arn: stage + "/POST/v1/probe/7",
			principal: "p-1", effect: "Allow", allowed: stage + "/*", context: claims},
		{name: "allow-get on GET /v1/probe grants that method", key: "allow-get", method: "GET", resource: "/v1/probe", arn: stage + "/GET/v1/probe",
			principal: "p-1", effect: "Allow", allowed: stage + "/GET/v1/probe", context: claims},
		{name: "allow-get elsewhere still grants only GET /v1/probe", key: "allow-get", method: "POST", resource: "/v1/probe/{id}", arn: stage + "/POST/v1/probe/7",
			principal: "p-1", effect: "Allow", allowed: stage + "/GET/v1/probe", context: claims},
		{name: "deny", key: "deny", method: "GET", resource: "/v1/probe", arn: stage + "/GET/v1/probe",
			principal: "denied", effect: "Deny", allowed: stage + "/*"},
		{name: "unknown key", key: "k-123", method: "GET", resource: "/v1/probe", arn: stage + "/GET/v1/probe", err: errUnauthorized},
		{name: "no key", method: "GET", resource: "/v1/probe", arn: stage + "/GET/v1/probe", err: errUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest{
				Type: "REQUEST", MethodArn: tc.arn, HTTPMethod: tc.method, Resource: tc.resource,
				Headers: map[string]string{"Host": "example.com"},
			}
			if tc.key != "" {
				req.Headers["authorization"] = tc.key // any case, as clients send it
			}
			got, err := authorize(req)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if tc.err != nil {
				if err.Error() != "Unauthorized" {
					t.Errorf("message %q: API Gateway answers 401 only for exactly \"Unauthorized\"", err)
				}
				return
			}
			st := got.PolicyDocument.Statement
			if got.PrincipalID != tc.principal || got.PolicyDocument.Version != "2012-10-17" || len(st) != 1 ||
				st[0].Effect != tc.effect || !reflect.DeepEqual(st[0].Action, []string{"execute-api:Invoke"}) ||
				!reflect.DeepEqual(st[0].Resource, []string{tc.allowed}) {
				t.Errorf("got %+v, want principal %s, %s execute-api:Invoke on %s", got, tc.principal, tc.effect, tc.allowed)
			}
			if !reflect.DeepEqual(got.Context, tc.context) {
				t.Errorf("context %v, want %v", got.Context, tc.context)
			}
		})
	}
}

func TestStageARN(t *testing.T) {
	t.Parallel()
	for arn, want := range map[string]string{
		stage + "/GET/v1/probe":  stage,
		stage + "/POST/v1/a/b/c": stage,
		stage + "/GET/":          stage,
		"arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/DELETE/x": "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod",
	} {
		if got, err := stageARN(arn); err != nil || got != want {
			t.Errorf("stageARN(%q) = %q, %v; want %q", arn, got, err, want)
		}
	}
	for _, bad := range []string{"", "arn:aws:lambda:us-east-1:0:function:x", "arn:aws:execute-api:us-east-1:0:api", "arn:aws:execute-api:us-east-1:0:/local/GET/x"} {
		if _, err := stageARN(bad); err == nil {
			t.Errorf("stageARN(%q) accepted", bad)
		}
	}
}
