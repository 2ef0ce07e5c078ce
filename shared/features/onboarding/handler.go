package onboarding

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
	"github.com/lanyardhq/lanyard/shared/features/usage"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/invites"
	"github.com/lanyardhq/lanyard/shared/stores/onboardings"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/refusals"
)

// DynamoDBAPI is the part of the DynamoDB client onboarding uses: the outbox's reads and
// transaction, the invite, onboarding and account reads, and the idempotency record's
// conditional writes.
type DynamoDBAPI interface {
	outbox.DynamoDBAPI // GetItem, Query, TransactWriteItems
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Enroller puts a partner's usage identifier into its tier's usage plan, idempotently.
type Enroller interface {
	Enroll(ctx context.Context, partnerID, tier string) error
}

var _ Enroller = (*usage.Enroller)(nil)

// Tables names the tables onboarding writes (the topology's "invites", "partners",
// "credentials", "idempotency", "outbox" and "onboardings").
type Tables struct {
	Invites     string
	Partners    string
	Credentials string
	Idempotency string
	Outbox      string
	Onboardings string
}

// The routes Handler answers, as API Gateway names them in the proxy event's resource.
const (
	OnboardResource = "/v1/partners"
	PickupResource  = "/v1/onboardings/{onboardingId}/pickup"
)

// Handler answers POST /v1/partners and POST /v1/onboardings/{onboardingId}/pickup. Build it
// once per cold start; it is safe for concurrent use.
type Handler struct {
	DB      DynamoDBAPI
	Secrets SecretsAPI
	Tables  Tables
	// Identity verifies STS identity requests (stsproof.Verifier); nil refuses them with 500.
	Identity IdentityVerifier
	// HostAccountID is the AWS account this deployment runs in, which never onboards; empty
	// means the account of the invoked function's ARN (the Lambda context).
	HostAccountID string
	// Policy decides the scopes and gives the tier's key lifetime and approval (policy.Default).
	Policy *policy.Policy
	// SecretPrefix starts every partner secret's name ("lanyard/partners/").
	SecretPrefix string
	// KMSKeyID encrypts the secrets (the stack's key); empty means Secrets Manager's default key.
	KMSKeyID string
	// Env is the environment the keys are minted for; empty means credential.EnvLive.
	Env credential.Environment
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness of keys, pick-up tokens and secret version ids; nil means
	// crypto/rand.Reader.
	Rand io.Reader
	// RotationFunctionARN is the rotation function each new partner's secret is handed to
	// (RotateSecret, on the tier's schedule); empty switches no rotation on.
	RotationFunctionARN string
	// Usage enrolls each new partner's usage identifier in its tier's usage plan
	// (shared/features/usage.Enroller); nil enrolls nothing.
	Usage Enroller
	// Lease is how long a claim is held before another attempt may take it over; zero means
	// DefaultLease. Keep it above the function's timeout.
	Lease time.Duration
	// Refusals counts each well-formed request refused (countRefusal); nil counts nothing.
	Refusals RefusalCounter
	// RefusalCountTimeout bounds one count; zero means DefaultRefusalCountTimeout.
	RefusalCountTimeout time.Duration
}

// RefusalCounter counts refused onboardings by reason (refusals.Counter: one UpdateItem each).
type RefusalCounter interface {
	Add(ctx context.Context, reason string) error
}

var _ RefusalCounter = (*refusals.Counter)(nil)

// DefaultRefusalCountTimeout bounds one refusal's count, so a slow table delays a refusal by
// that much at most, never into the function's timeout.
const DefaultRefusalCountTimeout = 2 * time.Second

func (h *Handler) now() time.Time {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	// Milliseconds: the lease is kept in them, and every time of one onboarding is the same.
	return now().UTC().Truncate(time.Millisecond)
}

func (h *Handler) rand() io.Reader {
	if h.Rand == nil {
		return crand.Reader
	}
	return h.Rand
}

func (h *Handler) env() credential.Environment {
	if h.Env == "" {
		return credential.EnvLive
	}
	return h.Env
}

func (h *Handler) idempotencyTable() idempotencyTable {
	lease := h.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	return idempotencyTable{db: h.DB, table: h.Tables.Idempotency, lease: lease}
}

func (h *Handler) newVersionID() (string, error) {
	u, err := uuid.NewRandomFromReader(h.rand())
	if err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return u.String(), nil
}

// newIDs gives an onboarding's claim a new partner id and secret version id.
func (h *Handler) newIDs() (string, string, error) {
	v, err := h.newVersionID()
	if err != nil {
		return "", "", fmt.Errorf("new secret version id: %w", err)
	}
	return partners.NewID(), v, nil
}

// Handle answers one POST /v1/partners or POST /v1/onboardings/{onboardingId}/pickup, told
// apart by the event's resource. It never returns an error: every failure is a problem+json
// answer, and a 5xx one is logged with its whole error chain.
func (h *Handler) Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	name, serve := "onboarding", h.handle
	if req.Resource == PickupResource {
		name, serve = "pickup", h.handlePickup
	}
	// Refusals are answered (and remembered under the idempotency key) inside: what reaches the
	// envelope is a fault.
	return apigw.Route{Span: name, FaultsOnly: true}.Serve(ctx, req, serve)
}

