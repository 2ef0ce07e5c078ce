package onboarding

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/openapi"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/onboardings"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// The admin routes AdminHandler answers, as API Gateway names them in the proxy event's
// resource.
const (
	ListResource    = "/v1/admin/onboardings"
	ApproveResource = "/v1/admin/onboardings/{onboardingId}/approve"
	DenyResource    = "/v1/admin/onboardings/{onboardingId}/deny"
)

// MaxListed is the most onboardings GET /v1/admin/onboardings answers with.
const MaxListed = 100

// UnknownCaller is decidedBy (and the event's actor) when the request context names no caller
// (API Gateway always does on an AWS_IAM route).
const UnknownCaller = "unknown"

// AdminDynamoDBAPI is the part of the DynamoDB client the admin routes use: the outbox's reads
// and transaction, and Scan for the list.
type AdminDynamoDBAPI interface {
	outbox.DynamoDBAPI // GetItem, Query, TransactWriteItems
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ AdminDynamoDBAPI = (*dynamodb.Client)(nil)

// AdminHandler answers the ops routes of onboardings that need an approval (AWS_IAM):
// GET /v1/admin/onboardings, POST /v1/admin/onboardings/{onboardingId}/approve and
// POST /v1/admin/onboardings/{onboardingId}/deny. Build it once per cold start.
type AdminHandler struct {
	DB AdminDynamoDBAPI
	// Tables needs Onboardings, Partners (a denial releases an AWS account's claim) and Outbox.
	Tables Tables
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (h *AdminHandler) now() time.Time {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	return now().UTC().Truncate(time.Millisecond)
}

// Handle is the Lambda entry point of the three routes, told apart by the event's resource and
// method. Every refusal is problem+json; a 5xx is logged with its whole error chain.
func (h *AdminHandler) Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	var name string
	var serve func(context.Context, lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error)
	switch {
	case req.Resource == ListResource && req.HTTPMethod == http.MethodGet:
		name, serve = "listOnboardings", h.list
	case req.Resource == ApproveResource && req.HTTPMethod == http.MethodPost:
		name, serve = "approveOnboarding", func(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
			return h.decide(ctx, req, StatusApproved)
		}
	case req.Resource == DenyResource && req.HTTPMethod == http.MethodPost:
		name, serve = "denyOnboarding", func(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
			return h.decide(ctx, req, StatusDenied)
		}
	default:
		name, serve = "onboardingsAdmin", func(context.Context, lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
			return lambdaevents.APIGatewayProxyResponse{}, problem.NotFound.New("").WithCause(fmt.Errorf("no route %s %s here", req.HTTPMethod, req.Resource))
		}
	}
	return apigw.Route{
		Span: name,
		Refused: func(_ problem.Type, err error) []any {
			return []any{"problem", problem.From(err).Type, "reason", err.Error()}
		},
	}.Serve(ctx, req, func(ctx context.Context, _ *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
		return serve(ctx, req)
	})
}

// View is an onboarding as the admin routes show it (the OpenAPI schema Onboarding): never the
// pick-up token's hash.
type View struct {
	OnboardingID string       `json:"onboardingId"`
	Status       Status       `json:"status"`
	PartnerID    string       `json:"partnerId"`
	PartnerName  string       `json:"partnerName"`
	Tier         string       `json:"tier"`
	Scopes       []string     `json:"scopes"`
	Identity     ViewIdentity `json:"identity"`
	CreatedAt    string       `json:"createdAt"`
	ExpiresAt    string       `json:"expiresAt"`
	DecidedBy    string       `json:"decidedBy,omitempty"`
	DecidedAt    string       `json:"decidedAt,omitempty"`
	Reason       string       `json:"reason,omitempty"`
	CollectedAt  string       `json:"collectedAt,omitempty"`
}

// ViewIdentity is the identity proof of a View.
type ViewIdentity struct {
	Method    string `json:"method"`
	InviteID  string `json:"inviteId,omitempty"`
	AccountID string `json:"accountId,omitempty"`
	ARN       string `json:"arn,omitempty"`
}

// viewOf shows o as it stands at now.
func viewOf(o Onboarding, now time.Time) View {
	v := View{
		OnboardingID: o.ID,
		Status:       o.Effective(now),
		PartnerID:    o.PartnerID,
		PartnerName:  o.PartnerName,
		Tier:         o.Tier,
		Scopes:       o.Scopes,
		Identity:     ViewIdentity{Method: o.IdentityMethod, InviteID: o.InviteID, AccountID: o.AccountID, ARN: o.ARN},
		CreatedAt:    formatTime(o.CreatedAt),
		ExpiresAt:    formatTime(o.ExpiresAt),
		DecidedBy:    o.DecidedBy,
		Reason:       o.Reason,
	}
	if !o.DecidedAt.IsZero() {
		v.DecidedAt = formatTime(o.DecidedAt)
	}
	if !o.CollectedAt.IsZero() {
		v.CollectedAt = formatTime(o.CollectedAt)
	}
	return v
}

// List is the answer to GET /v1/admin/onboardings (the OpenAPI schema OnboardingList).
type List struct {
	Onboardings []View `json:"onboardings"`
	// Truncated says more onboardings matched than MaxListed.
	Truncated bool `json:"truncated"`
}

// list answers GET /v1/admin/onboardings[?status=…]: the onboardings (with that status at now),
// newest first, at most MaxListed. It scans the table: onboardings needing an approval are few
// (ops volumes), and TTL purges each OnboardingPurgeAfter past its expiry.
func (h *AdminHandler) list(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	want, err := statusFilter(req)
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, err
	}
	now := h.now()
	var all []View
	p := dynamodb.NewScanPaginator(h.DB, &dynamodb.ScanInput{
		TableName:      aws.String(h.Tables.Onboardings),
		ConsistentRead: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("scan the onboardings: %w", err)
		}
		for _, item := range page.Items {
			o, err := onboardings.FromItem(item)
			if err != nil {
				return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("scan the onboardings: %w", err)
			}
			if v := viewOf(o, now); want == "" || v.Status == want {
				all = append(all, v)
			}
		}
	}
	slices.SortFunc(all, func(a, b View) int {
		// RFC 3339 in UTC with Go's fraction does not sort as text ("…:00Z" > "…:00.5Z"): parse.
		ta, _ := time.Parse(time.RFC3339Nano, a.CreatedAt)
		tb, _ := time.Parse(time.RFC3339Nano, b.CreatedAt)
		if c := tb.Compare(ta); c != 0 {
			return c
		}
		return cmp.Compare(a.OnboardingID, b.OnboardingID)
	})
	out := List{Onboardings: all, Truncated: len(all) > MaxListed}
	if out.Truncated {
		out.Onboardings = all[:MaxListed]
	}
	if out.Onboardings == nil {
		out.Onboardings = []View{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("marshal the onboarding list: %w", err)
	}
	slog.InfoContext(ctx, "onboardings listed", "status", string(want), "matched", len(all), "answered", len(out.Onboardings))
	return jsonResponse(http.StatusOK, string(b)), nil
}

// statusFilter reads the optional status query parameter: one of Statuses.
func statusFilter(req lambdaevents.APIGatewayProxyRequest) (Status, error) {
	var vs []string
	for k, v := range req.MultiValueQueryStringParameters {
		if k == "status" {
			vs = append(vs, v...)
		}
	}
	if v, ok := req.QueryStringParameters["status"]; ok && !slices.Contains(vs, v) {
		vs = append(vs, v)
	}
	names := make([]string, 0, len(Statuses()))
	for _, s := range Statuses() {
		names = append(names, string(s))
	}
	bad := problem.BadRequest.New("The status query parameter must be one of: " + strings.Join(names, ", ") + ".")
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", bad.WithCause(fmt.Errorf("%d status parameters", len(vs)))
	case !slices.Contains(names, vs[0]):
		return "", bad.WithCause(errors.New("status parameter is not a status"))
	}
	return Status(vs[0]), nil
}

