// Package introspect answers POST /v1/introspect, the introspection of a partner key in the
// style of RFC 7662 (OAuth 2.0 Token Introspection), for the internal systems the deployment
// declares as its dependents: they hold a key a partner sent them and ask whether it is live,
// whose it is and what it may do.
//
// The route is AWS_IAM. Only the declared dependents may call it: to anyone else it would be
// an oracle of which keys are live. In AWS the REST API's resource policy denies every other
// principal; the handler checks the caller's ARN (requestContext.identity.userArn) against the
// declared dependents again (shared/platform/iamarn) before it reads the body, and refuses
// anyone else with access-denied, the answer API Gateway gives.
//
// The request is the token form revocation takes (apigw.ReadTokenForm: one token, an optional
// token_type_hint, ignored). The token is judged by the path revocation takes
// (registry.VerifyToken): parsed (grammar and checksum, no I/O), its registry entry read by its
// key id, the SHA-256 of the whole token compared with the entry's verifier in constant time,
// and the entry asked whether it accepts the key now, as the authorizer asks. A key id alone
// never matches. An accepted key — active within its validity window, or previous within its
// grace — is answered active with its scopes, its partner as client_id, token_type Bearer (how
// a partner sends it), exp (when it stops being accepted) and iat (when it was issued);
// anything else — not a key, an unknown key, a forged secret, a pending, retired, revoked or
// expired key — is answered exactly {"active":false}, the same bytes whatever the reason.
//
// The answer never holds the key, and neither do the logs, the errors or the trace: the token
// is parsed into a credential.Key (rendered [redacted]), and logs name the key id.
package introspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/iamarn"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// Resource is the route Handler answers, as API Gateway names it in the proxy event.
const Resource = "/v1/introspect"

// TokenType is the token_type of an active key: a partner sends its key as a bearer token
// ("Authorization: Bearer <key>").
const TokenType = "Bearer"

// maxBodyBytes bounds the body: a form of one key and a hint is a few hundred bytes.
const maxBodyBytes = 4096

