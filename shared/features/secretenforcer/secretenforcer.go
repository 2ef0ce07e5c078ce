// Package secretenforcer is the secret's revocation enforcer (flow 5 of the design): it takes
// each Credential Revoked from its queue and retires what Secrets Manager still holds of the
// revoked keys, then reports Revocation Enforced.
//
// For each revocation the enforcer does nothing when its report is recorded already (a
// duplicate delivery); otherwise it re-reads the partner's registry entries (each names its
// key's secret and version) and, for each secret a revoked key lives in:
//
//   - when a key on the secret is still pending, active or previous (the partner keeps a live
//     key there), it only takes AWSPREVIOUS off a revoked key's version, if that version still
//     carries it: the label goes with the key it named, never with a later previous key;
//   - when no key on the secret is live, it cancels the secret's rotation (CancelRotateSecret),
//     removes AWSPENDING (a rotation cut short leaves it), tags the secret lanyard:revoked with
//     the revocation id and schedules its deletion with the policy's recovery window.
//
// The registry is read when the enforcer runs, not when the revocation was made, so a late or
// duplicate delivery decides from the keys as they are: a secret a live key uses is never
// deleted (a replacement key lives in a new secret, so its own secret is never the revoked
// one's). The by-partner index is eventually consistent; the enforcer trusts a read only when
// it shows every key the revocation names as ended, and a version labelled AWSCURRENT or
// AWSPREVIOUS that no entry names (a key the read may not show yet) fails the record rather
// than deleting the secret. A secret scheduled for deletion or gone is done. Then it commits its report with Revocation Enforced
// (shared/features/enforcement). A failure fails the record alone (a partial batch response).
package secretenforcer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/features/enforcement"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/platform/wait"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// DefaultActor is the id of the system actor of the events the enforcer commits.
const DefaultActor = "lanyard-revocation-secret"

// RevokedTag is the tag a retired secret carries, valued with the revocation id.
const RevokedTag = "lanyard:revoked"

// Secrets is what the enforcer calls of Secrets Manager.
type Secrets interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	CancelRotateSecret(ctx context.Context, in *secretsmanager.CancelRotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CancelRotateSecretOutput, error)
	TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
}

var _ Secrets = (*secretsmanager.Client)(nil)

// Keys reads a partner's registry entries (registry.ByPartner).
type Keys interface {
	Keys(ctx context.Context, partnerID string) ([]registry.Entry, error)
}

var _ Keys = (*registry.ByPartner)(nil)

// Enforcer is the secret enforcer. Build it once per cold start.
type Enforcer struct {
	// Outbox commits the report with Revocation Enforced.
	Outbox  *outbox.Store
	Reports enforcement.Reports
	Keys    Keys
	Secrets Secrets
	// SecretPrefix is the partner secrets' name prefix: a secret outside it is never touched.
	SecretPrefix string
	// RecoveryDays is the policy's revocation.secretRecoveryWindow in days (7–30).
	RecoveryDays int64
	// Now is the clock and Sleep the pause between reads of a lagging index (nil: time.Now, a
	// timer).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Actor is the id of the system actor of the events (empty: DefaultActor).
	Actor string
}

// Reads of the by-partner index before a record fails: it lags its table by well under a second.
const (
	indexReads     = 5
	indexReadPause = 250 * time.Millisecond
)

func (e *Enforcer) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Enforcer) sleep(ctx context.Context, d time.Duration) error {
	if e.Sleep != nil {
		return e.Sleep(ctx, d)
	}
	return wait.Sleep(ctx, d, "wait for the registry index")
}

func (e *Enforcer) reporter() enforcement.Reporter {
	id := e.Actor
	if id == "" {
		id = DefaultActor
	}
	return enforcement.Reporter{Outbox: e.Outbox, Reports: e.Reports, Enforcer: events.EnforcerSecret,
		Actor: events.Actor{Kind: events.ActorSystem, ID: id}}
}

