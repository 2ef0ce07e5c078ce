package rotation

import "errors"

// The reasons of Credential Rotation Failed: a fixed vocabulary, safe to show and to log,
// never an error string.
const (
	ReasonUnknownStep         = "unknown-step"
	ReasonRotationDisabled    = "rotation-not-enabled"
	ReasonUnknownVersion      = "version-not-in-secret"
	ReasonNotPending          = "version-not-pending"
	ReasonSecretUnreadable    = "secret-read-failed"
	ReasonSecretWriteFailed   = "secret-write-failed"
	ReasonPartnerUnknown      = "partner-unknown"
	ReasonPartnerUnreadable   = "partner-read-failed"
	ReasonPartnerNotActive    = "partner-not-active"
	ReasonSecretNotPartners   = "secret-not-the-partners"
	ReasonCurrentKeyUnknown   = "current-key-unknown"
	ReasonCurrentKeyNotActive = "current-key-not-active"
	ReasonTierUnknown         = "tier-unknown"
	ReasonKeyGenerationFailed = "key-generation-failed"
	ReasonPendingNotAKey      = "pending-value-not-a-key"
	ReasonPendingWrongEnv     = "pending-key-wrong-environment"
	ReasonKeyIDConflict       = "key-id-registered-otherwise"
	ReasonPendingNotPending   = "pending-key-not-pending"
	ReasonPendingUnregistered = "pending-key-not-registered"
	ReasonPendingDidNotVerify = "pending-key-did-not-verify"
	ReasonRegistryUnreadable  = "registry-read-failed"
	ReasonRegistryWriteFailed = "registry-write-failed"
	ReasonStateChanged        = "state-changed-concurrently"
	ReasonCommitFailed        = "commit-failed"
	ReasonNoCurrentVersion    = "no-current-version"
	ReasonStageMoveFailed     = "stage-move-failed"
	ReasonInternal            = "internal-error"
)

// Reasons lists every reason.
func Reasons() []string {
	return []string{
		ReasonUnknownStep, ReasonRotationDisabled, ReasonUnknownVersion, ReasonNotPending,
		ReasonSecretUnreadable, ReasonSecretWriteFailed, ReasonPartnerUnknown, ReasonPartnerUnreadable, ReasonPartnerNotActive,
		ReasonSecretNotPartners, ReasonCurrentKeyUnknown, ReasonCurrentKeyNotActive, ReasonTierUnknown,
		ReasonKeyGenerationFailed, ReasonPendingNotAKey, ReasonPendingWrongEnv, ReasonKeyIDConflict,
		ReasonPendingNotPending, ReasonPendingUnregistered, ReasonPendingDidNotVerify,
		ReasonRegistryUnreadable, ReasonRegistryWriteFailed, ReasonStateChanged, ReasonCommitFailed,
		ReasonNoCurrentVersion, ReasonStageMoveFailed, ReasonInternal,
	}
}

// failure is a step's error with its reason.
type failure struct {
	reason string
	err    error
}

func fail(reason string, err error) error { return &failure{reason: reason, err: err} }

func (f *failure) Error() string { return f.reason + ": " + f.err.Error() }

func (f *failure) Unwrap() error { return f.err }

// Reason is the reason of a step's error, ReasonInternal when it has none.
func Reason(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.reason
	}
	return ReasonInternal
}
