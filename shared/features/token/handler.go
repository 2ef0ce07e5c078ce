package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// Response is the TokenCredentials schema of shared/domain/openapi/openapi.json, the answer to POST /v1/token.
// It holds the secrets in plain text: build it only to write the response body.
type Response struct {
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	SessionToken    string    `json:"sessionToken"`
	Expiration      time.Time `json:"expiration"`
}

// Handle is the Lambda entry point. It never returns an error: every failure is a
// problem+json answer, a refusal logged at info level and a fault, with its whole error
// chain, at error level. An STS failure is a 500 with the fixed internal detail.
func (h *Handler) Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	return apigw.Route{Span: "createToken", Log: "token exchange"}.Serve(ctx, req, h.handle)
}

func (h *Handler) handle(ctx context.Context, span *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	fail := func(err error) (lambdaevents.APIGatewayProxyResponse, error) {
		return problem.Response(problem.From(err)), err
	}
	if err := apigw.CheckEmptyBody(req); err != nil {
		return fail(err)
	}
	caller := apigw.CallerOf(req)
	partnerID, keyID := caller.PartnerID, caller.KeyID
	if partnerID == "" || keyID == "" {
		return fail(fmt.Errorf("token exchange: the authorizer context lacks a partner id (%t) or key id (%t)", partnerID != "", keyID != ""))
	}
	span.Annotate("partner", partnerID)

	e, err := h.acceptedKey(ctx, partnerID, keyID)
	if err != nil {
		return fail(err)
	}
	r, err := h.plan(e)
	if errors.Is(err, ErrNoGrants) {
		return fail(problem.AccessDenied.New("").WithCause(err))
	}
	if err != nil {
		return fail(fmt.Errorf("token exchange: %w", err))
	}
	if len(r.dropped) > 0 {
		slog.WarnContext(ctx, "key scopes the tier no longer allows are left out of the session",
			"partnerId", r.partnerID, "keyId", r.keyID, "tier", r.tier, "dropped", r.dropped, "policyRevision", h.Policy.Revision)
	}
	creds, err := h.assume(ctx, r)
	if err != nil {
		return fail(fmt.Errorf("token exchange for partner %s: %w", partnerID, err))
	}
	// No credentials without their record: a session whose record did not commit is never
	// answered (the package doc says why it is not revoked either).
	rec, err := h.record(ctx, r, creds.Expiration, h.now())
	if err != nil {
		return fail(problem.Unavailable.New("").WithCause(fmt.Errorf("token exchange for partner %s: record the exchange (session %s not answered): %w", partnerID, creds.AccessKeyID, err)))
	}
	body, err := json.Marshal(Response{
		AccessKeyID:     creds.AccessKeyID,
		SecretAccessKey: creds.SecretAccessKey.Reveal(),
		SessionToken:    creds.SessionToken.Reveal(),
		Expiration:      creds.Expiration,
	})
	if err != nil {
		return fail(fmt.Errorf("token exchange for partner %s: encode the answer: %w", partnerID, err))
	}
	slog.InfoContext(ctx, "token issued",
		"partnerId", r.partnerID, "keyId", r.keyID, "tier", r.tier, "scopes", r.scopes,
		"accessKeyId", creds.AccessKeyID, "expiration", creds.Expiration, "durationSeconds", int(r.duration/time.Second),
		"policyRevision", h.Policy.Revision, "chain", rec.Chain, "outboxSeq", rec.Seq)
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"},
		Body:       string(body),
	}, nil
}

// acceptedKey reads the key's registry entry (a consistent read) and checks it is the partner's
// and usable now. A key the registry no longer accepts (revoked, expired, past its grace) is
// refused with access-denied, as API Gateway refuses it once the authorizer's cache lets go.
func (h *Handler) acceptedKey(ctx context.Context, partnerID, keyID string) (registry.Entry, error) {
	e, err := (&registry.Store{DB: h.DB, Table: h.CredentialsTable}).GetPartnerKey(ctx, partnerID, keyID)
	if err != nil {
		return registry.Entry{}, fmt.Errorf("token exchange: %w", err)
	}
	if ok, reason := e.Accepts(h.now()); !ok {
		return registry.Entry{}, problem.AccessDenied.New("").WithCause(fmt.Errorf("credential %s of partner %s is not accepted now: %s", keyID, partnerID, reason))
	}
	return e, nil
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// EmptyBodyMessage is the validation message for a body that is not empty.
const EmptyBodyMessage = apigw.EmptyBodyMessage
