package onboarding

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/stores/onboardings"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// One partner per AWS account: an onboarding by STS identity proof claims its account in the
// partners table (partners.ClaimAccount), in the transaction that onboards the partner or
// records its pending onboarding.

// errAccountTaken is the refusal of a second onboarding of one AWS account.
func errAccountTaken(accountID string, cause error) error {
	return problem.Conflict.New("This AWS account already has a Lanyard partner, or an onboarding waiting for approval. Ask your Lanyard contact.").
		WithCause(fmt.Errorf("AWS account %s is claimed: %w", accountID, cause))
}

// checkAccountFree refuses, before anything is created, an onboarding of an account another
// partner holds: onboarded, or pending and not expired at now. The transaction's condition
// (partners.ClaimAccount) is what guarantees it; this read only spares the work.
func checkAccountFree(ctx context.Context, db onboardings.Reader, table, accountID string, now time.Time) error {
	hold, found, err := (&partners.Store{DB: db, Table: table}).GetAccountHold(ctx, accountID)
	if err != nil {
		return err
	}
	if !found {
		return nil
	}
	if hold.State == partners.AccountPending && hold.ExpiresAt.UnixMilli() <= now.UnixMilli() {
		return nil // expired: the transaction replaces it
	}
	return errAccountTaken(accountID, errors.New("held by partner "+hold.Owner+" ("+hold.State+")"))
}
