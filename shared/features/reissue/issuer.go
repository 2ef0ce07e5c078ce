// Package reissue is the replacement key ops may have issued after a compromise (flow 5 of the
// design): not a new onboarding — the partner, its account claim and its usage enrollment stay
// — but a new key for the same partner, in a new generation of its secret, collected once by
// the partner with a pick-up token.
//
// The ops revocation route (shared/features/revoke's AdminHandler, "reissue": true) drives the
// Issuer: before its transaction, Prepare mints the key and creates the secret's next free
// generation (Secrets Manager refuses to reuse the name of a secret whose deletion is
// scheduled, and the secret enforcer schedules the old one's); in the transaction, Items
// registers the key (active), makes the partner's item name it and its secret, and records the
// replacement's pick-up (the token kept as its hash, expiring after PickupLifetime); once
// committed, Committed disables the partner's API Gateway API key, before the route's own
// flush, so that no Allow cached for a revoked key passes until the gateway enforcer's flush,
// after which the enforcer enables it again, and switches rotation on for the new secret. A
// transaction that does not commit leaves a secret no one names: Discard deletes it.
//
// The partner collects the key with PickupHandler (POST
// /v1/replacements/{replacementId}/pickup): the pick-up token is the credential, no partner key
// is, so no revoked key can fetch the replacement.
package reissue

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/domain/pickuptoken"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/usage"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/shared/stores/replacements"
)

// PickupLifetime is how long a replacement waits for its pick-up. A constant, like an
// onboarding's pending lifetime: ops hand the token over at once, and a lost one is replaced by
// revoking the waiting key with another replacement.
const PickupLifetime = 72 * time.Hour

// maxGenerations bounds the generations Prepare tries past the partner's current one: a
// generation is skipped only when a secret of its name exists already (a replacement whose
// transaction did not commit, or one being deleted).
const maxGenerations = 5

