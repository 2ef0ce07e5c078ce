// Command stub-authorizer is an integration-test REQUEST authorizer: it answers from the
// Authorization header alone, with the policies a real authorizer returns, so tests can drive
// API Gateway's admission (and `lanyard local`'s front) through each outcome:
//
//   - "allow-all": Allow execute-api:Invoke on every method of the API's stage
//     (arn:aws:execute-api:<region>:<account>:<api>/<stage>/*), for principal p-1 with the
//     context {"partner": "p-1", "scopes": "probe:read"};
//   - "allow-get": Allow on GET /v1/probe only (the request's own method ARN when that is the
//     method called), same principal and context: cached, the policy refuses every other route;
//   - "deny": an explicit Deny on every method of the stage;
//   - anything else, or no header: the error "Unauthorized", API Gateway's way to answer 401.
//
// It never logs or traces the header's value.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/lanyardhq/lanyard/shared/platform/logging"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
)

// The keys the authorizer knows.
const (
	KeyAllowAll = "allow-all"
	KeyAllowGet = "allow-get"
	KeyDeny     = "deny"
)

// Partner is the principal the allow keys belong to.
const Partner = "p-1"

// errUnauthorized is the error API Gateway turns into 401 Unauthorized: it matches this exact
// message, capital U included.
var errUnauthorized = errors.New("Unauthorized")

// handle authorizes one request.
func handle(ctx context.Context, req lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest) (lambdaevents.APIGatewayCustomAuthorizerResponse, error) {
	ctx, span := tracing.Start(ctx, "authorize")
	resp, err := authorize(req)
	if err == nil && resp.PrincipalID != "" {
		span.Annotate("partner", resp.PrincipalID)
	}
	span.End(nil) // a refusal is an answer, not a fault
	if err != nil {
		slog.InfoContext(ctx, "request refused", "method", req.HTTPMethod, "resource", req.Resource, "reason", err.Error())
		return lambdaevents.APIGatewayCustomAuthorizerResponse{}, err
	}
	slog.InfoContext(ctx, "request authorized", "method", req.HTTPMethod, "resource", req.Resource,
		"principal", resp.PrincipalID, "effect", resp.PolicyDocument.Statement[0].Effect)
	return resp, nil
}

// authorize decides. It returns errUnauthorized for a key it does not know, and another error
// (API Gateway's 500) for a request that is not an execute-api method call.
func authorize(req lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest) (lambdaevents.APIGatewayCustomAuthorizerResponse, error) {
	stage, err := stageARN(req.MethodArn)
	if err != nil {
		return lambdaevents.APIGatewayCustomAuthorizerResponse{}, err
	}
	claims := map[string]any{"partner": Partner, "scopes": "probe:read"}
	switch header(req.Headers, "Authorization") {
	case KeyAllowAll:
		return policy(Partner, "Allow", stage+"/*", claims), nil
	case KeyAllowGet:
		resource := stage + "/GET/v1/probe"
		if req.HTTPMethod == "GET" && req.Resource == "/v1/probe" {
			resource = req.MethodArn
		}
		return policy(Partner, "Allow", resource, claims), nil
	case KeyDeny:
		return policy("denied", "Deny", stage+"/*", nil), nil
	default:
		return lambdaevents.APIGatewayCustomAuthorizerResponse{}, errUnauthorized
	}
}

func policy(principal, effect, resource string, claims map[string]any) lambdaevents.APIGatewayCustomAuthorizerResponse {
	return lambdaevents.APIGatewayCustomAuthorizerResponse{
		PrincipalID: principal,
		PolicyDocument: lambdaevents.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []lambdaevents.IAMPolicyStatement{
				{Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: []string{resource}},
			},
		},
		Context: claims,
	}
}

// stageARN cuts a method ARN, arn:aws:execute-api:<region>:<account>:<api>/<stage>/<verb>/<path>,
// down to the ARN prefix of its API's stage, arn:aws:execute-api:<region>:<account>:<api>/<stage>.
func stageARN(methodArn string) (string, error) {
	parts := strings.SplitN(methodArn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "execute-api" {
		return "", fmt.Errorf("authorizer: method ARN %q is not an execute-api ARN", methodArn)
	}
	segs := strings.SplitN(parts[5], "/", 3)
	if len(segs) != 3 || segs[0] == "" || segs[1] == "" {
		return "", fmt.Errorf("authorizer: method ARN %q names no API and stage", methodArn)
	}
	return strings.Join(parts[:5], ":") + ":" + segs[0] + "/" + segs[1], nil
}

// header returns a header's value whatever the case of its name, as clients send it.
func header(headers map[string]string, name string) string {
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func main() {
	slog.SetDefault(logging.New())
	if err := tracing.Setup(); err != nil {
		slog.Error("set up tracing", "error", err)
		os.Exit(1)
	}
	lambda.Start(handle)
}
