package events

import "time"

// Detail types.
const (
	TypePartnerOnboarded         = "Partner Onboarded"
	TypeCredentialIssued         = "Credential Issued"
	TypeCredentialRotated        = "Credential Rotated"
	TypeCredentialRotationFailed = "Credential Rotation Failed"
	TypeCredentialRevoked        = "Credential Revoked"
	TypeRevocationEnforced       = "Revocation Enforced"
	TypeRevocationCompleted      = "Revocation Completed"
	TypeRevocationStalled        = "Revocation Stalled"
	TypeAuditExported            = "Audit Exported"
	TypeOnboardingPending        = "Onboarding Pending"
	TypeOnboardingApproved       = "Onboarding Approved"
	TypeOnboardingDenied         = "Onboarding Denied"

	// The rollover from a previous key to the current one, after a rotation.
	TypeCredentialRotationAcknowledged = "Credential Rotation Acknowledged"
	TypeCredentialGraceEnding          = "Credential Grace Ending"
	TypeCredentialRetired              = "Credential Retired"
)

// Identity proof methods.
const (
	ProofInvite = "invite"
	ProofSTS    = "sts"
)

// Identity is how a partner proved who it is at onboarding.
type Identity struct {
	Method    string `json:"method"`
	AccountID string `json:"accountId,omitempty"`
	ARN       string `json:"arn,omitempty"`
}

// PartnerOnboarded: a partner was admitted with a tier and scopes.
type PartnerOnboarded struct {
	Meta
	PartnerName   string   `json:"partnerName"`
	Tier          string   `json:"tier"`
	Scopes        []string `json:"scopes"`
	Identity      Identity `json:"identity"`
	Justification string   `json:"justification"`
}

// DetailType implements Detail.
func (PartnerOnboarded) DetailType() string { return TypePartnerOnboarded }