// SecretsAPI is the part of the Secrets Manager client the Issuer uses.
type SecretsAPI interface {
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// Issuer issues replacement keys. Build it once per cold start; it is safe for concurrent use.
type Issuer struct {
	Secrets SecretsAPI
	// APIKeys disables the partner's API Gateway API key once the replacement committed.
	APIKeys usage.KeyUpdateAPI
	// The tables the transaction writes.
	CredentialsTable, PartnersTable, ReplacementsTable string
	// SecretPrefix names the partner secrets (partnersecret.Prefix); KMSKeyID encrypts them
	// (empty: Secrets Manager's default key).
	SecretPrefix string
	KMSKeyID     string
	// RotationFunctionARN rotates the new secret on its tier's schedule (empty: rotation is
	// not switched on).
	RotationFunctionARN string
	// Policy gives the tier's key lifetime and rotation interval.
	Policy *policy.Policy
	// Env is the keys' environment code (empty: live); Rand their randomness (nil:
	// crypto/rand).
	Env  credential.Environment
	Rand io.Reader
}

func (i *Issuer) rand() io.Reader {
	if i.Rand == nil {
		return crand.Reader
	}
	return i.Rand
}

func (i *Issuer) env() credential.Environment {
	if i.Env == "" {
		return credential.EnvLive
	}
	return i.Env
}

// Prepared is a replacement key and its secret, created and not committed yet.
type Prepared struct {
	ID              string
	PartnerID       string
	Key             credential.Key
	Token           secret.Value
	SecretARN       string
	SecretVersionID string
	Generation      int
}

// Replacement is what the ops answer shows of a committed replacement: the pick-up token
// once, never the key.
type Replacement struct {
	ReplacementID string    `json:"replacementId"`
	KeyID         string    `json:"keyId"`
	PickupToken   string    `json:"pickupToken"`
	ExpiresAt     time.Time `json:"expiresAt"`
}

// Prepare mints partner partnerID's replacement key and its pick-up token, and creates the
// secret holding the key: the first free generation after the one currentSecretARN (the
// secret the partner's item names) is.
func (i *Issuer) Prepare(ctx context.Context, partnerID, currentSecretARN string) (*Prepared, error) {
	if i.Policy == nil {
		return nil, errors.New("replacement: no policy")
	}
	id, gen := partnersecret.GenerationOfName(i.SecretPrefix, partnersecret.NameOfARN(currentSecretARN))
	if id != partnerID {
		return nil, fmt.Errorf("replacement for partner %s: its item names secret %s, not one of its generations under %s", partnerID, currentSecretARN, i.SecretPrefix)
	}
	key, err := credential.Generate(i.env(), i.rand())
	if err != nil {
		return nil, fmt.Errorf("replacement for partner %s: %w", partnerID, err)
	}
	token, err := pickuptoken.New(i.rand())
	if err != nil {
		return nil, fmt.Errorf("replacement for partner %s: %w", partnerID, err)
	}
	p := &Prepared{ID: replacements.NewID(), PartnerID: partnerID, Key: key, Token: token, SecretVersionID: uuid.NewString()}
	for next := gen + 1; next <= gen+maxGenerations; next++ {
		name := partnersecret.GenerationName(i.SecretPrefix, partnerID, next)
		in := &secretsmanager.CreateSecretInput{
			Name:               aws.String(name),
			ClientRequestToken: aws.String(p.SecretVersionID),
			SecretString:       aws.String(key.Plaintext().Reveal()),
			Description:        aws.String(fmt.Sprintf("Lanyard API key of partner %s (generation %d: a replacement)", partnerID, next)),
			Tags:               []smtypes.Tag{{Key: aws.String(partnersecret.Tag), Value: aws.String(partnerID)}},
		}
		if i.KMSKeyID != "" {
			in.KmsKeyId = aws.String(i.KMSKeyID)
		}
		out, err := i.Secrets.CreateSecret(ctx, in)
		if err == nil {
			p.SecretARN, p.Generation = aws.ToString(out.ARN), next
			return p, nil
		}
		if !nameTaken(err) {
			return nil, fmt.Errorf("replacement for partner %s: create secret %s: %w", partnerID, name, err)
		}
		slog.InfoContext(ctx, "secret generation taken, trying the next", "partnerId", partnerID, "secret", name)
	}
	return nil, fmt.Errorf("replacement for partner %s: generations %d to %d of its secret are all taken", partnerID, gen+1, gen+maxGenerations)
}

// nameTaken reports whether CreateSecret refused a name in use: by a secret (ResourceExists)
// or by one scheduled for deletion (AWS: InvalidRequest, "scheduled for deletion").
func nameTaken(err error) bool {
	if _, ok := errors.AsType[*smtypes.ResourceExistsException](err); ok {
		return true
	}
	invalid, ok := errors.AsType[*smtypes.InvalidRequestException](err)
	return ok && strings.Contains(strings.ToLower(invalid.ErrorMessage()), "deletion")
}

// Items are the replacement's writes in the revocation's transaction: its registry entry
// (active from now, for the tier's key lifetime, with the partner's scopes), the partner's item
// naming it and its secret — conditioned on the item's keys being st's, which the transaction
// revokes — and its pick-up.
func (i *Issuer) Items(p *Prepared, st partners.State, revocationID string, now time.Time) ([]types.TransactWriteItem, Replacement, error) {
	tier, ok := i.Policy.Tier(st.Tier)
	if !ok {
		return nil, Replacement{}, fmt.Errorf("replacement for partner %s: tier %q is not in policy revision %d", st.PartnerID, st.Tier, i.Policy.Revision)
	}
	put, err := registry.PutNew(i.CredentialsTable, registry.Entry{
		KeyID: p.Key.ID(), PartnerID: st.PartnerID, Verifier: credential.NewVerifier(p.Key), Scopes: st.Scopes,
		Tier: st.Tier, Status: registry.StatusActive, NotBefore: now, NotAfter: now.Add(tier.KeyLifetime.Std()),
		SecretARN: p.SecretARN, SecretVersionID: p.SecretVersionID, CreatedAt: now,
	})
	if err != nil {
		return nil, Replacement{}, fmt.Errorf("replacement for partner %s: %w", st.PartnerID, err)
	}
	expires := now.Add(PickupLifetime).Truncate(time.Millisecond)
	pickup, err := replacements.Put(i.ReplacementsTable, replacements.Replacement{
		ID: p.ID, PartnerID: st.PartnerID, RevocationID: revocationID, KeyID: string(p.Key.ID()),
		SecretARN: p.SecretARN, SecretVersionID: p.SecretVersionID, PickupTokenHash: pickuptoken.Hash(p.Token),
		CreatedAt: now, ExpiresAt: expires,
	})
	if err != nil {
		return nil, Replacement{}, fmt.Errorf("replacement for partner %s: %w", st.PartnerID, err)
	}
	items := []types.TransactWriteItem{
		put,
		partners.Reissue(i.PartnersTable, st.PartnerID, credential.KeyID(st.KeyID), st.PreviousKeyID, st.PendingKeyID, p.Key.ID(), p.SecretARN),
		pickup,
	}
	return items, Replacement{ReplacementID: p.ID, KeyID: string(p.Key.ID()), PickupToken: p.Token.Reveal(), ExpiresAt: expires}, nil
}

// Disable disables the partner's API key once the replacement committed: no key issued before
// the revocation is live, and until the gateway enforcer's flush an Allow cached for one of
// them could still pass. Its error is the caller's to log: the revocation has committed.
func (i *Issuer) Disable(ctx context.Context, partnerID string) error {
	if i.APIKeys == nil {
		return nil
	}
	if _, err := usage.Disable(ctx, i.APIKeys, partnerID); err != nil {
		return fmt.Errorf("replacement for partner %s: %w", partnerID, err)
	}
	return nil
}

// EnableRotation switches the new secret over to scheduled rotation through the rotation
// function, on the tier's interval (RotateImmediately false: the replacement stays current), as
// onboarding does for a partner's first secret. Its error is the caller's to log: the partner
// holds a working key, and `lanyard rotation enable` switches rotation on later.
func (i *Issuer) EnableRotation(ctx context.Context, p *Prepared, tierName string) error {
	if i.RotationFunctionARN == "" {
		return nil
	}
	tier, ok := i.Policy.Tier(tierName)
	if !ok {
		return fmt.Errorf("rotation of secret %s: tier %q is not in policy revision %d", p.SecretARN, tierName, i.Policy.Revision)
	}
	_, err := i.Secrets.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(p.SecretARN),
		RotationLambdaARN: aws.String(i.RotationFunctionARN),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(int64(tier.Rotation.IntervalDays))},
		RotateImmediately: aws.Bool(false),
	})
	if err != nil {
		return fmt.Errorf("switch rotation on for secret %s: %w", p.SecretARN, err)
	}
	return nil
}

// Discard deletes the secret of a replacement that did not commit: no registry entry and no
// partner names it, so it is deleted at once. A secret already gone is no error.
func (i *Issuer) Discard(ctx context.Context, p *Prepared) error {
	_, err := i.Secrets.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId: aws.String(p.SecretARN), ForceDeleteWithoutRecovery: aws.Bool(true),
	})
	if _, gone := errors.AsType[*smtypes.ResourceNotFoundException](err); err != nil && !gone {
		return fmt.Errorf("delete secret %s of a replacement that did not commit: %w", p.SecretARN, err)
	}
	return nil
}
