package rotation

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// errNoPendingValue: the token's version holds no value yet.
var errNoPendingValue = errors.New("the pending version holds no value")

// readPending reads the key in the token's version, staged AWSPENDING. A version without a
// value is an error matching errNoPendingValue. The error never holds the value.
func (h *Handler) readPending(ctx context.Context, r *run) (credential.Key, error) {
	out, err := h.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(r.arn),
		VersionId:    aws.String(r.token),
		VersionStage: aws.String(StagePending),
	})
	var notFound *smtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		return credential.Key{}, fmt.Errorf("read the pending version: %w (%w)", errNoPendingValue, err)
	case err != nil:
		return credential.Key{}, fail(ReasonSecretUnreadable, fmt.Errorf("read the pending version: %w", err))
	}
	// credential.Parse's errors are fixed messages: they never hold the value.
	key, err := credential.Parse(aws.ToString(out.SecretString))
	if err != nil {
		return credential.Key{}, fail(ReasonPendingNotAKey, fmt.Errorf("the pending version does not hold a partner key: %w", err))
	}
	if key.Env() != h.env() {
		return credential.Key{}, fail(ReasonPendingWrongEnv, fmt.Errorf("the pending key %s is for environment %s, this deployment's is %s", key.ID(), key.Env(), h.env()))
	}
	return key, nil
}

// pendingKey is readPending for the steps after createSecret: a version without a value is a
// failure too.
func (h *Handler) pendingKey(ctx context.Context, r *run) (credential.Key, error) {
	key, err := h.readPending(ctx, r)
	if errors.Is(err, errNoPendingValue) {
		return credential.Key{}, fail(ReasonSecretUnreadable, err)
	}
	return key, err
}

// createSecret keeps the key the token's version holds, or mints one and puts it there staged
// AWSPENDING.
func (h *Handler) createSecret(ctx context.Context, r *run) error {
	key, err := h.readPending(ctx, r)
	if err == nil {
		slog.InfoContext(ctx, "createSecret: the pending version holds a key already, kept", "partner", r.partnerID, "version", r.token, "keyId", string(key.ID()))
		return nil
	}
	if !errors.Is(err, errNoPendingValue) {
		return err
	}
	key, err = credential.Generate(h.env(), h.rand())
	if err != nil {
		return fail(ReasonKeyGenerationFailed, err)
	}
	_, err = h.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(r.arn),
		ClientRequestToken: aws.String(r.token),
		SecretString:       aws.String(key.Plaintext().Reveal()),
		VersionStages:      []string{StagePending},
	})
	var exists *smtypes.ResourceExistsException
	switch {
	case errors.As(err, &exists):
		// Another attempt with the token filled the version first: its key is the one.
		kept, rerr := h.pendingKey(ctx, r)
		if rerr != nil {
			return fmt.Errorf("the pending version was filled by another attempt: %w", rerr)
		}
		slog.InfoContext(ctx, "createSecret: another attempt filled the pending version, its key kept", "partner", r.partnerID, "version", r.token, "keyId", string(kept.ID()))
		return nil
	case err != nil:
		return fail(ReasonSecretWriteFailed, fmt.Errorf("put the pending version: %w", err))
	}
	slog.InfoContext(ctx, "createSecret: new key put as AWSPENDING", "partner", r.partnerID, "version", r.token, "keyId", string(key.ID()))
	return nil
}

// registered reads the pending key's entry through lookup (the entries load read, or the
// registry itself) and says whether setSecret's registration of it is
// there: found is false when the key id is not registered; an entry under the key id that is
// not this registration (another verifier, partner or version, or a status other than pending
// — or active, once this rotation's finishSecret made it current) is an error.
func (h *Handler) registered(ctx context.Context, lookup registry.Lookup, r *run, key credential.Key) (e registry.Entry, found bool, err error) {
	e, err = lookup.Get(ctx, key.ID())
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return registry.Entry{}, false, nil
	case err != nil:
		return registry.Entry{}, false, fail(ReasonRegistryUnreadable, err)
	case !e.Verifier.Matches(key) || e.PartnerID != r.partnerID || e.SecretVersionID != r.token:
		return e, true, fail(ReasonKeyIDConflict, fmt.Errorf("key id %s is registered with another verifier, partner or version", key.ID()))
	case e.Status == registry.StatusPending:
		return e, true, nil
	case e.Status == registry.StatusActive && r.finished(key):
		return e, true, nil // finishSecret's transaction landed: the key is current
	}
	return e, true, fail(ReasonPendingNotPending, fmt.Errorf("the pending key %s is %s", key.ID(), e.Status))
}