// handle answers an onboarding, or returns an internal error (answered 500).
func (h *Handler) handle(ctx context.Context, span *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	// Refusals before the claim are not remembered under the key: nothing was done.
	idemKey, err := idempotencyKey(req)
	if err != nil {
		return refused(ctx, "", err), nil
	}
	if err := checkContentType(req); err != nil {
		return refused(ctx, "", err), nil
	}
	body, err := requestBody(req)
	if err != nil {
		return refused(ctx, "", err), nil
	}
	cr, err := parseRequest(body)
	if err != nil {
		return refused(ctx, "", err), nil
	}
	resp, err := h.onboardWellFormed(ctx, span, idemKey, cr)
	h.countRefusal(ctx, resp, err)
	return resp, err
}

// onboardWellFormed answers an onboarding whose request passed the shape check: the header,
// the content type and the body.
func (h *Handler) onboardWellFormed(ctx context.Context, span *tracing.Span, idemKey secret.Value, cr createRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	// The record is kept under the proof: the invite code's hash, or the AWS account STS
	// verifies — asked before the record is read, so that a replay proves the identity again.
	scope := proofScope{}
	var verified stsproof.Identity
	var err error
	if cr.IdentityRequest == nil {
		scope = inviteScope(cr.InviteCode)
	} else {
		verified, err = h.verifyIdentity(ctx, cr)
		switch {
		case err != nil && isRefusal(err):
			return refused(ctx, "", err), nil
		case err != nil:
			return lambdaevents.APIGatewayProxyResponse{}, err
		}
		scope = accountScope(verified.AccountID)
	}

	now := h.now()
	ids := h.idempotencyTable()
	res, err := ids.claim(ctx, scope.recordKey(IdempotencyKeyPrefix, idemKey), cr.hash(), now, h.newIDs)
	switch {
	case err != nil && isRefusal(err):
		return refused(ctx, "", err), nil
	case err != nil:
		return lambdaevents.APIGatewayProxyResponse{}, err
	case res.Replay != nil:
		span.Annotate("partner", res.Replay.PartnerID)
		return h.replay(ctx, *res.Replay, now)
	}
	span.Annotate("partner", res.Claim.PartnerID)
	a := &attempt{h: h, ids: ids, claim: res.Claim, now: now}
	// The secret is named for the claim's own partner id: no partner will name it if the
	// request is refused.
	a.orphan = func(ctx context.Context) error { return h.deleteSecret(ctx, a.claim.PartnerID) }
	return a.run(ctx, func(ctx context.Context) (lambdaevents.APIGatewayProxyResponse, error) {
		return a.onboard(ctx, cr, verified)
	})
}

