// Package invoke is how `lanyard local` calls a function: through LocalStack's Lambda Invoke,
// so the function runs exactly as LocalStack runs it (our runtime executor, its environment).
package invoke

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// Result is a synchronous invocation's outcome. FunctionError is empty when the function
// succeeded; otherwise it is Lambda's FunctionError ("Unhandled") and Payload holds the
// function's error document.
type Result struct {
	Payload       []byte
	FunctionError string
}

// Invoker calls a function by its Lambda name.
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) (Result, error)
}

// LambdaAPI is the part of the Lambda client an Invoker needs.
type LambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ LambdaAPI = (*lambda.Client)(nil)

// Lambda invokes through a Lambda client (pointed at LocalStack).
type Lambda struct {
	Client LambdaAPI
}

// Invoke implements Invoker with a RequestResponse invocation.
func (l Lambda) Invoke(ctx context.Context, function string, payload []byte) (Result, error) {
	out, err := l.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(function), Payload: payload})
	if err != nil {
		return Result{}, fmt.Errorf("invoke %s: %w", function, err)
	}
	return Result{Payload: out.Payload, FunctionError: aws.ToString(out.FunctionError)}, nil
}

// Func adapts a function to Invoker (tests, benchmarks).
type Func func(ctx context.Context, function string, payload []byte) (Result, error)

// Invoke implements Invoker.
func (f Func) Invoke(ctx context.Context, function string, payload []byte) (Result, error) {
	return f(ctx, function, payload)
}
