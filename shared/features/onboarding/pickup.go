package onboarding

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/openapi"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/onboardings"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// OnboardingIDParameter is the path parameter of the pick-up and the admin routes.
const OnboardingIDParameter = "onboardingId"

// PickupPendingDetail is the detail of the 409 a pick-up before the approval gets.
const PickupPendingDetail = "The onboarding is waiting for an ops approval. Retry the pick-up later, with the same pick-up token."

// errPickupPending answers a pick-up of an onboarding ops have not decided yet: 409, so the
// partner knows to retry. It is answered before the claim, so nothing is recorded under the
// Idempotency-Key and the same key works once ops approve.
func errPickupPending(o Onboarding) error {
	return problem.Conflict.New(PickupPendingDetail).WithCause(fmt.Errorf("onboarding %s is pending approval", o.ID))
}

// errPickupInvalid is the one answer for every pick-up that cannot be: the cause for the log.
func errPickupInvalid(cause error) error {
	return problem.PickupInvalid.New("").WithCause(cause)
}

// parsePickup validates body against the pickUpOnboarding schema and reads the token into a
// secret.Value.
func parsePickup(body []byte) (secret.Value, error) {
	if err := openapi.ValidateBody(openapi.OpPickUpOnboarding, body); err != nil {
		return secret.Value{}, fmt.Errorf("validate request body: %w", err)
	}
	var wire struct {
		PickupToken string `json:"pickupToken"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		return secret.Value{}, problem.BadRequest.New("").WithCause(errors.New("validated body does not decode"))
	}
	return secret.New(wire.PickupToken), nil
}

// pickupHash is the SHA-256 (hex) of the canonical pick-up request: the onboarding and the
// token.
func pickupHash(onboardingID string, token secret.Value) string {
	canonical, _ := json.Marshal(struct { // strings only: cannot fail
		OnboardingID string `json:"onboardingId"`
		PickupToken  string `json:"pickupToken"`
	}{onboardingID, token.Reveal()})
	sum := sha256.Sum256(canonical)
	clear(canonical)
	return hex.EncodeToString(sum[:])
}

// handlePickup answers POST /v1/onboardings/{onboardingId}/pickup: the partner of an approved
// onboarding collects its key, exactly once, with the pick-up token.
//
// Before the claim (nothing recorded under the Idempotency-Key): the header, the body, the
// onboarding and its token — an unknown onboarding or another token is 403 pickup-invalid —
// and whether ops have decided yet: 409 conflict while pending. Under the claim: a replay is
// answered from the record; an onboarding that is not approved (denied, expired, collected
// already) is 403 pickup-invalid, recorded; an approved one is issued exactly as an onboarding
// without approval is (Handler.issue), under the partner id and secret version id the
// onboarding reserved, and marked collected in the same transaction, which also records
// Credential Picked Up (method "onboarding") after Partner Onboarded and Credential Issued. Of two pick-ups with
// different keys, both converge on the one secret and one commits; the other is refused.
func (h *Handler) handlePickup(ctx context.Context, span *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
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
	token, err := parsePickup(body)
	if err != nil {
		return refused(ctx, "", err), nil
	}
	id := req.PathParameters[OnboardingIDParameter]
	if !ValidOnboardingID(id) {
		return refused(ctx, "", errPickupInvalid(errors.New("the onboarding id is malformed"))), nil
	}
	resp, err := h.pickUpWellFormed(ctx, span, idemKey, id, token)
	h.countRefusal(ctx, resp, err)
	return resp, err
}

// pickUpWellFormed answers a pick-up whose request passed the shape check: the header, the
// content type, the body and the onboarding id's form.
func (h *Handler) pickUpWellFormed(ctx context.Context, span *tracing.Span, idemKey secret.Value, id string, token secret.Value) (lambdaevents.APIGatewayProxyResponse, error) {
	now := h.now()
	o, found, err := onboardings.Get(ctx, h.DB, h.Tables.Onboardings, id)
	switch {
	case err != nil:
		return lambdaevents.APIGatewayProxyResponse{}, err
	case !found:
		return refused(ctx, "", errPickupInvalid(fmt.Errorf("no onboarding %s", id))), nil
	case !tokenMatches(o, token):
		return refused(ctx, "", errPickupInvalid(fmt.Errorf("the pick-up token is not onboarding %s's", id))), nil
	case o.Effective(now) == StatusPending:
		return refused(ctx, o.PartnerID, errPickupPending(o)), nil
	}
	span.Annotate("partner", o.PartnerID)

	ids := h.idempotencyTable()
	reserved := func() (string, string, error) { return o.PartnerID, o.SecretVersionID, nil }
	res, err := ids.claim(ctx, pickupScope(token).recordKey(PickupKeyPrefix, idemKey), pickupHash(id, token), now, reserved)
	switch {
	case err != nil && isRefusal(err):
		return refused(ctx, o.PartnerID, err), nil
	case err != nil:
		return lambdaevents.APIGatewayProxyResponse{}, err
	case res.Replay != nil:
		return h.replay(ctx, *res.Replay, now)
	}
	a := &attempt{h: h, ids: ids, claim: res.Claim, now: now}
	a.orphan = func(ctx context.Context) error { return a.dropUncollectedSecret(ctx, o) }
	return a.run(ctx, func(ctx context.Context) (lambdaevents.APIGatewayProxyResponse, error) {
		return a.pickUp(ctx, o)
	})
}

// pickUp issues the key of the approved onboarding o and marks it collected, in one decision.
// Any other onboarding is refused, and the refusal recorded (handlePickup answered a pending
// one before the claim).
func (a *attempt) pickUp(ctx context.Context, o Onboarding) (lambdaevents.APIGatewayProxyResponse, error) {
	h, c, now := a.h, a.claim, a.now
	none := lambdaevents.APIGatewayProxyResponse{}
	if st := o.Effective(now); st != StatusApproved {
		return none, errPickupInvalid(fmt.Errorf("onboarding %s is %s", o.ID, st))
	}
	tier, ok := h.Policy.Tier(o.Tier)
	if !ok {
		return none, fmt.Errorf("tier %q of onboarding %s is not declared in policy revision %d", o.Tier, o.ID, h.Policy.Revision)
	}

	a.secretMayExist = true
	iss, err := h.issue(ctx, c, grant{
		PartnerName:    o.PartnerName,
		Tier:           tier,
		Scopes:         o.Scopes,
		Identity:       o.Identity(),
		InviteID:       o.InviteID,
		Justification:  fmt.Sprintf("%s; approved by %s at %s (onboarding %s)", o.Justification, o.DecidedBy, formatTime(o.DecidedAt), o.ID),
		PolicyRevision: o.PolicyRevision,
	}, now)
	if err != nil {
		return none, err
	}
	changes := []change{{
		item: onboardings.Collect(h.Tables.Onboardings, o, now),
		refusal: func(err error) error {
			return errPickupInvalid(fmt.Errorf("onboarding %s was collected by another pick-up, or expired, before the commit: %w", o.ID, err))
		},
	}}
	if o.IdentityMethod == events.ProofSTS {
		changes = append(changes, change{item: partners.SettleAccount(h.Tables.Partners, o.AccountID, o.PartnerID)})
	}
	for _, it := range iss.Items {
		changes = append(changes, change{item: it})
	}
	changes = append(changes, change{item: types.TransactWriteItem{Update: a.ids.completion(c, now, iss.Response.StatusCode, iss.Stored, iss.SecretARN)}})
	// The key is handed out in this answer: the pick-up is recorded with the partner's
	// onboarding and its key, after them on its chain.
	details := append(iss.Details, &events.CredentialPickedUp{
		Meta:         events.NewMeta(c.PartnerID, events.Actor{Kind: events.ActorPartner, ID: c.PartnerID}, now),
		KeyID:        string(iss.Key.ID()),
		Method:       events.PickedUpOnboarding,
		OnboardingID: o.ID,
	})
	records, err := a.commit(ctx, details, changes)
	if err != nil {
		return none, err
	}
	slog.InfoContext(ctx, "onboarding collected: partner onboarded", "onboarding", o.ID, "partner", c.PartnerID,
		"key", iss.Key.ID(), "tier", tier.Name, "scopes", o.Scopes, "identity", o.IdentityMethod,
		"invite", o.InviteID, "account", o.AccountID, "arn", o.ARN, "approvedBy", o.DecidedBy,
		"secret", iss.SecretARN, "secretVersion", c.SecretVersionID, "outboxSeqs", seqs(records),
		"takenOver", c.TakenOver)
	h.enableRotation(ctx, c.PartnerID, iss.SecretARN, tier)
	return iss.Response, nil
}

// dropUncollectedSecret deletes, after a refused pick-up, the secret the pick-up (or an earlier
// one under its claim) may have created — but only once no pick-up can collect the onboarding
// any more: it seals an approved onboarding past its expiry first. A collected onboarding's
// secret is its partner's and stays; so does one another pick-up may still collect.
func (a *attempt) dropUncollectedSecret(ctx context.Context, o Onboarding) error {
	sealed, err := sealExpired(ctx, a.h.DB, a.h.Tables.Onboardings, o, a.now)
	if err != nil {
		return err
	}
	if !sealed {
		return nil
	}
	if err := a.h.deleteSecret(ctx, o.PartnerID); err != nil {
		return fmt.Errorf("onboarding %s expired uncollected: %w", o.ID, err)
	}
	slog.InfoContext(ctx, "secret of an uncollected onboarding deleted", "onboarding", o.ID, "partner", o.PartnerID)
	return nil
}
