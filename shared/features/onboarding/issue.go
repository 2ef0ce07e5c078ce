package onboarding

import (
	"context"
	"fmt"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// grant is what a partner is admitted with: decided by onboarding on the request, or kept by a
// pending onboarding until its pick-up.
type grant struct {
	PartnerName string
	Tier        policy.Tier
	Scopes      []string // sorted
	Identity    events.Identity
	InviteID    string // the invite method's
	// Justification and PolicyRevision are the scope decision's.
	Justification  string
	PolicyRevision int
}

// issued is a grant made real under a claim: the key and its secret, the 201 answer, and what
// the commit records — the events (Partner Onboarded, Credential Issued) and the partner's and
// the registry's items.
type issued struct {
	Key       credential.Key
	SecretARN string
	// Stored is the answer as the idempotency record keeps it (without the key), Response the
	// 201 showing the key.
	Stored   string
	Response lambdaevents.APIGatewayProxyResponse
	Details  []events.Detail
	Items    []types.TransactWriteItem
}

// issue creates the partner's key and its secret for the claim's partner id and secret version
// id (converging on the secret an earlier attempt under the claim created), and builds the 201
// answer and everything the decision commits beside the caller's own items. It is the one path
// by which a partner comes to exist: onboarding without an approval, and the pick-up after one.
func (h *Handler) issue(ctx context.Context, c *claim, g grant, now time.Time) (issued, error) {
	key, secretARN, err := h.issueKey(ctx, c)
	if err != nil {
		return issued{}, err
	}
	// The partner's usage identifier in its tier's usage plan, before the key exists for
	// anyone: API Gateway throttles every call by it. Enrolling again (a retry, a taken-over
	// claim) changes nothing.
	if h.Usage != nil {
		if err := h.Usage.Enroll(ctx, c.PartnerID, g.Tier.Name); err != nil {
			return issued{}, fmt.Errorf("enroll partner %s in the usage plan of tier %s: %w", c.PartnerID, g.Tier.Name, err)
		}
	}
	notAfter := now.Add(g.Tier.KeyLifetime.Std())
	answer := onboarded{
		PartnerID: c.PartnerID,
		KeyID:     string(key.ID()),
		Scopes:    g.Scopes,
		Tier:      g.Tier.Name,
		ExpiresAt: formatTime(notAfter),
	}
	stored, err := answer.stored()
	if err != nil {
		return issued{}, err
	}
	resp, err := answer.render(key)
	if err != nil {
		return issued{}, err
	}
	actor := events.Actor{Kind: events.ActorPartner, ID: c.PartnerID}
	details := []events.Detail{
		&events.PartnerOnboarded{
			Meta:          events.NewMeta(c.PartnerID, actor, now),
			PartnerName:   g.PartnerName,
			Tier:          g.Tier.Name,
			Scopes:        g.Scopes,
			Identity:      g.Identity,
			Justification: g.Justification,
		},
		&events.CredentialIssued{
			Meta:      events.NewMeta(c.PartnerID, actor, now),
			KeyID:     string(key.ID()),
			SecretARN: secretARN,
			Scopes:    g.Scopes,
			NotBefore: now,
			ExpiresAt: notAfter,
		},
	}
	p, err := partners.PutNew(h.Tables.Partners, partners.Partner{
		PartnerID:      c.PartnerID,
		PartnerName:    g.PartnerName,
		Tier:           g.Tier.Name,
		Scopes:         g.Scopes,
		Status:         partners.StatusActive,
		KeyID:          string(key.ID()),
		SecretARN:      secretARN,
		IdentityMethod: g.Identity.Method,
		InviteID:       g.InviteID,
		AccountID:      g.Identity.AccountID,
		ARN:            g.Identity.ARN,
		Justification:  g.Justification,
		PolicyRevision: g.PolicyRevision,
		CreatedAt:      now,
	})
	if err != nil {
		return issued{}, err
	}
	put, err := registry.PutNew(h.Tables.Credentials, registry.Entry{
		KeyID:           key.ID(),
		PartnerID:       c.PartnerID,
		Verifier:        credential.NewVerifier(key),
		Scopes:          g.Scopes,
		Tier:            g.Tier.Name,
		Status:          registry.StatusActive,
		NotBefore:       now,
		NotAfter:        notAfter,
		SecretARN:       secretARN,
		SecretVersionID: c.SecretVersionID,
		CreatedAt:       now,
	})
	if err != nil {
		return issued{}, err
	}
	items := []types.TransactWriteItem{
		p,
		put,
	}
	return issued{Key: key, SecretARN: secretARN, Stored: stored, Response: resp, Details: details, Items: items}, nil
}
