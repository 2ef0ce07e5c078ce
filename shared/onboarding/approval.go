package onboarding

import (
	"errors"

	"github.com/lanyardhq/lanyard/shared/policy"
	"github.com/lanyardhq/lanyard/shared/problem"
)

// refuseUnapproved is the one place onboarding meets a tier's ops approval
// (policy.Tier.ApprovalRequired). This deployment has no approval flow yet — the next issue adds
// it, and replaces this function — so a tier that needs one cannot onboard at all rather than
// onboard unapproved: 403 access-denied, saying why. The refusal is a decision on the request,
// kept in the idempotency record like the other 403s.
func refuseUnapproved(t policy.Tier) error {
	if !t.ApprovalRequired {
		return nil
	}
	return problem.AccessDenied.Newf("Tier %s needs an ops approval, which this deployment does not offer yet.", t.Name).
		WithCause(errors.New("approvals are not implemented: the tier's approvalRequired is true"))
}
