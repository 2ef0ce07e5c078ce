package front

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/lanyardhq/lanyard/topology"
)

// API Gateway's gateway response types the front answers with.
const (
	respUnauthorized       = "UNAUTHORIZED"
	respAccessDenied       = "ACCESS_DENIED"
	respMissingToken       = "MISSING_AUTHENTICATION_TOKEN"
	respInvalidSignature   = "INVALID_SIGNATURE"
	respAuthorizerConfig   = "AUTHORIZER_CONFIGURATION_ERROR"
	respIntegrationTimeout = "INTEGRATION_TIMEOUT"
	respRequestTooLarge    = "REQUEST_TOO_LARGE"
	respDefault4xx         = "DEFAULT_4XX"
	respDefault5xx         = "DEFAULT_5XX"
)

// stand-ins name a declared response to use for a type the topology does not declare, before
// API Gateway's own fallback (DEFAULT_4XX / DEFAULT_5XX) applies.
//
// INVALID_SIGNATURE (a wrong, stale or unparseable SigV4 signature, or an unknown access key)
// is answered as ACCESS_DENIED: both are API Gateway's 403 for a caller it will not let in,
// and ACCESS_DENIED's title says so, where DEFAULT_4XX's says "Bad Request". API Gateway itself
// would fall back to DEFAULT_4XX for it (keeping the 403); declaring INVALID_SIGNATURE in the
// topology makes both answer with that declaration instead.
var standIns = map[string]string{
	respInvalidSignature: respAccessDenied,
}

// gatewayError is a request answered by the gateway instead of a function.
type gatewayError struct {
	responseType string // API Gateway's gateway response type
	status       int    // the status API Gateway answers with
	errorType    string // API Gateway's x-amzn-ErrorType
	detail       string // safe for the client: API Gateway's own message or one as plain
	cause        error  // for the log only
}

type gatewayResponses map[string]topology.GatewayResponse

func newGatewayResponses(declared []topology.GatewayResponse) gatewayResponses {
	g := gatewayResponses{}
	for _, d := range declared {
		g[d.Type] = d
	}
	return g
}

// resolve picks the declared response for a gateway response type and the status to send.
func (g gatewayResponses) resolve(responseType string, status int) (topology.GatewayResponse, int) {
	d, ok := g[responseType]
	if !ok {
		if alt, has := standIns[responseType]; has {
			d, ok = g[alt]
		}
	}
	if !ok {
		fallback := respDefault4xx
		if status >= 500 {
			fallback = respDefault5xx
		}
		d, ok = g[fallback]
	}
	if !ok {
		return topology.GatewayResponse{Type: responseType, Title: http.StatusText(status), Problem: "about:blank"}, status
	}
	if d.Status != 0 {
		status = d.Status
	}
	return d, status
}

// problem is the RFC 9457 body of a gateway response.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// fail answers with the gateway response for e and logs why, the cause included.
func (f *Front) fail(ctx context.Context, w http.ResponseWriter, c *call, e *gatewayError) {
	d, status := f.responses.resolve(e.responseType, e.status)
	body, err := json.Marshal(problem{Type: d.Problem, Title: d.Title, Status: status, Detail: e.detail})
	if err != nil {
		body = []byte(`{"type":"about:blank","status":500}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("x-amzn-RequestId", c.id)
	if e.errorType != "" {
		h.Set("x-amzn-ErrorType", e.errorType)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)

	attrs := append(f.logAttrs(c, status), "gatewayResponse", e.responseType, "errorType", e.errorType)
	if e.cause != nil {
		attrs = append(attrs, "error", e.cause.Error())
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	f.logger().Log(ctx, level, "api gateway response", attrs...)
}