// countRefusal counts the answer to a well-formed request when it refuses it (a 4xx problem),
// by the problem's type (its anchor in docs/problems.md: invite-invalid,
// identity-proof-invalid, pickup-invalid, …). A replayed refusal counts again: it is one more
// refused request. A count that fails is logged, with the reason and the error (which name the
// table and the window, never the request), and the answer stays what it was: counting never
// turns a refusal into a fault or an acceptance.
func (h *Handler) countRefusal(ctx context.Context, resp lambdaevents.APIGatewayProxyResponse, err error) {
	if h.Refusals == nil || err != nil || resp.StatusCode < 400 || resp.StatusCode >= 500 {
		return
	}
	reason := RefusalReason(resp)
	timeout := h.RefusalCountTimeout
	if timeout <= 0 {
		timeout = DefaultRefusalCountTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if cerr := h.Refusals.Add(ctx, reason); cerr != nil {
		slog.WarnContext(ctx, "onboarding refusal not counted", "reason", reason, "error", cerr)
	}
}

// ReasonUnknown is the reason of a refusal whose body names no catalogue problem type (none
// does: every refusal is rendered by problem.Response).
const ReasonUnknown = "unknown"

// RefusalReason is the reason a refusal is counted under: its problem type's anchor.
func RefusalReason(resp lambdaevents.APIGatewayProxyResponse) string {
	var p struct {
		Type string `json:"type"`
	}
	if json.Unmarshal([]byte(resp.Body), &p) != nil {
		return ReasonUnknown
	}
	t, ok := problem.Lookup(p.Type)
	if !ok {
		return ReasonUnknown
	}
	return t.Anchor()
}

// isRefusal says err carries a 4xx problem for the client.
func isRefusal(err error) bool {
	t, ok := problem.Of(err)
	return ok && t.Status() < 500
}

// refused logs a refusal (the error chain, which names no secret) and renders its problem.
func refused(ctx context.Context, partnerID string, err error) lambdaevents.APIGatewayProxyResponse {
	p := problem.From(err)
	attrs := []any{"problem", p.Type, "status", p.Status, "reason", err.Error()}
	if partnerID != "" {
		attrs = append(attrs, "partner", partnerID)
	}
	slog.InfoContext(ctx, "onboarding refused", attrs...)
	return problem.Response(p)
}

// replay answers at now with a completed record's answer: a refusal as it was, a 202 without
// its pick-up token (shown once), and a 201 with the key read back from the secret version the
// record names — but only within the policy's replay window from the answer; after it, 409
// replay-window-closed and no key. The record stays until its purge, so a late replay runs
// nothing again.
func (h *Handler) replay(ctx context.Context, rec record, now time.Time) (lambdaevents.APIGatewayProxyResponse, error) {
	switch rec.StatusCode {
	case 201:
		window := h.Policy.Onboarding.ReplayWindow.Std()
		if age := now.Sub(rec.AnsweredAt()); age > window {
			return refused(ctx, rec.PartnerID, problem.ReplayWindowClosed.New("").WithCause(
				fmt.Errorf("idempotency record %s was answered with a key %s ago, past the replay window of %s", rec.Key, age, window))), nil
		}
	case 202:
		resp, err := replayPending(rec.ResponseBody)
		if err != nil {
			return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("replay idempotency record %s: %w", rec.Key, err)
		}
		slog.InfoContext(ctx, "onboarding replayed", "partner", rec.PartnerID, "status", rec.StatusCode)
		return resp, nil
	default:
		var p problem.Problem
		if err := json.Unmarshal([]byte(rec.ResponseBody), &p); err != nil {
			return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("replay idempotency record %s: stored problem does not decode: %w", rec.Key, err)
		}
		slog.InfoContext(ctx, "onboarding replayed", "partner", rec.PartnerID, "status", rec.StatusCode, "problem", p.Type)
		return problem.Response(p), nil
	}
	answer, err := storedAnswer(rec.ResponseBody)
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("replay idempotency record %s: %w", rec.Key, err)
	}
	key, _, err := h.readKey(ctx, rec.SecretARN, rec.SecretVersionID)
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("replay idempotency record %s of partner %s: %w", rec.Key, rec.PartnerID, err)
	}
	// The key is shown again: recorded before it is answered, like every pick-up.
	shown := &events.CredentialPickedUp{
		Meta:   events.NewMeta(rec.PartnerID, events.Actor{Kind: events.ActorPartner, ID: rec.PartnerID}, now),
		KeyID:  answer.KeyID,
		Method: events.PickedUpReplay,
	}
	if _, err := (&outbox.Store{DB: h.DB, Table: h.Tables.Outbox}).Commit(ctx, rec.PartnerID, shown, nil); err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("replay idempotency record %s of partner %s: record the key shown again: %w", rec.Key, rec.PartnerID, err)
	}
	resp, err := answer.render(key)
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("replay idempotency record %s: %w", rec.Key, err)
	}
	slog.InfoContext(ctx, "onboarding replayed", "partner", rec.PartnerID, "status", rec.StatusCode, "key", answer.KeyID)
	return resp, nil
}