// setSecret registers the pending key's verifier as pending, and records it as the partner's
// pending key; a pending key of an abandoned rotation is retired in the same transaction.
func (h *Handler) setSecret(ctx context.Context, r *run) error {
	key, err := r.pendingKey()
	if err != nil {
		return err
	}
	if _, found, err := h.registered(ctx, r.entries, r, key); err != nil || found {
		if found && err == nil {
			slog.InfoContext(ctx, "setSecret: the pending key is registered already", "partner", r.partnerID, "keyId", string(key.ID()))
		}
		return err
	}
	t, err := h.tier(r)
	if err != nil {
		return recheck(r, err)
	}
	now := h.now()
	put, err := registry.PutNew(h.Tables.Credentials, registry.Entry{
		KeyID:           key.ID(),
		PartnerID:       r.partnerID,
		Verifier:        credential.NewVerifier(key),
		Scopes:          r.current.Scopes,
		Tier:            r.current.Tier,
		Status:          registry.StatusPending,
		NotBefore:       now,
		NotAfter:        now.Add(t.KeyLifetime.Std()),
		SecretARN:       r.arn,
		SecretVersionID: r.token,
		CreatedAt:       now,
	})
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{
		put,
		setPending(h.Tables.Partners, r.partnerID, r.current.KeyID, key.ID()),
	}
	if r.assumed {
		items = append(items, registry.CheckCurrent(h.Tables.Credentials, r.current.KeyID, r.partnerID, r.current.Tier, r.current.Scopes))
	}
	stale := r.partner.PendingKeyID
	if stale != "" && stale != key.ID() {
		e, err := r.entries.Get(ctx, stale)
		switch {
		case errors.Is(err, registry.ErrNotFound):
		case err != nil:
			return fail(ReasonRegistryUnreadable, fmt.Errorf("the stale pending key %s: %w", stale, err))
		case e.Status == registry.StatusPending && e.PartnerID == r.partnerID:
			items = append(items, registry.Retire(h.Tables.Credentials, stale, registry.StatusPending, now))
			slog.InfoContext(ctx, "setSecret: retiring the pending key of an abandoned rotation", "partner", r.partnerID,
				"keyId", string(stale), "version", e.SecretVersionID)
		}
	}
	_, err = h.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		slog.InfoContext(ctx, "setSecret: pending key registered", "partner", r.partnerID, "keyId", string(key.ID()))
		return nil
	}
	var canceled *types.TransactionCanceledException
	if r.assumed && errors.As(err, &canceled) {
		return recheck(r, fmt.Errorf("register the pending key %s: %w", key.ID(), err))
	}
	// The outcome may be unknown (a timeout) or the entry may have been written by a
	// concurrent attempt: what the registry holds now decides.
	if _, found, rerr := h.registered(ctx, h.registry(), r, key); found || rerr != nil {
		if rerr != nil {
			return fmt.Errorf("register the pending key %s: %w (after %w)", key.ID(), rerr, err)
		}
		return nil
	}
	if errors.As(err, &canceled) {
		return fail(ReasonStateChanged, fmt.Errorf("register the pending key %s: %w", key.ID(), err))
	}
	return fail(ReasonRegistryWriteFailed, fmt.Errorf("register the pending key %s: %w", key.ID(), err))
}

// testSecret proves the pending key verifies as the verify path checks keys (registry.Verify),
// accepted as pending — or as active once this rotation's finishSecret made it current. A
// pending version that is Secrets Manager's test of the rotation configuration passes as it is
// (configurationTest).
func (h *Handler) testSecret(ctx context.Context, r *run) error {
	key, err := r.pendingKey()
	if err != nil {
		return err
	}
	if ok, err := h.configurationTest(ctx, r, key); ok || err != nil {
		return err
	}
	v, err := registry.Verify(ctx, r.entries, key, h.now(), true)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return fail(ReasonPendingUnregistered, err)
	case errors.Is(err, registry.ErrMismatch):
		return fail(ReasonPendingDidNotVerify, err)
	case err != nil:
		return fail(ReasonRegistryUnreadable, err)
	case !v.Accepted:
		return fail(ReasonPendingDidNotVerify, fmt.Errorf("the pending key %s is refused: %s", key.ID(), v.Reason))
	case v.Entry.PartnerID != r.partnerID || v.Entry.SecretVersionID != r.token:
		return fail(ReasonKeyIDConflict, fmt.Errorf("key id %s is registered for another partner or version", key.ID()))
	case v.Reason != registry.ReasonPending && !r.finished(key):
		return fail(ReasonPendingNotPending, fmt.Errorf("the pending key %s is accepted as %s", key.ID(), v.Reason))
	}
	slog.InfoContext(ctx, "testSecret: the pending key verifies", "partner", r.partnerID, "keyId", string(key.ID()), "reason", v.Reason)
	return nil
}

