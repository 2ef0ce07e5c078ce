package invite

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/domain/openapi"
	"github.com/lanyardhq/lanyard/shared/domain/partnername"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
)

// DefaultExpiresIn is how long an invite works when the request does not say (the
// CreateInviteRequest schema's default).
const DefaultExpiresIn = 7 * 24 * time.Hour

// UnknownCreator is createdBy when the request context names no caller (API Gateway always
// does on an AWS_IAM route).
const UnknownCreator = "unknown"

// Handler answers POST /v1/admin/invites (AWS_IAM: ops only).
type Handler struct {
	Invites *Store
	// Policy is the policy loaded once at cold start; the tier must be one of its tiers.
	Policy *policy.Policy
}

// createRequest is the CreateInviteRequest schema of shared/domain/openapi/openapi.json.
type createRequest struct {
	PartnerName string `json:"partnerName"`
	Tier        string `json:"tier"`
	ExpiresIn   *int64 `json:"expiresIn"`
}

// Created is the Invite schema of shared/domain/openapi/openapi.json: the answer to POST /v1/admin/invites, the
// only place an invite code is ever shown.
type Created struct {
	InviteCode  string    `json:"inviteCode"`
	InviteID    string    `json:"inviteId"`
	PartnerName string    `json:"partnerName"`
	Tier        string    `json:"tier"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// Handle is the Lambda entry point: the request body is checked (application/json, the
// createInvite schema, a partner name partnername.Normalize accepts — stored in NFC — and a
// tier of the policy), the invite is issued, and the answer is 201 with
// the code, Cache-Control: no-store. Every refusal is problem+json. The log names the invite by
// its id; the code appears only in the response body.
func (h *Handler) Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	return apigw.Route{Span: "createInvite", Log: "invite"}.Serve(ctx, req, h.handle)
}

// handle returns the response and, when it is a problem, the error it was built from.
func (h *Handler) handle(ctx context.Context, _ *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	fail := func(err error) (lambdaevents.APIGatewayProxyResponse, error) {
		return problem.Response(problem.From(err)), err
	}
	if err := apigw.CheckJSONUTF8(req); err != nil {
		return fail(err)
	}
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return fail(problem.BadRequest.New("").WithCause(errors.New("the base64-encoded body does not decode")))
		}
		body = b
	}
	if err := openapi.ValidateBody(openapi.OpCreateInvite, body); err != nil {
		return fail(fmt.Errorf("create invite: %w", err))
	}
	var in createRequest
	if err := json.Unmarshal(body, &in); err != nil { // cannot fail: the schema passed
		return fail(fmt.Errorf("create invite: decode the validated body: %w", err))
	}
	name, err := partnername.Normalize(in.PartnerName)
	if err != nil {
		return fail(fmt.Errorf("create invite: partner name refused: %w",
			problem.NewValidation(problem.FieldError{Pointer: "/partnerName", Message: err.Error()})))
	}
	in.PartnerName = name
	if _, ok := h.Policy.Tier(in.Tier); !ok {
		return fail(fmt.Errorf("create invite: tier %q is not in policy revision %d: %w", in.Tier, h.Policy.Revision,
			problem.NewValidation(problem.FieldError{Pointer: "/tier", Message: "must be a tier of the policy"})))
	}
	expiresIn := DefaultExpiresIn
	if in.ExpiresIn != nil {
		expiresIn = time.Duration(*in.ExpiresIn) * time.Second
	}
	createdBy := creator(req.RequestContext.Identity)

	code, inv, err := h.Invites.Issue(ctx, in.PartnerName, in.Tier, expiresIn, createdBy)
	if err != nil {
		return fail(fmt.Errorf("create invite: %w", err))
	}
	out, err := json.Marshal(Created{
		InviteCode:  code.Reveal(), // the one place the code leaves: shown once, to the ops caller
		InviteID:    inv.ID,
		PartnerName: inv.PartnerName,
		Tier:        inv.Tier,
		ExpiresAt:   inv.ExpiresAt.UTC(),
	})
	if err != nil {
		return fail(fmt.Errorf("create invite %s: encode the answer: %w", inv.ID, err))
	}
	slog.InfoContext(ctx, "invite issued", "inviteId", inv.ID, "tier", inv.Tier, "partnerName", inv.PartnerName,
		"createdBy", inv.CreatedBy, "expiresAt", inv.ExpiresAt.UTC().Format(time.RFC3339Nano))
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: 201,
		Headers: map[string]string{
			"Content-Type":  "application/json",
			"Cache-Control": "no-store",
		},
		Body: string(out),
	}, nil
}

// creator names the caller of an AWS_IAM route: its IAM ARN, else the caller id API Gateway
// gives, else UnknownCreator.
func creator(id lambdaevents.APIGatewayRequestIdentity) string {
	for _, v := range []string{id.UserArn, id.Caller} {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return UnknownCreator
}