// attempt is one attempt at an onboarding or a pick-up under a held claim.
type attempt struct {
	h     *Handler
	ids   idempotencyTable
	claim *claim
	now   time.Time
	// secretMayExist says a secret for the claim's partner may exist: this attempt asked for
	// it, or an earlier attempt under the claim may have.
	secretMayExist bool
	// orphan deletes, when the request is refused, a secret the claim may have made that no
	// partner will ever name.
	orphan func(ctx context.Context) error
}

// run runs do and settles the claim: a refusal completes it (after deleting a secret no partner
// will name), an internal failure releases it for the client's retry, a lost lease leaves it to
// the attempt that holds it now.
func (a *attempt) run(ctx context.Context, do func(context.Context) (lambdaevents.APIGatewayProxyResponse, error)) (lambdaevents.APIGatewayProxyResponse, error) {
	a.secretMayExist = a.claim.TakenOver
	resp, err := do(ctx)
	switch {
	case err == nil:
		return resp, nil
	case errors.Is(err, errLeaseLost):
		return a.leaseLost(ctx, err), nil
	case isRefusal(err):
		return a.refuse(ctx, err)
	default:
		return lambdaevents.APIGatewayProxyResponse{}, a.fail(ctx, err)
	}
}

// leaseLost answers 409: another attempt took the claim over and will answer the request.
func (a *attempt) leaseLost(ctx context.Context, err error) lambdaevents.APIGatewayProxyResponse {
	slog.WarnContext(ctx, "onboarding attempt lost its claim", "partner", a.claim.PartnerID, "error", err)
	return problem.Response(problem.IdempotencyInFlight.New("").Problem())
}

// refuse completes the claim with the refusal, so a replay gets it too. A secret this claim may
// own and no partner will name is deleted first.
func (a *attempt) refuse(ctx context.Context, refusal error) (lambdaevents.APIGatewayProxyResponse, error) {
	if a.secretMayExist && a.orphan != nil {
		if err := a.orphan(ctx); err != nil {
			return lambdaevents.APIGatewayProxyResponse{}, a.fail(ctx, fmt.Errorf("refusing (%w): %w", refusal, err))
		}
	}
	resp := problem.Response(problem.From(refusal))
	if err := a.ids.complete(ctx, a.claim, a.now, resp.StatusCode, resp.Body); err != nil {
		if errors.Is(err, errLeaseLost) {
			return a.leaseLost(ctx, err), nil
		}
		return lambdaevents.APIGatewayProxyResponse{}, a.fail(ctx, fmt.Errorf("record the refusal (%w): %w", refusal, err))
	}
	return refused(ctx, a.claim.PartnerID, refusal), nil
}

// fail releases the claim so the client's retry can take it over at once, and returns err for
// the 500 answer. The secret stays: the retry finds it by the claim's version id.
func (a *attempt) fail(ctx context.Context, err error) error {
	if rerr := a.ids.release(ctx, a.claim); rerr != nil && !errors.Is(rerr, errLeaseLost) {
		return fmt.Errorf("partner %s: %w (releasing the claim failed too: %w)", a.claim.PartnerID, err, rerr)
	}
	return fmt.Errorf("partner %s: %w", a.claim.PartnerID, err)
}