// Handle is the Lambda entry point: each record is one Credential Revoked, enforced in turn; a
// record that fails is reported in the partial batch response, the others are done.
func (e *Enforcer) Handle(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	return enforcement.Batch(ctx, ev, func(ctx context.Context, body []byte) error {
		_, err := e.Record(ctx, body)
		return err
	}), nil
}

// Outcome is what one enforcement did.
type Outcome struct {
	// Duplicate: the report was recorded already, by an earlier delivery or a concurrent one.
	Duplicate bool
	// PreviousRemoved are the versions AWSPREVIOUS was taken off, as secret ARN + "/" + version.
	PreviousRemoved []string
	// Retired are the secrets scheduled for deletion by this enforcement; Kept those a live key
	// still uses; Done those scheduled for deletion or gone already.
	Retired, Kept, Done []string
	// LatencyMS is the latency reported.
	LatencyMS int64
}

// Record enforces the revocation an SQS record's body (an EventBridge event) carries.
func (e *Enforcer) Record(ctx context.Context, body []byte) (Outcome, error) {
	rev, err := enforcement.Revoked(body)
	if err != nil {
		return Outcome{}, fmt.Errorf("secret enforcer: %w", err)
	}
	return e.Enforce(ctx, rev)
}

// Enforce enforces one revocation (see the package documentation).
func (e *Enforcer) Enforce(ctx context.Context, rev *events.CredentialRevoked) (out Outcome, err error) {
	ctx, span := tracing.Start(ctx, "enforceRevocation")
	defer func() { span.End(err) }()
	pid, id := rev.PartnerID, rev.RevocationID
	span.Annotate("partner", pid)
	reporter := e.reporter()
	done, err := reporter.Reported(ctx, rev)
	if err != nil {
		return Outcome{}, fmt.Errorf("secret enforcer: %w", err)
	}
	if done {
		slog.InfoContext(ctx, "revocation enforced already", "revocationId", id, "partnerId", pid, "eventId", rev.EventID)
		return Outcome{Duplicate: true}, nil
	}

	keys, err := e.read(ctx, rev)
	if err != nil {
		return Outcome{}, fmt.Errorf("secret enforcer, revocation %s: %w", id, err)
	}
	var arns []string
	for _, k := range keys {
		if slices.Contains(rev.KeyIDs, string(k.KeyID)) && k.SecretARN != "" && !slices.Contains(arns, k.SecretARN) {
			arns = append(arns, k.SecretARN)
		}
	}
	slices.Sort(arns)
	for _, arn := range arns {
		if !partnersecret.UnderPrefix(arn, e.SecretPrefix) {
			return Outcome{}, fmt.Errorf("secret enforcer, revocation %s: secret %s is not under %s", id, arn, e.SecretPrefix)
		}
		if err := e.secret(ctx, rev, arn, keys, &out); err != nil {
			return Outcome{}, fmt.Errorf("secret enforcer, revocation %s: %w", id, err)
		}
	}

	c, err := reporter.Commit(ctx, rev, e.now())
	if err != nil {
		return Outcome{}, fmt.Errorf("secret enforcer: %w", err)
	}
	out.LatencyMS, out.Duplicate = c.LatencyMS, c.Duplicate
	slog.InfoContext(ctx, "revocation enforced", "revocationId", id, "partnerId", pid, "keyIds", rev.KeyIDs,
		"previousRemoved", out.PreviousRemoved, "retired", out.Retired, "kept", out.Kept, "done", out.Done,
		"latencyMs", out.LatencyMS, "duplicate", c.Duplicate, "eventId", c.EventID)
	return out, nil
}

// read reads the partner's entries until the read shows every key the revocation names as
// ended (the index may lag the revocation's commit).
func (e *Enforcer) read(ctx context.Context, rev *events.CredentialRevoked) ([]registry.Entry, error) {
	for i := 1; ; i++ {
		keys, err := e.Keys.Keys(ctx, rev.PartnerID)
		if err != nil {
			return nil, err
		}
		lagging := lagging(keys, rev.KeyIDs)
		if lagging == "" {
			return keys, nil
		}
		if i == indexReads {
			return nil, fmt.Errorf("the registry's by-partner read still shows key %s live or absent after %d reads", lagging, i)
		}
		if err := e.sleep(ctx, indexReadPause); err != nil {
			return nil, err
		}
	}
}