// DynamoDBAPI is the part of the DynamoDB client introspection uses: consistent reads of
// registry entries.
type DynamoDBAPI interface {
	registry.GetItemAPI
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Answer is the IntrospectionResponse schema of shared/domain/openapi/openapi.json (RFC 7662,
// section 2.2). Anything but an active key is the zero Answer, {"active":false}.
type Answer struct {
	Active bool `json:"active"`
	// Scope is the key's scopes, space separated.
	Scope string `json:"scope,omitempty"`
	// ClientID is the partner id.
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	// Exp and Iat are seconds since the epoch: when the key stops being accepted, and when it
	// was issued.
	Exp int64 `json:"exp,omitempty"`
	Iat int64 `json:"iat,omitempty"`
}

// Handler answers POST /v1/introspect. Build it once per cold start; it is safe for concurrent
// use.
type Handler struct {
	DB DynamoDBAPI
	// CredentialsTable names the key registry.
	CredentialsTable string
	// Dependents are the principals that may introspect (ParseDependents); none: nobody may.
	Dependents []iamarn.Principal
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ParseDependents reads the DEPENDENTS variable: the declared dependents' ARNs, comma separated
// ("" declares none).
func ParseDependents(v string) ([]iamarn.Principal, error) {
	var arns []string
	for a := range strings.SplitSeq(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			arns = append(arns, a)
		}
	}
	ps, err := iamarn.ParseAll(arns)
	if err != nil {
		return nil, fmt.Errorf("dependents: %w", err)
	}
	return ps, nil
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

// Handle is the Lambda entry point. It never returns an error: a refusal is a problem+json
// answer logged at info level, a fault (a failed registry read) a 500 logged at error level.
func (h *Handler) Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	caller := strings.TrimSpace(req.RequestContext.Identity.UserArn)
	return apigw.Route{Span: "introspectKey", Log: "introspection", Attrs: []any{"caller", caller}}.Serve(ctx, req, h.handle)
}

// outcome says what a well-formed request found, for the log.
type outcome string

const (
	outcomeActive   outcome = "active"
	outcomeNotAKey  outcome = "not-a-key"
	outcomeUnknown  outcome = "unknown-key"
	outcomeMismatch outcome = "secret-mismatch"
	// A genuine key the registry does not accept now: the log adds the registry's reason.
	outcomeNotAccepted outcome = "not-accepted"
)

func (h *Handler) handle(ctx context.Context, span *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	if req.Resource != Resource || req.HTTPMethod != http.MethodPost {
		return lambdaevents.APIGatewayProxyResponse{}, problem.NotFound.New("").WithCause(fmt.Errorf("no route %s %s here", req.HTTPMethod, req.Resource))
	}
	caller := strings.TrimSpace(req.RequestContext.Identity.UserArn)
	if !iamarn.AnyAdmits(h.Dependents, caller) {
		return lambdaevents.APIGatewayProxyResponse{}, problem.AccessDenied.New("").WithCause(
			fmt.Errorf("introspection: caller %q is not a declared dependent (%d declared)", caller, len(h.Dependents)))
	}
	token, err := apigw.ReadTokenForm(req, maxBodyBytes, problem.IntrospectionRequestInvalid)
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, err
	}
	store := &registry.Store{DB: h.DB, Table: h.CredentialsTable}
	v, err := registry.VerifyToken(ctx, store, token, h.now())
	var out outcome
	switch {
	case errors.Is(err, registry.ErrMalformed):
		out = outcomeNotAKey
	case errors.Is(err, registry.ErrNotFound):
		out = outcomeUnknown
	case errors.Is(err, registry.ErrMismatch):
		out = outcomeMismatch
	case err != nil:
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("introspection: %w", err)
	case !v.Accepted:
		out = outcomeNotAccepted
	default:
		out = outcomeActive
	}
	attrs := []any{"caller", caller, "outcome", string(out)}
	if v.Entry.KeyID != "" {
		attrs = append(attrs, "keyId", string(v.Entry.KeyID))
	}
	if out != outcomeActive {
		if out == outcomeNotAccepted {
			attrs = append(attrs, "partnerId", v.Entry.PartnerID, "reason", v.Reason)
		}
		slog.InfoContext(ctx, "key introspected", attrs...)
		return answer(Answer{})
	}
	e := v.Entry
	span.Annotate("partner", e.PartnerID)
	slog.InfoContext(ctx, "key introspected", append(attrs, "partnerId", e.PartnerID, "status", string(e.Status))...)
	return answer(Answer{
		Active:    true,
		Scope:     strings.Join(e.Scopes, " "),
		ClientID:  e.PartnerID,
		TokenType: TokenType,
		Exp:       acceptedUntil(e).Unix(),
		Iat:       issuedAt(e).Unix(),
	})
}

// acceptedUntil is when an accepted key stops being accepted: an active key at the end of its
// validity window, a previous key at the end of its grace, or earlier once the partner's
// acknowledgement set its drain (Entry.Accepts).
func acceptedUntil(e registry.Entry) time.Time {
	if e.Status != registry.StatusPrevious {
		return e.NotAfter
	}
	if !e.RetireAt.IsZero() && e.RetireAt.Before(e.GraceUntil) {
		return e.RetireAt
	}
	return e.GraceUntil
}

// issuedAt is when the key was registered, or the start of its validity window for an entry
// that does not say.
func issuedAt(e registry.Entry) time.Time {
	if !e.CreatedAt.IsZero() {
		return e.CreatedAt
	}
	return e.NotBefore
}

// answer is the 200 of a well-formed request from a dependent; never cached.
func answer(a Answer) (lambdaevents.APIGatewayProxyResponse, error) {
	body, err := json.Marshal(a)
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("introspection: encode the answer: %w", err)
	}
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"},
		Body:       string(body),
	}, nil
}
