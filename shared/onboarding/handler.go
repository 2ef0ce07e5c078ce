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
	"github.com/lanyardhq/lanyard/shared/credential"
	"github.com/lanyardhq/lanyard/shared/invite"
	"github.com/lanyardhq/lanyard/shared/outbox"
	"github.com/lanyardhq/lanyard/shared/partner"
	"github.com/lanyardhq/lanyard/shared/policy"
	"github.com/lanyardhq/lanyard/shared/problem"
	"github.com/lanyardhq/lanyard/shared/registry"
	"github.com/lanyardhq/lanyard/shared/tracing"
)

// DynamoDBAPI is the part of the DynamoDB client onboarding uses: the outbox's reads and
// transaction, the invite lookup, and the idempotency record's conditional writes.
type DynamoDBAPI interface {
	outbox.DynamoDBAPI // GetItem, Query, TransactWriteItems
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Tables names the tables onboarding writes (the topology's "invites", "partners",
// "credentials", "idempotency" and "outbox").
type Tables struct {
	Invites     string
	Partners    string
	Credentials string
	Idempotency string
	Outbox      string
}

// Handler answers POST /v1/partners. Build it once per cold start; it is safe for concurrent
// use.
type Handler struct {
	DB      DynamoDBAPI
	Secrets SecretsAPI
	Tables  Tables
	// Policy decides the scopes and gives the tier's key lifetime (policy.Default).
	Policy *policy.Policy
	// SecretPrefix starts every partner secret's name ("lanyard/partners/").
	SecretPrefix string
	// KMSKeyID encrypts the secrets (the stack's key); empty means Secrets Manager's default key.
	KMSKeyID string
	// Env is the environment the keys are minted for; empty means credential.EnvLive.
	Env credential.Environment
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness of keys and secret version ids; nil means crypto/rand.Reader.
	Rand io.Reader
	// Lease is how long a claim is held before another attempt may take it over; zero means
	// DefaultLease. Keep it above the function's timeout.
	Lease time.Duration
}

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

// Handle answers one POST /v1/partners. It never returns an error: every failure is a
// problem+json answer, and a 5xx one is logged with its whole error chain.
func (h *Handler) Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	ctx, span := tracing.Start(ctx, "onboarding")
	resp, err := h.handle(ctx, span, req)
	span.End(err)
	if err != nil {
		slog.ErrorContext(ctx, "onboarding failed", "error", err)
		return problem.Response(problem.Internal.New("").Problem()), nil
	}
	return resp, nil
}

// handle returns the answer, or an internal error (answered 500).
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

	now := h.now()
	ids := h.idempotencyTable()
	res, err := ids.claim(ctx, IdempotencyKeyPrefix+idemKey, cr.hash(), now, h.newVersionID)
	switch {
	case err != nil && isRefusal(err):
		return refused(ctx, "", err), nil
	case err != nil:
		return lambdaevents.APIGatewayProxyResponse{}, err
	case res.Replay != nil:
		span.Annotate("partner", res.Replay.PartnerID)
		return h.replay(ctx, *res.Replay)
	}
	span.Annotate("partner", res.Claim.PartnerID)
	a := &attempt{h: h, ids: ids, claim: res.Claim, req: cr, now: now}
	return a.run(ctx)
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

// replay answers with a completed record's answer: a refusal as it was, a 201 with the key read
// back from the secret version the record names.
func (h *Handler) replay(ctx context.Context, rec record) (lambdaevents.APIGatewayProxyResponse, error) {
	if rec.StatusCode != 201 {
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
	resp, err := answer.render(key)
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("replay idempotency record %s: %w", rec.Key, err)
	}
	slog.InfoContext(ctx, "onboarding replayed", "partner", rec.PartnerID, "status", rec.StatusCode, "key", answer.KeyID)
	return resp, nil
}

// attempt is one attempt at onboarding under a held claim.
type attempt struct {
	h     *Handler
	ids   idempotencyTable
	claim *claim
	req   createRequest
	now   time.Time
	// secretMayExist says a secret named for the claim's partner may exist: this attempt asked
	// for it, or an earlier attempt under the claim may have.
	secretMayExist bool
}

// run onboards and settles the claim: a refusal completes it (after deleting a secret no
// partner will name), an internal failure releases it for the client's retry, a lost lease
// leaves it to the attempt that holds it now.
func (a *attempt) run(ctx context.Context) (lambdaevents.APIGatewayProxyResponse, error) {
	a.secretMayExist = a.claim.TakenOver
	resp, err := a.onboard(ctx)
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
// own is deleted first: no partner will ever name it.
func (a *attempt) refuse(ctx context.Context, refusal error) (lambdaevents.APIGatewayProxyResponse, error) {
	if a.secretMayExist {
		if err := a.h.deleteSecret(ctx, a.claim.PartnerID); err != nil {
			return lambdaevents.APIGatewayProxyResponse{}, a.fail(ctx, fmt.Errorf("refusing (%w): %w", refusal, err))
		}
	}
	resp := problem.Response(problem.From(refusal))
	if err := a.ids.complete(ctx, a.claim, resp.StatusCode, resp.Body); err != nil {
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
		return fmt.Errorf("onboarding partner %s: %w (releasing the claim failed too: %w)", a.claim.PartnerID, err, rerr)
	}
	return fmt.Errorf("onboarding partner %s: %w", a.claim.PartnerID, err)
}

// onboard checks the invite, the scopes and the tier, issues the key and commits the decision.
// Its error is a refusal (a 4xx problem), errLeaseLost, or internal.
func (a *attempt) onboard(ctx context.Context) (lambdaevents.APIGatewayProxyResponse, error) {
	h, c, now := a.h, a.claim, a.now
	none := lambdaevents.APIGatewayProxyResponse{}

	invites := &invite.Store{DB: h.DB, Table: h.Tables.Invites, Now: func() time.Time { return now }}
	inv, err := invites.Lookup(ctx, a.req.InviteCode)
	switch {
	case errors.Is(err, invite.ErrInvalid):
		return none, problem.InviteInvalid.New("").WithCause(err)
	case err != nil:
		return none, fmt.Errorf("look up the invite: %w", err)
	case inv.PartnerName != a.req.PartnerName:
		return none, problem.InviteInvalid.New("").WithCause(fmt.Errorf("invite %s was issued for another partner name", inv.ID))
	}

	decision := h.Policy.Decide(inv.Tier, a.req.Scopes)
	slog.InfoContext(ctx, "scope decision", "partner", c.PartnerID, "invite", inv.ID,
		"tier", decision.Tier, "allowed", decision.Allowed, "requested", decision.Requested,
		"denied", decision.Denied, "justification", decision.Justification,
		"policyRevision", decision.PolicyRevision, "policyDigest", decision.PolicyDigest)
	if !decision.Allowed {
		return none, problem.NewScopesNotAllowed(inv.Tier, decision.Denied).WithCause(errors.New(decision.Justification))
	}
	tier, ok := h.Policy.Tier(inv.Tier)
	if !ok { // Decide allows no scope of an undeclared tier
		return none, fmt.Errorf("tier %q of invite %s is not declared", inv.Tier, inv.ID)
	}
	if err := refuseUnapproved(tier); err != nil {
		return none, err
	}

	a.secretMayExist = true // from the CreateSecret call on, whatever it answers
	key, secretARN, err := h.issueKey(ctx, c)
	if err != nil {
		return none, err
	}

	notAfter := now.Add(tier.KeyLifetime.Std())
	answer := onboarded{
		PartnerID: c.PartnerID,
		KeyID:     string(key.ID()),
		Scopes:    decision.Requested,
		Tier:      tier.Name,
		ExpiresAt: formatTime(notAfter),
	}
	stored, err := answer.stored()
	if err != nil {
		return none, err
	}
	resp, err := answer.render(key)
	if err != nil {
		return none, err
	}

	actor := events.Actor{Kind: events.ActorPartner, ID: c.PartnerID}
	details := []events.Detail{
		&events.PartnerOnboarded{
			Meta:          events.NewMeta(c.PartnerID, actor, now),
			PartnerName:   inv.PartnerName,
			Tier:          tier.Name,
			Scopes:        decision.Requested,
			Identity:      events.Identity{Method: events.ProofInvite},
			Justification: decision.Justification,
		},
		&events.CredentialIssued{
			Meta:      events.NewMeta(c.PartnerID, actor, now),
			KeyID:     string(key.ID()),
			SecretARN: secretARN,
			Scopes:    decision.Requested,
			NotBefore: now,
			ExpiresAt: notAfter,
		},
	}
	stateChanges := []types.TransactWriteItem{
		invite.Redeem(h.Tables.Invites, inv, c.PartnerID, now), // index 0: see below
		partner.PutNew(h.Tables.Partners, partner.Partner{
			PartnerID:      c.PartnerID,
			PartnerName:    inv.PartnerName,
			Tier:           tier.Name,
			Scopes:         decision.Requested,
			Status:         partner.StatusActive,
			KeyID:          string(key.ID()),
			SecretARN:      secretARN,
			IdentityMethod: partner.IdentityMethodInvite,
			InviteID:       inv.ID,
			Justification:  decision.Justification,
			PolicyRevision: decision.PolicyRevision,
			CreatedAt:      now,
		}),
		registry.PutNew(h.Tables.Credentials, registry.Entry{
			KeyID:           key.ID(),
			PartnerID:       c.PartnerID,
			Verifier:        credential.NewVerifier(key),
			Scopes:          decision.Requested,
			Tier:            tier.Name,
			Status:          registry.StatusActive,
			NotBefore:       now,
			NotAfter:        notAfter,
			SecretARN:       secretARN,
			SecretVersionID: c.SecretVersionID,
			CreatedAt:       now,
		}),
		// Last, so its cancellation reason is the transaction's last.
		{Update: a.ids.completion(c, resp.StatusCode, stored, secretARN)},
	}
	out := &outbox.Store{DB: h.DB, Table: h.Tables.Outbox}
	records, err := out.CommitAll(ctx, c.PartnerID, details, stateChanges)
	if err != nil {
		return none, a.commitFailed(inv, err)
	}

	seqs := make([]int64, len(records))
	for i, r := range records {
		seqs[i] = r.Seq
	}
	slog.InfoContext(ctx, "partner onboarded", "partner", c.PartnerID, "key", key.ID(),
		"tier", tier.Name, "scopes", decision.Requested, "invite", inv.ID, "secret", secretARN,
		"secretVersion", c.SecretVersionID, "justification", decision.Justification,
		"policyRevision", decision.PolicyRevision, "outboxSeqs", seqs, "takenOver", c.TakenOver)
	return resp, nil
}

// commitFailed reads a failed commit. The claim's completion condition failing means another
// attempt took the claim over: it owns the request, so nothing is undone (even if the invite's
// condition failed too: the other attempt may have committed with it). Otherwise the invite's
// condition failing means another onboarding redeemed it first (or it expired meanwhile): a
// refusal, and the caller deletes the secret.
func (a *attempt) commitFailed(inv invite.Invite, err error) error {
	var stateErr *outbox.StateChangeError
	if !errors.As(err, &stateErr) {
		return fmt.Errorf("commit the onboarding: %w", err)
	}
	if lastConditionFailed(err) {
		return fmt.Errorf("commit the onboarding: %w: %w", errLeaseLost, err)
	}
	if stateErr.Index == 0 {
		return problem.InviteInvalid.New("").WithCause(fmt.Errorf("invite %s was redeemed by another onboarding, or expired, before the commit: %w", inv.ID, err))
	}
	return fmt.Errorf("commit the onboarding: %w", err)
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
