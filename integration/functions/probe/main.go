// Command probe is an integration-test function: it reports what the Lambda environment gave
// it, fails when asked to (a returned error, a panic, an exit, a sleep past its timeout), and
// logs a marker line so tests can find its CloudWatch Logs.
//
// Invoked by API Gateway (an event with "httpMethod": a Lambda proxy integration), it answers
// 200 with a JSON echo of what the gateway passed on — the path, its parameters, the
// authorizer's context and the caller's identity — and traces the request in a subsegment
// annotated with the partner the authorizer named.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/lanyardhq/lanyard/shared/platform/logging"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
)

// Request says what the probe should do when invoked directly.
type Request struct {
	Marker  string `json:"marker"`
	Fail    string `json:"fail"`
	Panic   bool   `json:"panic"`
	Exit    int    `json:"exit"`
	SleepMS int    `json:"sleepMs"`
}

// Response reports the environment.
type Response struct {
	PID         int               `json:"pid"`
	Invocations int               `json:"invocations"`
	RequestID   string            `json:"requestId"`
	Env         map[string]string `json:"env"`
}

// Echo is the body of the probe's answer to an API request.
type Echo struct {
	Method                string                                 `json:"method"`
	Path                  string                                 `json:"path"`
	Resource              string                                 `json:"resource"`
	PathParameters        map[string]string                      `json:"pathParameters"`
	QueryStringParameters map[string]string                      `json:"queryStringParameters"`
	Body                  string                                 `json:"body"`
	Stage                 string                                 `json:"stage"`
	RequestID             string                                 `json:"requestId"`
	Authorizer            map[string]any                         `json:"authorizer"`
	Identity              lambdaevents.APIGatewayRequestIdentity `json:"identity"`
}

var invocations int

func handle(ctx context.Context, event json.RawMessage) (any, error) {
	invocations++
	var keys map[string]json.RawMessage
	if json.Unmarshal(event, &keys) == nil && keys["httpMethod"] != nil {
		var req lambdaevents.APIGatewayProxyRequest
		if err := json.Unmarshal(event, &req); err != nil {
			return nil, fmt.Errorf("probe: decode API Gateway proxy event: %w", err)
		}
		return echo(ctx, req)
	}
	var req Request
	if err := json.Unmarshal(event, &req); err != nil {
		return nil, fmt.Errorf("probe: decode request: %w", err)
	}
	return direct(ctx, req)
}

// echo answers an API request with what API Gateway passed on.
func echo(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	ctx, span := tracing.Start(ctx, "probe")
	defer span.End(nil)
	partner, _ := req.RequestContext.Authorizer["partner"].(string)
	if partner != "" {
		span.Annotate("partner", partner)
	}
	body, err := json.Marshal(Echo{
		Method:                req.HTTPMethod,
		Path:                  req.Path,
		Resource:              req.Resource,
		PathParameters:        req.PathParameters,
		QueryStringParameters: req.QueryStringParameters,
		Body:                  req.Body,
		Stage:                 req.RequestContext.Stage,
		RequestID:             req.RequestContext.RequestID,
		Authorizer:            req.RequestContext.Authorizer,
		Identity:              req.RequestContext.Identity,
	})
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("probe: encode echo: %w", err)
	}
	slog.InfoContext(ctx, "api request echoed", "method", req.HTTPMethod, "resource", req.Resource, "partner", partner)
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	}, nil
}

// direct does what a direct invocation asks and reports the environment.
func direct(ctx context.Context, req Request) (Response, error) {
	if req.Marker != "" {
		fmt.Printf("probe marker %s\n", req.Marker)
	}
	if req.SleepMS > 0 {
		// Deliberately deaf to ctx: a function that overruns its timeout is what the runtime
		// must stop.
		time.Sleep(time.Duration(req.SleepMS) * time.Millisecond)
	}
	switch {
	case req.Fail != "":
		return Response{}, errors.New(req.Fail)
	case req.Panic:
		panic("probe asked to panic")
	case req.Exit != 0:
		os.Exit(req.Exit)
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_ENDPOINT_URL") || strings.HasPrefix(k, "AWS_LAMBDA_") || k == "AWS_REGION" || strings.HasPrefix(k, "LANYARD_") {
			env[k] = v
		}
	}
	resp := Response{PID: os.Getpid(), Invocations: invocations, Env: env}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		resp.RequestID = lc.AwsRequestID
	}
	return resp, nil
}

func main() {
	slog.SetDefault(logging.New())
	if err := tracing.Setup(); err != nil {
		slog.Error("set up tracing", "error", err)
		os.Exit(1)
	}
	lambda.Start(handle)
}
