// Command probe is an integration-test function: it reports what the Lambda environment gave
// it, fails when asked to (a returned error, a panic, an exit, a sleep past its timeout), and
// logs a marker line so tests can find its CloudWatch Logs.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Request says what the probe should do.
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

var invocations int

func handle(ctx context.Context, req Request) (Response, error) {
	invocations++
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

func main() { lambda.Start(handle) }