// onboard checks the identity proof (an STS request's principal verified already), the scopes
// and the tier, then either issues the key or, for a tier that needs an ops approval, records
// a pending onboarding; either way it commits the decision. Its error is a refusal (a 4xx
// problem), errLeaseLost, or internal.
func (a *attempt) onboard(ctx context.Context, req createRequest, verified stsproof.Identity) (lambdaevents.APIGatewayProxyResponse, error) {
	h, c, now := a.h, a.claim, a.now
	none := lambdaevents.APIGatewayProxyResponse{}

	pr, err := a.prove(ctx, req, verified)
	if err != nil {
		return none, err
	}
	decision := h.Policy.Decide(pr.Tier, req.Scopes)
	slog.InfoContext(ctx, "scope decision", "partner", c.PartnerID, "identity", pr.Identity.Method,
		"invite", inviteID(pr), "account", pr.Identity.AccountID,
		"tier", decision.Tier, "allowed", decision.Allowed, "requested", decision.Requested,
		"denied", decision.Denied, "justification", decision.Justification,
		"policyRevision", decision.PolicyRevision, "policyDigest", decision.PolicyDigest)
	if !decision.Allowed {
		return none, problem.NewScopesNotAllowed(pr.Tier, decision.Denied).WithCause(errors.New(decision.Justification))
	}
	tier, ok := h.Policy.Tier(pr.Tier)
	if !ok { // Decide allows no scope of an undeclared tier
		return none, fmt.Errorf("tier %q of the identity proof is not declared", pr.Tier)
	}
	g := grant{
		PartnerName:    req.PartnerName,
		Tier:           tier,
		Scopes:         decision.Requested,
		Identity:       pr.Identity,
		InviteID:       inviteID(pr),
		Justification:  decision.Justification,
		PolicyRevision: decision.PolicyRevision,
	}
	if tier.ApprovalRequired {
		return a.pend(ctx, pr, g)
	}

	a.secretMayExist = true // from the CreateSecret call on, whatever it answers
	iss, err := h.issue(ctx, c, g, now)
	if err != nil {
		return none, err
	}
	var changes []change
	changes = append(changes, proofChanges(h, pr, c.PartnerID, now, partners.AccountClaim{})...)
	for _, it := range iss.Items {
		changes = append(changes, change{item: it})
	}
	changes = append(changes, change{item: types.TransactWriteItem{Update: a.ids.completion(c, now, iss.Response.StatusCode, iss.Stored, iss.SecretARN)}})
	records, err := a.commit(ctx, iss.Details, changes)
	if err != nil {
		return none, err
	}
	slog.InfoContext(ctx, "partner onboarded", "partner", c.PartnerID, "key", iss.Key.ID(),
		"tier", tier.Name, "scopes", g.Scopes, "identity", pr.Identity.Method, "invite", g.InviteID,
		"account", pr.Identity.AccountID, "arn", pr.Identity.ARN, "secret", iss.SecretARN,
		"secretVersion", c.SecretVersionID, "justification", g.Justification,
		"policyRevision", g.PolicyRevision, "outboxSeqs", seqs(records), "takenOver", c.TakenOver)
	h.enableRotation(ctx, c.PartnerID, iss.SecretARN, tier)
	return iss.Response, nil
}

// pend records a pending onboarding for a tier that needs an ops approval: nothing is issued
// yet; the partner gets a one-time pick-up token to collect its key with once ops approve. The
// proof is used up (the invite redeemed, the account claimed) in the same transaction.
func (a *attempt) pend(ctx context.Context, pr proof, g grant) (lambdaevents.APIGatewayProxyResponse, error) {
	h, c, now := a.h, a.claim, a.now
	none := lambdaevents.APIGatewayProxyResponse{}
	token, err := newPickupToken(h.rand())
	if err != nil {
		return none, err
	}
	o := Onboarding{
		ID:              NewOnboardingID(),
		PartnerID:       c.PartnerID,
		SecretVersionID: c.SecretVersionID,
		PartnerName:     g.PartnerName,
		Tier:            g.Tier.Name,
		Scopes:          g.Scopes,
		IdentityMethod:  pr.Identity.Method,
		InviteID:        g.InviteID,
		AccountID:       pr.Identity.AccountID,
		ARN:             pr.Identity.ARN,
		PickupTokenHash: PickupTokenHash(token),
		Status:          StatusPending,
		Justification:   g.Justification,
		PolicyRevision:  g.PolicyRevision,
		CreatedAt:       now,
		ExpiresAt:       now.Add(PendingLifetime),
	}
	answer := pendingAnswer{OnboardingID: o.ID, Status: string(StatusPending), ExpiresAt: formatTime(o.ExpiresAt)}
	stored, err := answer.stored()
	if err != nil {
		return none, err
	}
	resp, err := answer.render(token)
	if err != nil {
		return none, err
	}
	details := []events.Detail{&events.OnboardingPending{
		Meta:          events.NewMeta(c.PartnerID, events.Actor{Kind: events.ActorPartner, ID: c.PartnerID}, now),
		OnboardingID:  o.ID,
		PartnerName:   o.PartnerName,
		Tier:          o.Tier,
		Scopes:        o.Scopes,
		Identity:      o.Identity(),
		Justification: o.Justification,
		ExpiresAt:     o.ExpiresAt,
	}}
	claimed := partners.AccountClaim{OnboardingID: o.ID, ExpiresAt: o.ExpiresAt}
	put, err := onboardings.PutPending(h.Tables.Onboardings, o)
	if err != nil {
		return none, err
	}
	changes := proofChanges(h, pr, c.PartnerID, now, claimed)
	changes = append(changes,
		change{item: put},
		change{item: types.TransactWriteItem{Update: a.ids.completion(c, now, resp.StatusCode, stored, "")}},
	)
	records, err := a.commit(ctx, details, changes)
	if err != nil {
		return none, err
	}
	slog.InfoContext(ctx, "onboarding pending approval", "onboarding", o.ID, "partner", c.PartnerID,
		"tier", o.Tier, "scopes", o.Scopes, "identity", o.IdentityMethod, "invite", o.InviteID,
		"account", o.AccountID, "arn", o.ARN, "expiresAt", formatTime(o.ExpiresAt),
		"justification", o.Justification, "policyRevision", o.PolicyRevision,
		"outboxSeqs", seqs(records), "takenOver", c.TakenOver)
	return resp, nil
}