// configurationTest reports whether the pending version is Secrets Manager's test of the
// rotation configuration: RotateSecret with RotateImmediately=false adds a version holding a
// copy of the AWSCURRENT value, staged AWSPENDING, runs only testSecret on it, and removes it.
// It is recognised precisely: the pending key is the partner's current key — its key id is the
// one load read the active registry entry of (this partner's, the entry registered from
// another version than the token's), and it verifies against that entry as the verify path
// checks keys (registry.Verify: constant-time SHA-256 match, active, within its validity
// window) — and the pending value (which credential.Parse keeps as it is) is byte for byte the
// AWSCURRENT version's. The entry load read is reused, so the test costs the AWSCURRENT read
// in place of the registry lookup. Anything else, a copy of another partner's key or of a
// previous or retired key included, is not the test and goes through testSecret's checks,
// which refuse it.
func (h *Handler) configurationTest(ctx context.Context, r *run, key credential.Key) (bool, error) {
	from := r.currentVersion()
	if key.ID() != r.current.KeyID || r.current.SecretVersionID == r.token || from == "" {
		return false, nil
	}
	v, err := registry.Verify(ctx, loadedEntry(r.current), key, h.now(), false)
	if err != nil || !v.Accepted || v.Reason != registry.ReasonActive || v.Entry.PartnerID != r.partnerID {
		return false, nil
	}
	out, err := h.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(r.arn),
		VersionId:    aws.String(from),
		VersionStage: aws.String(StageCurrent),
	})
	if err != nil {
		return false, fail(ReasonSecretUnreadable, fmt.Errorf("read the current version %s: %w", from, err))
	}
	current := []byte(aws.ToString(out.SecretString))
	defer clear(current)
	pending := []byte(key.Plaintext().Reveal())
	defer clear(pending)
	if subtle.ConstantTimeCompare(current, pending) != 1 {
		return false, nil
	}
	slog.InfoContext(ctx, "testSecret: the rotation configuration's test passed (the pending version is a copy of the current key)",
		"partner", r.partnerID, "version", r.token, "currentVersion", from, "keyId", string(key.ID()))
	return true, nil
}

// loadedEntry is a registry.Lookup holding the one entry a step has read already.
type loadedEntry registry.Entry

func (e loadedEntry) Get(_ context.Context, id credential.KeyID) (registry.Entry, error) {
	if id != e.KeyID {
		return registry.Entry{}, fmt.Errorf("key %s: %w", id, registry.ErrNotFound)
	}
	return registry.Entry(e), nil
}

// finishSecret commits the rotation (Credential Rotated with the registry's and the partner's
// changes), then moves AWSCURRENT to the token's version. AWSPENDING stays on that version, as
// AWS's rotation templates leave it: RotateSecret documents it as one of the two end states of
// a successful rotation ("the AWSPENDING staging label might be attached to the same version
// as the AWSCURRENT version, or it might not be attached to any version"), and the next
// RotateSecret moves it to its own new version.
func (h *Handler) finishSecret(ctx context.Context, r *run) error {
	key, err := r.pendingKey()
	if err != nil {
		return err
	}
	if r.finished(key) {
		slog.InfoContext(ctx, "finishSecret: the rotation was committed by an earlier attempt", "partner", r.partnerID, "keyId", string(key.ID()))
	} else if err := h.commit(ctx, r, key); err != nil {
		return err
	}
	return h.moveStages(ctx, r)
}

