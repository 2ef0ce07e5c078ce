// Package apigw is the envelope every API Gateway route handler runs in: the trace span, the
// problem+json answer for every error, the log level by status (a refusal at info, a fault at
// error), the request checks several routes share (an empty body, a JSON Content-Type) and
// typed access to the values the REQUEST authorizer puts in the request's context.
//
// A handler writes what its route does as a Func and hands it to a Route:
//
//	return apigw.Route{Span: "createToken", Log: "token exchange"}.Serve(ctx, req, h.handle)
//
// Serve never returns an error: the Lambda answer is always a response.
package apigw

import (
	"context"
	"log/slog"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
)

// Func is what a route does: its answer, or an error the envelope answers as problem+json (a
// *problem.Error in the chain is the client's problem; anything else is internal).
type Func func(ctx context.Context, span *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error)

// Route is the envelope of one route. Build it per request when its log attributes name the
// request (a path parameter, the caller).
type Route struct {
	// Span is the trace span's name (the route's operation id).
	Span string
	// Log starts the log line of a refusal ("<Log> refused") and of a fault ("<Log> failed");
	// empty means Span.
	Log string
	// Attrs lead the attributes of both lines.
	Attrs []any
	// Refused gives the rest of a refusal's attributes; nil means "status", the type's status,
	// "error", err.
	Refused func(t problem.Type, err error) []any
	// Failed gives the rest of a fault's attributes; nil means "error", err.
	Failed func(err error) []any
	// FaultsOnly is for a handler that answers its refusals itself: every error it returns is
	// a fault, answered with the Internal problem whatever its chain holds.
	FaultsOnly bool
}

// Serve runs f inside the envelope. On success the span ends clean and f's answer is returned.
// On an error with a 4xx problem in its chain the refusal is logged at info, the span ends
// clean (the client's mistake is no fault of the function) and the problem is the answer; any
// other error is logged at error with its whole chain, ends the span with it, and is answered
// with the problem From finds (Internal for anything not meant for the client).
func (r Route) Serve(ctx context.Context, req lambdaevents.APIGatewayProxyRequest, f Func) (lambdaevents.APIGatewayProxyResponse, error) {
	ctx, span := tracing.Start(ctx, r.Span)
	resp, err := f(ctx, span, req)
	if err == nil {
		span.End(nil)
		return resp, nil
	}
	log := r.Log
	if log == "" {
		log = r.Span
	}
	if t, public := problem.Of(err); public && t.Status() < 500 && !r.FaultsOnly {
		attrs := []any{"status", t.Status(), "error", err}
		if r.Refused != nil {
			attrs = r.Refused(t, err)
		}
		slog.InfoContext(ctx, log+" refused", append(r.Attrs[:len(r.Attrs):len(r.Attrs)], attrs...)...)
		span.End(nil)
		return problem.Response(problem.From(err)), nil
	}
	attrs := []any{"error", err}
	if r.Failed != nil {
		attrs = r.Failed(err)
	}
	slog.ErrorContext(ctx, log+" failed", append(r.Attrs[:len(r.Attrs):len(r.Attrs)], attrs...)...)
	span.End(err)
	if r.FaultsOnly {
		return problem.Response(problem.Internal.New("").Problem()), nil
	}
	return problem.Response(problem.From(err)), nil
}