// proofChanges are the items that use the identity proof up: the invite's redemption, or the
// AWS account's claim (pending when pending names an onboarding). Each refuses the request when
// its condition fails.
func proofChanges(h *Handler, pr proof, partnerID string, now time.Time, pending partners.AccountClaim) []change {
	if pr.Invite != nil {
		inv := *pr.Invite
		return []change{{
			item: invites.Redeem(h.Tables.Invites, inv, partnerID, now),
			refusal: func(err error) error {
				return problem.InviteInvalid.New("").WithCause(fmt.Errorf("invite %s was redeemed by another onboarding, or expired, before the commit: %w", inv.ID, err))
			},
		}}
	}
	acct := pending
	acct.AccountID, acct.PartnerID, acct.ARN, acct.CreatedAt = pr.Identity.AccountID, partnerID, pr.Identity.ARN, now
	return []change{{
		item: partners.ClaimAccount(h.Tables.Partners, acct, now),
		refusal: func(err error) error {
			return errAccountTaken(acct.AccountID, fmt.Errorf("claimed by another onboarding before the commit: %w", err))
		},
	}}
}

func inviteID(pr proof) string {
	if pr.Invite == nil {
		return ""
	}
	return pr.Invite.ID
}

// change is one state change of a decision's transaction.
type change struct {
	item types.TransactWriteItem
	// refusal, when set, is the answer to the request when the item's condition fails;
	// otherwise a failing condition is an internal error.
	refusal func(err error) error
}

// commit records the decision — the events details, for the claim's partner, and changes,
// whose last item must complete the claim — in one transaction. The claim's completion
// condition failing means another attempt took the claim over: it owns the request, so nothing
// is undone (errLeaseLost), even if another condition failed too: the other attempt may have
// committed with it. Otherwise a failing condition is its change's refusal, or internal.
func (a *attempt) commit(ctx context.Context, details []events.Detail, changes []change) ([]outbox.Record, error) {
	items := make([]types.TransactWriteItem, len(changes))
	for i, c := range changes {
		items[i] = c.item
	}
	out := &outbox.Store{DB: a.h.DB, Table: a.h.Tables.Outbox}
	records, err := out.CommitAll(ctx, a.claim.PartnerID, details, items)
	if err == nil {
		return records, nil
	}
	var stateErr *outbox.StateChangeError
	if !errors.As(err, &stateErr) {
		return nil, fmt.Errorf("commit: %w", err)
	}
	if lastConditionFailed(err) {
		return nil, fmt.Errorf("commit: %w: %w", errLeaseLost, err)
	}
	if i := stateErr.Index; i >= 0 && i < len(changes) && changes[i].refusal != nil {
		return nil, changes[i].refusal(err)
	}
	return nil, fmt.Errorf("commit: %w", err)
}

func seqs(records []outbox.Record) []int64 {
	out := make([]int64, len(records))
	for i, r := range records {
		out[i] = r.Seq
	}
	return out
}

// lastConditionFailed says the transaction in err was cancelled with the condition of its last
// item failing.
func lastConditionFailed(err error) bool {
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) || len(canceled.CancellationReasons) == 0 {
		return false
	}
	return aws.ToString(canceled.CancellationReasons[len(canceled.CancellationReasons)-1].Code) == "ConditionalCheckFailed"
}