// decisionRequest is the body of approve and deny (the OpenAPI schema OnboardingDecision).
type decisionRequest struct {
	Reason string `json:"reason"`
}

// decide answers POST /v1/admin/onboardings/{onboardingId}/approve or /deny: an onboarding
// still pending and not expired moves to status, decided by the caller, in one transaction with
// its event (Onboarding Approved / Denied) — a denial also releases the AWS account the
// onboarding claimed. Any other onboarding is 409 conflict, an unknown one 404.
func (h *AdminHandler) decide(ctx context.Context, req lambdaevents.APIGatewayProxyRequest, status Status) (lambdaevents.APIGatewayProxyResponse, error) {
	none := lambdaevents.APIGatewayProxyResponse{}
	op := openapi.OpApproveOnboarding
	if status == StatusDenied {
		op = openapi.OpDenyOnboarding
	}
	in, err := decisionBody(req, op)
	if err != nil {
		return none, err
	}
	id := req.PathParameters[OnboardingIDParameter]
	if !ValidOnboardingID(id) {
		return none, problem.NotFound.New("").WithCause(errors.New("the onboarding id is malformed"))
	}
	by := caller(req.RequestContext.Identity)
	now := h.now()

	o, found, err := onboardings.Get(ctx, h.DB, h.Tables.Onboardings, id)
	switch {
	case err != nil:
		return none, err
	case !found:
		return none, problem.NotFound.New("").WithCause(fmt.Errorf("no onboarding %s", id))
	case o.Effective(now) != StatusPending:
		return none, notPending(o, now)
	}

	actor := events.Actor{Kind: events.ActorOps, ID: by}
	var d events.Detail
	items := []types.TransactWriteItem{{Update: onboardings.Decide(h.Tables.Onboardings, o.ID, status, by, in.Reason, now)}}
	if status == StatusApproved {
		d = &events.OnboardingApproved{Meta: events.NewMeta(o.PartnerID, actor, now), OnboardingID: o.ID, Tier: o.Tier, Reason: in.Reason, ExpiresAt: o.ExpiresAt}
	} else {
		d = &events.OnboardingDenied{Meta: events.NewMeta(o.PartnerID, actor, now), OnboardingID: o.ID, Tier: o.Tier, Reason: in.Reason}
		if o.IdentityMethod == events.ProofSTS {
			items = append(items, partners.ReleaseAccount(h.Tables.Partners, o.AccountID, o.PartnerID))
		}
	}
	out := &outbox.Store{DB: h.DB, Table: h.Tables.Outbox}
	rec, err := out.Commit(ctx, o.PartnerID, d, items)
	if err != nil {
		var stateErr *outbox.StateChangeError
		if !errors.As(err, &stateErr) || stateErr.Index != 0 {
			return none, fmt.Errorf("%s onboarding %s: %w", verb(status), o.ID, err)
		}
		// Decided (or expired) by someone else between the read and the commit: say how it stands.
		cur, found, rerr := onboardings.Get(ctx, h.DB, h.Tables.Onboardings, id)
		switch {
		case rerr != nil:
			return none, fmt.Errorf("%s onboarding %s: %w (and reading it again: %w)", verb(status), o.ID, err, rerr)
		case !found:
			return none, problem.NotFound.New("").WithCause(fmt.Errorf("onboarding %s vanished: %w", id, err))
		}
		return none, notPending(cur, now)
	}

	o.Status, o.DecidedBy, o.DecidedAt, o.Reason = status, by, now, in.Reason
	b, err := json.Marshal(viewOf(o, now))
	if err != nil {
		return none, fmt.Errorf("marshal onboarding %s: %w", o.ID, err)
	}
	slog.InfoContext(ctx, "onboarding "+string(status), "onboarding", o.ID, "partner", o.PartnerID,
		"tier", o.Tier, "decidedBy", by, "reason", in.Reason, "outboxSeq", rec.Seq)
	return jsonResponse(http.StatusOK, string(b)), nil
}

