package onboarding

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/invite"
	"github.com/lanyardhq/lanyard/shared/problem"
	"github.com/lanyardhq/lanyard/shared/stsproof"
)

// IdentityVerifier checks a signed STS GetCallerIdentity request and says which AWS principal
// signed it (stsproof.Verifier). A request it refuses gives an error matching
// stsproof.ErrInvalid; any other error is a failure to find out (STS unreachable …), answered
// 500 and retried by the client.
type IdentityVerifier interface {
	Verify(ctx context.Context, req stsproof.Request) (stsproof.Identity, error)
}

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
	id, err := h.Identity.Verify(ctx, req.IdentityRequest.reveal())
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
// partner name), or the principal verifyIdentity found for the signed STS request (whose
// account must be on the policy's allow-list and not onboarded already). Its error is a
// refusal or internal.
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

	tier, ok := h.Policy.TierForAccount(id.AccountID)
	if !ok {
		return proof{}, problem.AccountNotAllowed.New("").WithCause(fmt.Errorf("AWS account %s (%s) is not on the allow-list of policy revision %d", id.AccountID, id.ARN, h.Policy.Revision))
	}
	if err := checkAccountFree(ctx, h.DB, h.Tables.Partners, id.AccountID, now); err != nil {
		return proof{}, err
	}
	return proof{Identity: events.Identity{Method: events.ProofSTS, AccountID: id.AccountID, ARN: id.ARN}, Tier: tier}, nil
}