// lagging is a key of revoked the entries show live or not at all; "" when none.
func lagging(keys []registry.Entry, revoked []string) string {
	for _, id := range revoked {
		i := slices.IndexFunc(keys, func(k registry.Entry) bool { return string(k.KeyID) == id })
		if i < 0 || live(keys[i]) {
			return id
		}
	}
	return ""
}

func live(k registry.Entry) bool {
	return k.Status == registry.StatusPending || k.Status == registry.StatusActive || k.Status == registry.StatusPrevious
}

// secret retires what secret arn holds of the revoked keys.
func (e *Enforcer) secret(ctx context.Context, rev *events.CredentialRevoked, arn string, keys []registry.Entry, out *Outcome) error {
	desc, err := e.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	var missing *smtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &missing):
		out.Done = append(out.Done, arn)
		return nil
	case err != nil:
		return fmt.Errorf("describe secret %s: %w", arn, err)
	case desc.DeletedDate != nil:
		out.Done = append(out.Done, arn)
		return nil
	}
	var on []registry.Entry // the entries of keys on this secret
	for _, k := range keys {
		if k.SecretARN == arn {
			on = append(on, k)
		}
	}
	if slices.ContainsFunc(on, live) {
		out.Kept = append(out.Kept, arn)
		for _, k := range on {
			if !slices.Contains(rev.KeyIDs, string(k.KeyID)) || live(k) ||
				!slices.Contains(desc.VersionIdsToStages[k.SecretVersionID], partnersecret.StagePrevious) {
				continue
			}
			if err := e.unlabel(ctx, arn, k.SecretVersionID, partnersecret.StagePrevious); err != nil {
				return err
			}
			out.PreviousRemoved = append(out.PreviousRemoved, arn+"/"+k.SecretVersionID)
		}
		return nil
	}

	// A version labelled AWSCURRENT or AWSPREVIOUS that no entry names may hold a key the read
	// does not show yet: the record fails, to be tried again (and a lasting one stalls the
	// revocation for ops to see). AWSPENDING alone is a rotation cut short: it is cancelled.
	for version, stages := range desc.VersionIdsToStages {
		named := slices.ContainsFunc(on, func(k registry.Entry) bool { return k.SecretVersionID == version })
		if !named && (slices.Contains(stages, partnersecret.StageCurrent) || slices.Contains(stages, partnersecret.StagePrevious)) {
			return fmt.Errorf("secret %s kept: version %s is labelled %v and no registry entry of the partner names it", arn, version, stages)
		}
	}
	if aws.ToBool(desc.RotationEnabled) {
		if _, err := e.Secrets.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: aws.String(arn)}); err != nil {
			return fmt.Errorf("cancel the rotation of secret %s: %w", arn, err)
		}
	}
	for version, stages := range desc.VersionIdsToStages {
		if slices.Contains(stages, partnersecret.StagePending) {
			if err := e.unlabel(ctx, arn, version, partnersecret.StagePending); err != nil {
				return err
			}
		}
	}
	if _, err := e.Secrets.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(arn),
		Tags: []smtypes.Tag{{Key: aws.String(RevokedTag), Value: aws.String(rev.RevocationID)}}}); err != nil {
		return fmt.Errorf("tag secret %s revoked: %w", arn, err)
	}
	if _, err := e.Secrets.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(arn),
		RecoveryWindowInDays: aws.Int64(e.RecoveryDays)}); err != nil {
		return fmt.Errorf("schedule the deletion of secret %s: %w", arn, err)
	}
	out.Retired = append(out.Retired, arn)
	return nil
}

func (e *Enforcer) unlabel(ctx context.Context, arn, version, stage string) error {
	if _, err := e.Secrets.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(arn),
		VersionStage: aws.String(stage), RemoveFromVersionId: aws.String(version)}); err != nil {
		return fmt.Errorf("remove %s from version %s of secret %s: %w", stage, version, arn, err)
	}
	return nil
}