// CredentialIssued: a partner key was created. Only its public key id travels, never the key.
type CredentialIssued struct {
	Meta
	KeyID     string    `json:"keyId"`
	SecretARN string    `json:"secretArn"`
	Scopes    []string  `json:"scopes"`
	NotBefore time.Time `json:"notBefore"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// DetailType implements Detail.
func (CredentialIssued) DetailType() string { return TypeCredentialIssued }

// CredentialRotated: finishSecret made a new key current; the previous key stays valid until
// GraceUntil (or earlier, once the partner acknowledges and the drain window passes).
type CredentialRotated struct {
	Meta
	KeyID         string    `json:"keyId"`
	PreviousKeyID string    `json:"previousKeyId"`
	SecretARN     string    `json:"secretArn"`
	VersionID     string    `json:"versionId"`
	GraceUntil    time.Time `json:"graceUntil"`
}

// DetailType implements Detail.
func (CredentialRotated) DetailType() string { return TypeCredentialRotated }

// Rotation steps, as Secrets Manager names them.
const (
	StepCreateSecret = "createSecret"
	StepSetSecret    = "setSecret"
	StepTestSecret   = "testSecret"
	StepFinishSecret = "finishSecret"
)

// CredentialRotationFailed: a rotation step failed. Reason is safe to show; it never holds
// key material or an internal error string.
type CredentialRotationFailed struct {
	Meta
	SecretARN string `json:"secretArn"`
	VersionID string `json:"versionId"`
	Step      string `json:"step"`
	Reason    string `json:"reason"`
}

// DetailType implements Detail.
func (CredentialRotationFailed) DetailType() string { return TypeCredentialRotationFailed }

// CredentialRotationAcknowledged: the partner confirmed, with its current key KeyID, that it
// switched to it; the previous key PreviousKeyID is now accepted until RetireAt (the
// acknowledgement plus the tier's drain window, at most GraceUntil). The actor is the partner.
type CredentialRotationAcknowledged struct {
	Meta
	KeyID         string    `json:"keyId"`
	PreviousKeyID string    `json:"previousKeyId"`
	GraceUntil    time.Time `json:"graceUntil"`
	RetireAt      time.Time `json:"retireAt"`
}

// DetailType implements Detail.
func (CredentialRotationAcknowledged) DetailType() string {
	return TypeCredentialRotationAcknowledged
}

// CredentialGraceEnding: the partner has not acknowledged its current key CurrentKeyID, and
// the grace of its previous key KeyID ends at GraceUntil, within the tier's warning window:
// past it, the previous key is refused and retired. Ops are warned once per key.
type CredentialGraceEnding struct {
	Meta
	KeyID        string    `json:"keyId"`
	CurrentKeyID string    `json:"currentKeyId"`
	GraceUntil   time.Time `json:"graceUntil"`
}

// DetailType implements Detail.
func (CredentialGraceEnding) DetailType() string { return TypeCredentialGraceEnding }

// Reasons of Credential Retired.
const (
	// RetiredAcknowledged: the partner acknowledged the key that replaced it, and the drain
	// window that followed has passed.
	RetiredAcknowledged = "acknowledged"
	// RetiredGraceEnded: its grace window ended without an acknowledgement.
	RetiredGraceEnded = "grace-ended"
)

// CredentialRetired: a previous key was retired, for Reason (RetiredAcknowledged or
// RetiredGraceEnded); the authorizer cache is flushed once it is committed. It is never accepted
// again.
// AcknowledgedAt and RetireAt are set when the partner had acknowledged its replacement.
type CredentialRetired struct {
	Meta
	KeyID          string     `json:"keyId"`
	Reason         string     `json:"reason"`
	GraceUntil     time.Time  `json:"graceUntil"`
	AcknowledgedAt *time.Time `json:"acknowledgedAt,omitempty"`
	RetireAt       *time.Time `json:"retireAt,omitempty"`
}

// DetailType implements Detail.
func (CredentialRetired) DetailType() string { return TypeCredentialRetired }

// CredentialRevoked: the registry flipped the partner's keys to revoked, in the same transaction
// as this record; enforcers act on it. Meta's actor is who revoked: the partner itself (POST
// /v1/revoke) or an operator.
type CredentialRevoked struct {
	Meta
	// RevocationID names the revocation: each enforcer's report and the tracker refer to it.
	RevocationID string `json:"revocationId"`
	// KeyIDs are the keys revoked, at least one.
	KeyIDs []string `json:"keyIds"`
	// Reason is one of the RevocationReason constants.
	Reason string `json:"reason"`
	// Note is free text an operator gave with the reason; empty when none.
	Note string `json:"note,omitempty"`
	// ReplacementKeyID is the key issued in the same transaction to replace every key revoked
	// (ops asked for a replacement after a compromise): it lives in a new generation of the
	// partner's secret, and the partner collects it once with a pick-up token. Empty when none.
	ReplacementKeyID string `json:"replacementKeyId,omitempty"`
}

// Reasons of a revocation (CredentialRevoked.Reason).
const (
	RevocationCompromised = "compromised"
	RevocationLeaked      = "leaked"
	RevocationOffboarded  = "offboarded"
	// RevocationRequested: the partner revoked its own key (POST /v1/revoke), or asked ops to.
	RevocationRequested = "requested"
	RevocationOther     = "other"
)

// DetailType implements Detail.
func (CredentialRevoked) DetailType() string { return TypeCredentialRevoked }

// Enforcers of a revocation: each acts on Credential Revoked through a consumer of its own and
// reports Revocation Enforced (topology declares which run; the tracker waits for those).
const (
	// EnforcerGateway flushes the REST API stage's authorizer cache once every cache that may
	// still hold the key has run out, and disables the partner's API key when all its keys
	// are revoked.
	EnforcerGateway = "gateway"
	// EnforcerSTS denies the partner's sessions issued before the revocation.
	EnforcerSTS = "sts"
	// EnforcerSecret removes the revoked keys from the partner's secret.
	EnforcerSecret = "secret"
)

// RevocationEnforced: one enforcer finished its part of a revocation. LatencyMS runs from the
// revocation (Credential Revoked's time) to the enforcer's commit of this report.
type RevocationEnforced struct {
	Meta
	RevocationID string `json:"revocationId"`
	Enforcer     string `json:"enforcer"`
	LatencyMS    int64  `json:"latencyMs"`
}

// DetailType implements Detail.
func (RevocationEnforced) DetailType() string { return TypeRevocationEnforced }

// EnforcerReport is one enforcer's report as the tracker recorded it.
type EnforcerReport struct {
	Enforcer   string    `json:"enforcer"`
	EnforcedAt time.Time `json:"enforcedAt"`
	LatencyMS  int64     `json:"latencyMs"`
}

// RevocationCompleted: every enforcer the deployment declares reported; the proof of a
// revocation. TimeToEnforceMS runs from the revocation to the last report.
type RevocationCompleted struct {
	Meta
	RevocationID    string           `json:"revocationId"`
	Enforcers       []EnforcerReport `json:"enforcers"`
	RevokedAt       time.Time        `json:"revokedAt"`
	TimeToEnforceMS int64            `json:"timeToEnforceMs"`
}

// DetailType implements Detail.
func (RevocationCompleted) DetailType() string { return TypeRevocationCompleted }

// RevocationStalled: the revocation's budget ran out before every enforcer reported. Missing
// are the enforcers that have not; Enforcers the reports so far. Raised once per revocation;
// Revocation Completed may still follow when the missing enforcers report.
type RevocationStalled struct {
	Meta
	RevocationID string           `json:"revocationId"`
	RevokedAt    time.Time        `json:"revokedAt"`
	BudgetMS     int64            `json:"budgetMs"`
	Missing      []string         `json:"missing"`
	Enforcers    []EnforcerReport `json:"enforcers"`
}

// DetailType implements Detail.
func (RevocationStalled) DetailType() string { return TypeRevocationStalled }

// AuditExported: a closed window of the audit trail was exported to the audit bucket: its
// objects and its signed manifest (shared/stores/audittrail). One per window, recorded on the
// ops chain with the exporter's state. Its PartnerID is AllPartners.
type AuditExported struct {
	Meta
	WindowStart time.Time `json:"windowStart"`
	WindowEnd   time.Time `json:"windowEnd"`
	Bucket      string    `json:"bucket"`
	ManifestKey string    `json:"manifestKey"`
	// ManifestSHA256 is the hex SHA-256 of the manifest's bytes, as the next manifest links it.
	ManifestSHA256 string `json:"manifestSha256"`
	Objects        int64  `json:"objects"`
	Records        int64  `json:"records"`
	Chains         int64  `json:"chains"`
	// PreviousManifestSHA256 is the previous window's manifest's SHA-256, empty for the first.
	PreviousManifestSHA256 string `json:"previousManifestSha256"`
}

// DetailType implements Detail.
func (AuditExported) DetailType() string { return TypeAuditExported }

// OnboardingPending: a partner asked to onboard into a tier that needs an ops approval. Nothing
// was issued; the onboarding waits, until ExpiresAt, for ops to approve or deny it. Its
// PartnerID is the id the partner will have once it collects its key: the onboarding's events
// and the partner's later ones share one chain.
type OnboardingPending struct {
	Meta
	OnboardingID  string    `json:"onboardingId"`
	PartnerName   string    `json:"partnerName"`
	Tier          string    `json:"tier"`
	Scopes        []string  `json:"scopes"`
	Identity      Identity  `json:"identity"`
	Justification string    `json:"justification"`
	ExpiresAt     time.Time `json:"expiresAt"`
}

// DetailType implements Detail.
func (OnboardingPending) DetailType() string { return TypeOnboardingPending }

// OnboardingApproved: ops approved a pending onboarding; the partner may now collect its key
// with the pick-up token, until ExpiresAt. The actor is the approving IAM principal.
type OnboardingApproved struct {
	Meta
	OnboardingID string    `json:"onboardingId"`
	Tier         string    `json:"tier"`
	Reason       string    `json:"reason,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt"`
}

// DetailType implements Detail.
func (OnboardingApproved) DetailType() string { return TypeOnboardingApproved }

// OnboardingDenied: ops denied a pending onboarding; nothing will be issued for it. The actor
// is the denying IAM principal.
type OnboardingDenied struct {
	Meta
	OnboardingID string `json:"onboardingId"`
	Tier         string `json:"tier"`
	Reason       string `json:"reason,omitempty"`
}

// DetailType implements Detail.
func (OnboardingDenied) DetailType() string { return TypeOnboardingDenied }

// Detail types of the decisions that hand a partner credentials or start a change on its
// behalf, and of the invites ops issue.
const (
	TypeTokenExchanged              = "Token Exchanged"
	TypeCredentialPickedUp          = "Credential Picked Up"
	TypeInviteIssued                = "Invite Issued"
	TypeCredentialRotationRequested = "Credential Rotation Requested"
)

// TokenExchanged: the partner exchanged its key KeyID for an STS session of the partner-access
// role (POST /v1/token), named RoleSessionName, expiring at ExpiresAt, narrowed to Scopes (the
// key's scopes its tier still allows). The credentials themselves never travel. It is committed
// on the partner's exchange chains (outbox.ExchangeChain), not its lifecycle chain. The actor is
// the partner.
type TokenExchanged struct {
	Meta
	KeyID           string    `json:"keyId"`
	Tier            string    `json:"tier"`
	RoleSessionName string    `json:"roleSessionName"`
	ExpiresAt       time.Time `json:"expiresAt"`
	Scopes          []string  `json:"scopes"`
}

// DetailType implements Detail.
func (TokenExchanged) DetailType() string { return TypeTokenExchanged }

// How a partner collected a key (CredentialPickedUp.Method).
const (
	// PickedUpOnboarding: with the pick-up token of an approved onboarding.
	PickedUpOnboarding = "onboarding"
	// PickedUpRotation: the key a rotation made current, with GET /v1/credentials/current
	// called with the previous key (every such call: each shows the key to the previous key's
	// holder).
	PickedUpRotation = "rotation"
	// PickedUpReplacement: the replacement key ops issued after a compromise, with its pick-up
	// token.
	PickedUpReplacement = "replacement"
	// PickedUpReplay: an onboarding's or a pick-up's answer shown again to a replay of its
	// request (same Idempotency-Key, body and proof) within the policy's replay window.
	PickedUpReplay = "replay"
)

// CredentialPickedUp: the partner collected its key KeyID, by Method (PickedUpOnboarding,
// PickedUpRotation, PickedUpReplacement or PickedUpReplay): every answer that shows a key to
// someone who did not prove that key. Neither the key nor the pick-up token
// travels. OnboardingID, ReplacementID and CallerKeyID say what it was collected through. The
// actor is the partner.
type CredentialPickedUp struct {
	Meta
	KeyID         string `json:"keyId"`
	Method        string `json:"method"`
	OnboardingID  string `json:"onboardingId,omitempty"`
	ReplacementID string `json:"replacementId,omitempty"`
	// CallerKeyID is the key a rotation pick-up was made with (the previous key).
	CallerKeyID string `json:"callerKeyId,omitempty"`
}

// DetailType implements Detail.
func (CredentialPickedUp) DetailType() string { return TypeCredentialPickedUp }

// InviteIssued: ops issued a one-time invite for a partner named PartnerName into Tier, working
// until ExpiresAt. The invite is named by its id, never by its code (nor the code's hash). Its
// PartnerID is AllPartners (no partner exists yet) and it is committed on the ops chain
// (outbox.OpsChain). The actor is the issuing IAM principal.
type InviteIssued struct {
	Meta
	InviteID    string    `json:"inviteId"`
	PartnerName string    `json:"partnerName"`
	Tier        string    `json:"tier"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// DetailType implements Detail.
func (InviteIssued) DetailType() string { return TypeInviteIssued }

// CredentialRotationRequested: ops asked for a rotation of the partner's key now (POST
// /v1/admin/partners/{partnerId}/rotate); it is committed before Secrets Manager is asked to
// start it, as version VersionID of SecretARN (the rotation's ClientRequestToken), so the
// rotation's own record — Credential Rotated, or Credential Rotation Failed — names the same
// version. The actor is the requesting IAM principal.
type CredentialRotationRequested struct {
	Meta
	SecretARN string `json:"secretArn"`
	VersionID string `json:"versionId"`
}

// DetailType implements Detail.
func (CredentialRotationRequested) DetailType() string { return TypeCredentialRotationRequested }
