// Package ddbfault makes DynamoDB's TransactWriteItems fail as DynamoDB fails it under load or
// in an outage — throttled, a 500, or the transaction cancelled — so a test can show that a
// decision whose record does not commit is not carried out, and that its caller is told.
//
// Against DynamoDB Local, Option adds an SDK middleware to a client; over the repository's
// fake (dynamodbtest), Fake wraps it. Either way the failing call is never applied.
package ddbfault

import (
	"context"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
)

// Fault is one way a TransactWriteItems call fails. Err builds the error for a call of n items.
type Fault struct {
	Name string
	Err  func(n int) error
}

// Faults are the failures every decision is tested under: DynamoDB throttling the call (what
// the SDK returns once its own retries are spent), an internal server error (500), and the
// transaction cancelled for a reason that is none of the caller's conditions (its first item
// throttled: "ThrottlingError"; the others "None").
func Faults() []Fault {
	return []Fault{
		{Name: "throttling", Err: func(int) error {
			return &types.ThrottlingException{Message: aws.String("Rate of requests exceeds the allowed throughput.")}
		}},
		{Name: "internal server error", Err: func(int) error {
			return &types.InternalServerError{Message: aws.String("Internal server error")}
		}},
		{Name: "transaction cancelled", Err: func(n int) error {
			reasons := make([]types.CancellationReason, max(n, 1))
			for i := range reasons {
				reasons[i] = types.CancellationReason{Code: aws.String("None")}
			}
			reasons[0] = types.CancellationReason{Code: aws.String("ThrottlingError"), Message: aws.String("Throughput exceeds the current capacity for one or more global secondary indexes.")}
			return &types.TransactionCanceledException{
				Message:             aws.String("Transaction cancelled, please refer cancellation reasons for specific reasons"),
				CancellationReasons: reasons,
			}
		}},
	}
}

// Option is a client option that fails every TransactWriteItems call of the client with f's
// error, before it is signed or sent (the front of the Initialize step: outside the SDK's
// retries). Calls counts the calls failed.
func Option(f Fault, calls *atomic.Int64) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("LanyardDynamoDBFault",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					tw, ok := in.Parameters.(*dynamodb.TransactWriteItemsInput)
					if !ok {
						return next.HandleInitialize(ctx, in)
					}
					if calls != nil {
						calls.Add(1)
					}
					return middleware.InitializeOutput{}, middleware.Metadata{}, f.Err(len(tw.TransactItems))
				}), middleware.Before)
		})
	}
}

// Fake is the repository's DynamoDB fake with every TransactWriteItems call failing with
// Fault's error (nil Fault: passed through). Calls counts the calls failed.
type Fake struct {
	*dynamodbtest.DynamoDB
	Fault *Fault
	Calls atomic.Int64
}

// TransactWriteItems fails with the fault's error without applying anything.
func (f *Fake) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if f.Fault == nil {
		return f.DynamoDB.TransactWriteItems(ctx, in, opts...)
	}
	f.Calls.Add(1)
	return nil, f.Fault.Err(len(in.TransactItems))
}
