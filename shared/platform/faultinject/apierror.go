//go:build faultinject || integration

package faultinject

import (
	"context"
	"net/http"
	"sync"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// APIMiddlewareID is the id of APIFaults' middleware in an SDK stack (one in Initialize, to
// count calls, one in Finalize, to answer attempts).
const APIMiddlewareID = "LanyardAPIFault"

// APIRule says which calls APIFaults fails and with what.
type APIRule struct {
	// Match selects the calls counted, by operation name ("TransactWriteItems") and input; nil
	// counts every call.
	Match func(op string, input any) bool
	// At is the first counted call that fails (1: the first counted call after Arm).
	At int
	// Once fails the At-th counted call only; otherwise every counted call from the At-th on
	// fails until Clear (an outage).
	Once bool
	// Err builds the error every attempt of a failing call answers, from its operation and
	// input (ResponseError wraps it as the SDK's deserializer would).
	Err func(op string, input any) error
}

// APIFaults answers chosen calls of SDK clients with an AWS API error instead of sending them:
// what a throttled, failing or cancelling service answers, in-process, for tests that drive
// handler code against DynamoDB Local (which never throttles nor fails by itself).
//
// A call is counted once, at the front of the Initialize step, outside the SDK's retry loop;
// every attempt of a failing call is answered with the rule's error at the end of the Finalize
// step, inside the loop, so the SDK's retryer classifies the error and retries it as it would
// a real one (with the client's retryer: a test gives the client one without backoff) and the
// call fails when its attempts run out. A failing call is never sent. The zero APIFaults is
// ready, disarmed, and safe for concurrent use.
type APIFaults struct {
	mu       sync.Mutex
	rule     *APIRule
	counted  int      // calls the rule's Match accepted since Arm
	calls    []string // operation of every call since Reset
	injected int      // attempts answered with an error since Reset
}

type apiFaultKey struct{}

// Install adds the middleware to a client's stack: pass it in the client's APIOptions (or an
// aws.Config's).
func (f *APIFaults) Install(s *middleware.Stack) error {
	if err := s.Initialize.Add(middleware.InitializeMiddlewareFunc(APIMiddlewareID, f.count), middleware.Before); err != nil {
		return err
	}
	return s.Finalize.Add(middleware.FinalizeMiddlewareFunc(APIMiddlewareID, f.answer), middleware.After)
}

// Arm sets the rule and restarts its count.
func (f *APIFaults) Arm(r APIRule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rule, f.counted = &r, 0
}

// Clear disarms: every call goes through.
func (f *APIFaults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rule = nil
}

// Reset forgets the calls seen and the faults injected.
func (f *APIFaults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.injected = nil, 0
}

// Calls returns the operation names of the calls made since Reset, in order.
func (f *APIFaults) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Injected says how many attempts were answered with an error since Reset.
func (f *APIFaults) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

// count decides, once per call, whether the call fails, and marks its context so.
func (f *APIFaults) count(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	op := middleware.GetOperationName(ctx)
	f.mu.Lock()
	f.calls = append(f.calls, op)
	var fail error
	if r := f.rule; r != nil && (r.Match == nil || r.Match(op, in.Parameters)) {
		f.counted++
		if f.counted == r.At || (!r.Once && f.counted > r.At) {
			fail = r.Err(op, in.Parameters)
		}
	}
	f.mu.Unlock()
	if fail != nil {
		ctx = context.WithValue(ctx, apiFaultKey{}, fail)
	}
	return next.HandleInitialize(ctx, in)
}

// answer answers each attempt of a failing call with its error, unsent.
func (f *APIFaults) answer(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	fail, _ := ctx.Value(apiFaultKey{}).(error)
	if fail == nil {
		return next.HandleFinalize(ctx, in)
	}
	f.mu.Lock()
	f.injected++
	f.mu.Unlock()
	return middleware.FinalizeOutput{}, middleware.Metadata{}, fail
}

// ResponseError wraps an API error in the HTTP response error the SDK's deserializers return
// for it: the retryer reads the status code (a 5xx is retried) and errors.As still finds the
// API error (a modeled exception type, or a smithy.GenericAPIError).
func ResponseError(status int, err error) error {
	return &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}},
			Err:      err,
		},
		RequestID: "lanyard-fault-injected",
	}
}