func verb(s Status) string {
	if s == StatusApproved {
		return "approve"
	}
	return "deny"
}

// notPending is the 409 for a decision on an onboarding that is not waiting for one.
func notPending(o Onboarding, now time.Time) error {
	st := o.Effective(now)
	return problem.Conflict.Newf("Onboarding %s is %s, not pending: only a pending onboarding can be approved or denied.", o.ID, st).
		WithCause(fmt.Errorf("onboarding %s is %s", o.ID, st))
}

// decisionBody reads the optional body of approve and deny: none (or white space) is {}.
func decisionBody(req lambdaevents.APIGatewayProxyRequest, op string) (decisionRequest, error) {
	body, err := requestBody(req)
	if err != nil {
		return decisionRequest{}, err
	}
	if strings.TrimSpace(string(body)) == "" {
		return decisionRequest{}, nil
	}
	if err := checkContentType(req); err != nil {
		return decisionRequest{}, err
	}
	if err := openapi.ValidateBody(op, body); err != nil {
		return decisionRequest{}, fmt.Errorf("validate request body: %w", err)
	}
	var in decisionRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return decisionRequest{}, problem.BadRequest.New("").WithCause(errors.New("validated body does not decode"))
	}
	return in, nil
}

// caller names the caller of an AWS_IAM route: its IAM ARN, else the caller id API Gateway
// gives, else UnknownCaller.
func caller(id lambdaevents.APIGatewayRequestIdentity) string {
	for _, v := range []string{id.UserArn, id.Caller} {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return UnknownCaller
}
