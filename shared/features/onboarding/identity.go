package onboarding

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"golang.org/x/text/unicode/norm"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
)

// IdentityVerifier checks a signed STS GetCallerIdentity request, signed over the digest of the
// request it came with (RequestDigest), and says which AWS principal signed it
// (stsproof.Verifier). A request it refuses gives an error matching stsproof.ErrInvalid; any
// other error is a failure to find out (STS unreachable …), answered 500 and retried by the
// client.
type IdentityVerifier interface {
	Verify(ctx context.Context, req stsproof.Request, requestDigest string) (stsproof.Identity, error)
}

var _ IdentityVerifier = (*stsproof.Verifier)(nil)

// proof is a checked identity proof: who the partner is and which tier it joins.
type proof struct {
	Identity events.Identity
	// Tier is the invite's, or the allow-list's for the proven account.
	Tier string
	// Invite is the invite, for the invite method: redeemed by the commit.
	Invite *invite.Invite
}

// verifyIdentity sends the request's signed STS request to the IdentityVerifier and returns
// the principal that signed it. It runs before the idempotency record is looked up, on every
// request and every replay alike: the record is kept under the verified account, and a replay
// is answered only to a proof STS still accepts. Its error is a refusal (identity-proof-invalid,
// recorded nowhere: there is no account to record it under) or internal.
func (h *Handler) verifyIdentity(ctx context.Context, req createRequest) (stsproof.Identity, error) {
	if h.Identity == nil {
		return stsproof.Identity{}, errors.New("identity request: this deployment has no identity verifier")
	}
	// The account this deployment runs in must be known before STS is asked (prove refuses it).
	if _, err := h.hostAccount(ctx); err != nil {
		return stsproof.Identity{}, fmt.Errorf("identity request: %w", err)
	}
	id, err := h.Identity.Verify(ctx, req.IdentityRequest.reveal(), req.IdentityRequest.digest)
	switch {
	case errors.Is(err, stsproof.ErrInvalid):
		return stsproof.Identity{}, problem.IdentityProofInvalid.New("").WithCause(fmt.Errorf("identity request refused: %w", err))
	case err != nil:
		return stsproof.Identity{}, fmt.Errorf("verify the identity request: %w", err)
	case id.AccountID == "" || id.ARN == "":
		return stsproof.Identity{}, errors.New("verify the identity request: STS named no account or principal")
	}
	return id, nil
}

// prove checks the request's identity proof: the invite (which must be for the request's
// partner name), or the principal verifyIdentity found for the signed STS request (signed over
// this request's digest; its account must not be the one this deployment runs in, must be on
// the policy's allow-list with an entry that admits its principal, and must not be onboarded
// already). Its error is a refusal or internal.
func (a *attempt) prove(ctx context.Context, req createRequest, id stsproof.Identity) (proof, error) {
	h, now := a.h, a.now
	if req.IdentityRequest == nil {
		invites := &invite.Store{DB: h.DB, Table: h.Tables.Invites, Now: func() time.Time { return now }}
		inv, err := invites.Lookup(ctx, req.InviteCode)
		switch {
		case errors.Is(err, invite.ErrInvalid):
			return proof{}, problem.InviteInvalid.New("").WithCause(err)
		case err != nil:
			return proof{}, fmt.Errorf("look up the invite: %w", err)
		case norm.NFC.String(inv.PartnerName) != req.PartnerName: // both NFC: an invite issued before names were normalized may not be
			return proof{}, problem.InviteInvalid.New("").WithCause(fmt.Errorf("invite %s was issued for another partner name", inv.ID))
		}
		return proof{Identity: events.Identity{Method: events.ProofInvite}, Tier: inv.Tier, Invite: &inv}, nil
	}

	host, err := h.hostAccount(ctx)
	if err != nil {
		return proof{}, fmt.Errorf("identity request: %w", err)
	}
	if id.AccountID == host {
		// Whatever the allow-list says: a principal of the account Lanyard runs in (a workload
		// next to it, compromised or not) never becomes a partner.
		return proof{}, problem.AccountNotAllowed.New("").WithCause(fmt.Errorf("AWS account %s (%s) is the account this deployment runs in", id.AccountID, id.ARN))
	}
	entry, ok := h.Policy.AccountEntry(id.AccountID)
	if !ok {
		return proof{}, problem.AccountNotAllowed.New("").WithCause(fmt.Errorf("AWS account %s (%s) is not on the allow-list of policy revision %d", id.AccountID, id.ARN, h.Policy.Revision))
	}
	if !entry.Admits(id.ARN) {
		return proof{}, problem.PrincipalNotAllowed.New("").WithCause(fmt.Errorf("principal %s is not one the allow-list entry of AWS account %s admits (policy revision %d)", id.ARN, id.AccountID, h.Policy.Revision))
	}
	if err := checkAccountFree(ctx, h.DB, h.Tables.Partners, id.AccountID, now); err != nil {
		return proof{}, err
	}
	return proof{Identity: events.Identity{Method: events.ProofSTS, AccountID: id.AccountID, ARN: id.ARN}, Tier: entry.Tier}, nil
}

// hostAccount is the AWS account this deployment runs in: HostAccountID, else the account of
// the invoked function's ARN, which Lambda hands every invocation (no AWS call).
func (h *Handler) hostAccount(ctx context.Context) (string, error) {
	if h.HostAccountID != "" {
		return h.HostAccountID, nil
	}
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok || lc.InvokedFunctionArn == "" {
		return "", errors.New("the AWS account this deployment runs in is unknown: no Lambda context and no HostAccountID")
	}
	fn, err := arn.Parse(lc.InvokedFunctionArn)
	if err != nil || len(fn.AccountID) != 12 {
		return "", errors.New("the invoked function's ARN names no AWS account")
	}
	return fn.AccountID, nil
}
