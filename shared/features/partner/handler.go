// Package partner answers GET /v1/partners/me: the partner of the calling key, from the
// partners table (shared/stores/partners), and the end of that key's validity window.
package partner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// Profile is the PartnerProfile schema of shared/domain/openapi/openapi.json: the answer to GET /v1/partners/me.
type Profile struct {
	PartnerID    string    `json:"partnerId"`
	PartnerName  string    `json:"partnerName"`
	Tier         string    `json:"tier"`
	Scopes       []string  `json:"scopes"`
	KeyID        string    `json:"keyId"`
	KeyExpiresAt time.Time `json:"keyExpiresAt"`
}

// Handler answers GET /v1/partners/me for the partner whose key the authorizer accepted.
type Handler struct {
	DB partners.GetItemAPI
	// PartnersTable and CredentialsTable name the partners table and the key registry.
	PartnersTable    string
	CredentialsTable string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Handle is the Lambda entry point: who the calling key belongs to (the partner, from the
// partners table) and the key itself (its scopes, from the authorizer's context, and the end
// of its validity window, from the registry). A key the registry no longer accepts (revoked,
// expired, past its grace, its Allow still cached by the gateway) is refused with
// access-denied; a partner that is not in the table is 404; an authorizer context without the
// partner and key is a fault of the deployment (500).
func (h *Handler) Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	return apigw.Route{Span: "getOwnPartner", Log: "partner profile"}.Serve(ctx, req, h.handle)
}

func (h *Handler) handle(ctx context.Context, span *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	fail := func(err error) (lambdaevents.APIGatewayProxyResponse, error) {
		return problem.Response(problem.From(err)), err
	}
	caller := apigw.CallerOf(req)
	partnerID, keyID, scopeList := caller.PartnerID, caller.KeyID, caller.Scopes
	scopes := slices.Compact(slices.Sorted(slices.Values(strings.Fields(scopeList))))
	if partnerID == "" || keyID == "" || len(scopes) == 0 {
		return fail(fmt.Errorf("partner profile: the authorizer context lacks a partner id (%t), key id (%t) or scopes (%t)",
			partnerID != "", keyID != "", len(scopes) > 0))
	}
	span.Annotate("partner", partnerID)

	p, err := (&partners.Store{DB: h.DB, Table: h.PartnersTable}).Get(ctx, partnerID)
	if errors.Is(err, partners.ErrNotFound) {
		return fail(problem.NotFound.New("").WithCause(err))
	}
	if err != nil {
		return fail(fmt.Errorf("partner profile: %w", err))
	}
	notAfter, err := h.keyNotAfter(ctx, partnerID, keyID)
	if err != nil {
		return fail(fmt.Errorf("partner profile: %w", err))
	}
	body, err := json.Marshal(Profile{
		PartnerID:    p.PartnerID,
		PartnerName:  p.PartnerName,
		Tier:         p.Tier,
		Scopes:       scopes,
		KeyID:        keyID,
		KeyExpiresAt: notAfter.UTC(),
	})
	if err != nil {
		return fail(fmt.Errorf("partner profile of %s: encode the answer: %w", partnerID, err))
	}
	slog.InfoContext(ctx, "partner profile", "partnerId", partnerID, "keyId", keyID)
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"},
		Body:       string(body),
	}, nil
}

// keyNotAfter reads the end of the key's validity window from the registry, and checks the key
// is the partner's and accepted now. The read is consistent, like the partner's: a key onboarded
// a moment ago is found, and a key revoked a moment ago is refused.
func (h *Handler) keyNotAfter(ctx context.Context, partnerID, keyID string) (time.Time, error) {
	e, err := (&registry.Store{DB: h.DB, Table: h.CredentialsTable}).GetPartnerKey(ctx, partnerID, keyID)
	if err != nil {
		return time.Time{}, err
	}
	if ok, reason := e.Accepts(h.now()); !ok {
		return time.Time{}, problem.AccessDenied.New("").WithCause(fmt.Errorf("credential %s of partner %s is not accepted now: %s", keyID, partnerID, reason))
	}
	return e.NotAfter, nil
}
