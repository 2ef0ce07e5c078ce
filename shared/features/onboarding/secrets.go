package onboarding

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
)

// SecretsAPI is the part of the Secrets Manager client onboarding uses.
type SecretsAPI interface {
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// PartnerTag is the tag every partner secret carries, valued with the partner id.
const PartnerTag = partnersecret.Tag

// secretName is the name of the partner's secret.
func (h *Handler) secretName(partnerID string) string {
	return partnersecret.Name(h.SecretPrefix, partnerID)
}

// issueKey mints the partner's key and creates its secret, the claim's version id as the
// ClientRequestToken. When the secret exists already — an earlier attempt under this claim
// created it before it failed — it reads that version's key instead, so the attempts converge
// on one key. It returns the key and the secret's ARN.
func (h *Handler) issueKey(ctx context.Context, c *claim) (credential.Key, string, error) {
	name := h.secretName(c.PartnerID)
	key, err := credential.Generate(h.env(), h.rand())
	if err != nil {
		return credential.Key{}, "", fmt.Errorf("issue key of partner %s: %w", c.PartnerID, err)
	}
	in := &secretsmanager.CreateSecretInput{
		Name:               aws.String(name),
		ClientRequestToken: aws.String(c.SecretVersionID),
		SecretString:       aws.String(key.Plaintext().Reveal()),
		Description:        aws.String("Lanyard API key of partner " + c.PartnerID),
		Tags:               []smtypes.Tag{{Key: aws.String(PartnerTag), Value: aws.String(c.PartnerID)}},
	}
	if h.KMSKeyID != "" {
		in.KmsKeyId = aws.String(h.KMSKeyID)
	}
	out, err := h.Secrets.CreateSecret(ctx, in)
	if err == nil {
		return key, aws.ToString(out.ARN), nil
	}
	var exists *smtypes.ResourceExistsException
	if !errors.As(err, &exists) {
		return credential.Key{}, "", fmt.Errorf("create secret %s version %s: %w", name, c.SecretVersionID, err)
	}
	key, arn, err := h.readKey(ctx, name, c.SecretVersionID)
	if err != nil {
		return credential.Key{}, "", fmt.Errorf("secret %s exists already (created by an earlier attempt): %w", name, err)
	}
	return key, arn, nil
}

// readKey reads the key stored in version versionID of the secret secretID (a name or an ARN).
// The error never holds the secret's value.
func (h *Handler) readKey(ctx context.Context, secretID, versionID string) (credential.Key, string, error) {
	out, err := h.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:  aws.String(secretID),
		VersionId: aws.String(versionID),
	})
	if err != nil {
		return credential.Key{}, "", fmt.Errorf("read version %s of secret %s: %w", versionID, secretID, err)
	}
	key, err := credential.Parse(aws.ToString(out.SecretString))
	if err != nil {
		return credential.Key{}, "", fmt.Errorf("version %s of secret %s does not hold a partner key: %w", versionID, secretID, err)
	}
	return key, aws.ToString(out.ARN), nil
}

// deleteSecret force-deletes the partner's secret, which no partner names: the request that
// created it was refused. A secret that does not exist is not an error.
func (h *Handler) deleteSecret(ctx context.Context, partnerID string) error {
	name := h.secretName(partnerID)
	_, err := h.Secrets.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId:                   aws.String(name),
		ForceDeleteWithoutRecovery: aws.Bool(true),
	})
	var notFound *smtypes.ResourceNotFoundException
	if err != nil && !errors.As(err, &notFound) {
		return fmt.Errorf("delete secret %s of a refused onboarding: %w", name, err)
	}
	return nil
}

// enableRotation switches the new partner's secret over to scheduled rotation through the
// rotation function: every IntervalDays of its tier, starting from now (RotateImmediately
// false: the key just issued stays current; Secrets Manager tests the function's testSecret
// step). It runs once the partner is committed, so the function finds what it rotates. A
// failure is logged, not answered: the partner holds a working key, and switching rotation on
// again is safe (RotateSecret with the same rules).
func (h *Handler) enableRotation(ctx context.Context, partnerID, secretARN string, tier policy.Tier) {
	if h.RotationFunctionARN == "" {
		return
	}
	_, err := h.Secrets.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(secretARN),
		RotationLambdaARN: aws.String(h.RotationFunctionARN),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(int64(tier.Rotation.IntervalDays))},
		RotateImmediately: aws.Bool(false),
	})
	if err != nil {
		slog.ErrorContext(ctx, "rotation not switched on", "partner", partnerID, "secret", secretARN, "error", err)
		return
	}
	slog.InfoContext(ctx, "rotation switched on", "partner", partnerID, "secret", secretARN,
		"automaticallyAfterDays", tier.Rotation.IntervalDays)
}
