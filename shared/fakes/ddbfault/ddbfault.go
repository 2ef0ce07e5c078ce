// Package ddbfault is the one definition of how DynamoDB fails a call under load or in an
// outage — throttled, throughput exceeded, a 500, a transaction cancelled — for tests that show
// a decision whose record does not commit is not carried out, and that its caller is told.
//
// Against DynamoDB Local, a Fault answers the calls faultinject.APIFaults fails (Fault.Answer,
// built with the integration or faultinject tag): SDK middleware, inside the client's retry
// loop. Over the repository's in-memory fake (dynamodbtest), Fake fails its TransactWriteItems.
// Either way the failing call is never applied.
package ddbfault

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
)

// Fault is one way DynamoDB fails a call. Err builds the API error DynamoDB answers the call
// (its operation and input) with; HTTPStatus says the status it comes with.
type Fault struct {
	Name string
	Err  func(op string, input any) error
}

// Faults are the failures every decision is tested under: DynamoDB throttling the call (what
// the SDK returns once its own retries are spent), an internal server error (500), and the
// transaction cancelled for a reason that is none of the caller's conditions (its first item
// throttled: "ThrottlingError"; the others "None").
func Faults() []Fault {
	return []Fault{Throttling(), InternalServerError(), Cancelled("ThrottlingError")}
}

// Throttling is DynamoDB's ThrottlingException (400), which the SDK retries.
func Throttling() Fault {
	return Fault{Name: "throttling", Err: func(string, any) error {
		return &types.ThrottlingException{Message: aws.String("Rate of requests exceeds the allowed throughput.")}
	}}
}

// ThroughputExceeded is DynamoDB's ProvisionedThroughputExceededException (400), which the SDK
// retries.
func ThroughputExceeded() Fault {
	return Fault{Name: "throughput exceeded", Err: func(string, any) error {
		return &types.ProvisionedThroughputExceededException{Message: aws.String("The level of configured provisioned throughput for the table was exceeded.")}
	}}
}

// InternalServerError is DynamoDB's 500, which the SDK retries.
func InternalServerError() Fault {
	return Fault{Name: "internal server error", Err: internalError}
}

func internalError(string, any) error {
	return &types.InternalServerError{Message: aws.String("Internal server error")}
}

// Cancelled is a TransactionCanceledException (400, not retried by the SDK) whose first item
// (the outbox's, in a decision's commit) failed for reason, the others None, as DynamoDB
// reports it. A call that is not a TransactWriteItems (in an outage that began with one) gets
// a 500.
func Cancelled(reason string) Fault {
	return Fault{Name: "transaction cancelled", Err: func(op string, input any) error {
		in, ok := input.(*dynamodb.TransactWriteItemsInput)
		if !ok {
			return internalError(op, input)
		}
		n := max(len(in.TransactItems), 1)
		reasons := make([]types.CancellationReason, n)
		codes := make([]string, n)
		for i := range reasons {
			codes[i] = "None"
			if i == 0 {
				codes[i] = reason
			}
			reasons[i] = types.CancellationReason{Code: aws.String(codes[i])}
			if codes[i] != "None" {
				reasons[i].Message = aws.String("injected")
			}
		}
		return &types.TransactionCanceledException{
			Message:             aws.String("Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]"),
			CancellationReasons: reasons,
		}
	}}
}

// HTTPStatus is the status DynamoDB answers err (a Fault's) with: 500 for an internal server
// error, 400 for the others.
func HTTPStatus(err error) int {
	if _, ok := errors.AsType[*types.InternalServerError](err); ok {
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
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
	return nil, f.Fault.Err("TransactWriteItems", in)
}