// commit is finishSecret's transaction.
func (h *Handler) commit(ctx context.Context, r *run, key credential.Key) error {
	e, found, err := h.registered(ctx, r.entries, r, key)
	switch {
	case err != nil:
		return recheck(r, err)
	case !found:
		return recheck(r, fail(ReasonPendingUnregistered, fmt.Errorf("the pending key %s is not registered", key.ID())))
	case e.Status != registry.StatusPending:
		return recheck(r, fail(ReasonPendingNotPending, fmt.Errorf("the pending key %s is %s", key.ID(), e.Status)))
	}
	t, err := h.tier(r)
	if err != nil {
		return recheck(r, err)
	}
	now := h.now()
	old := r.current.KeyID
	graceUntil := now.Add(t.Rotation.GraceWindow.Std())
	items := []types.TransactWriteItem{registry.Activate(h.Tables.Credentials, key.ID())}
	if r.assumed {
		items = append(items, registry.SupersedeCurrent(h.Tables.Credentials, old, r.partnerID, r.current.Tier, graceUntil))
	} else {
		items = append(items, registry.Supersede(h.Tables.Credentials, old, graceUntil))
	}
	// One previous key at a time: the one the last rotation replaced retires now, unless it
	// already has (retired, revoked). When its entry was not read (assumed), its retirement
	// goes in conditioned on it being previous, and comes out again if that condition alone
	// cancels the commit.
	older := r.partner.PreviousKeyID
	retireOlder := -1 // the index of older's retirement in items
	if older != "" && older != old && older != key.ID() {
		e, err := r.entries.Get(ctx, older)
		switch {
		case r.assumed:
			retireOlder = len(items)
			items = append(items, registry.RetireDue(h.Tables.Credentials, older, now))
		case errors.Is(err, registry.ErrNotFound):
		case err != nil:
			return fail(ReasonRegistryUnreadable, fmt.Errorf("the previous key %s: %w", older, err))
		case e.Status == registry.StatusPrevious:
			items = append(items, registry.RetireDue(h.Tables.Credentials, older, now))
		}
	}
	items = append(items, promote(h.Tables.Partners, r.partnerID, old, key.ID(), older))
	ev := &events.CredentialRotated{
		Meta:          events.NewMeta(r.partnerID, h.actor(), now),
		KeyID:         string(key.ID()),
		PreviousKeyID: string(old),
		SecretARN:     r.arn,
		VersionID:     r.token,
		GraceUntil:    graceUntil,
	}
	_, err = h.outbox().CommitFrom(ctx, r.head, ev, items)
	if retireOlder >= 0 && onlyFailed(err, len(items), retireOlder) {
		// older is not previous any more (retired, revoked) or not registered: as when its
		// entry is read, it stays as it is.
		slog.InfoContext(ctx, "finishSecret: the previous key is not previous, left as it is", "partner", r.partnerID, "keyId", string(older))
		items = slices.Delete(items, retireOlder, retireOlder+1)
		_, err = h.outbox().CommitFrom(ctx, r.head, ev, items)
	}
	var changed *outbox.StateChangeError
	if r.assumed && errors.As(err, &changed) {
		return recheck(r, fmt.Errorf("commit the rotation to key %s: %w", key.ID(), err))
	}
	if err == nil {
		slog.InfoContext(ctx, "finishSecret: rotation committed", "partner", r.partnerID, "keyId", string(key.ID()),
			"previousKeyId", string(old), "retiredKeyId", string(older), "graceUntil", graceUntil, "eventId", ev.EventID)
		return nil
	}
	// The outcome may be unknown (a timeout after the SDK's retries): the partner's keyId says
	// whether the transaction landed.
	if p, rerr := h.readPartner(ctx, r.partnerID); rerr == nil && p.KeyID == string(key.ID()) {
		slog.InfoContext(ctx, "finishSecret: the rotation's commit landed despite the error", "partner", r.partnerID, "keyId", string(key.ID()), "error", err.Error())
		return nil
	}
	if errors.As(err, &changed) {
		return fail(ReasonStateChanged, fmt.Errorf("commit the rotation to key %s: %w", key.ID(), err))
	}
	return fail(ReasonCommitFailed, fmt.Errorf("commit the rotation to key %s: %w", key.ID(), err))
}

// moveStages makes the token's version AWSCURRENT (Secrets Manager moves AWSPREVIOUS to the
// version it leaves); AWSPENDING stays on it (finishSecret).
func (h *Handler) moveStages(ctx context.Context, r *run) error {
	from := r.currentVersion()
	if from == "" {
		return fail(ReasonNoCurrentVersion, errors.New("no version of the secret is AWSCURRENT"))
	}
	_, err := h.Secrets.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(r.arn),
		VersionStage:        aws.String(StageCurrent),
		MoveToVersionId:     aws.String(r.token),
		RemoveFromVersionId: aws.String(from),
	})
	if err != nil {
		return fail(ReasonStageMoveFailed, fmt.Errorf("move AWSCURRENT from version %s: %w", from, err))
	}
	slog.InfoContext(ctx, "finishSecret: version is AWSCURRENT", "partner", r.partnerID, "version", r.token, "previousVersion", from)
	return nil
}

// recheck is err, or errRecheck when the run assumed the current key's entry without reading
// it: the step runs again on the entries read, and names its failure then.
func recheck(r *run, err error) error {
	if r.assumed {
		return fmt.Errorf("%w: %w", errRecheck, err)
	}
	return err
}

// onlyFailed reports whether err is a transaction of n state changes (after the outbox's own
// items) cancelled by the condition of state change i alone.
func onlyFailed(err error, n, i int) bool {
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) || len(canceled.CancellationReasons) < n {
		return false
	}
	offset := len(canceled.CancellationReasons) - n
	for j, reason := range canceled.CancellationReasons {
		switch code := aws.ToString(reason.Code); {
		case j == offset+i:
			if code != "ConditionalCheckFailed" {
				return false
			}
		case code != "" && code != "None":
			return false
		}
	}
	return true
}
