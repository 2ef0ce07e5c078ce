package rotation

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// SecretsAPI is the part of the Secrets Manager client the rotation function uses.
type SecretsAPI interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// DynamoDBAPI is the part of the DynamoDB client the rotation function uses: consistent reads
// of the partner and registry items, and the outbox's (its head, its transactions).
type DynamoDBAPI interface {
	outbox.DynamoDBAPI
	registry.BatchGetItemAPI
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Tables names the tables the rotation function reads and writes (the topology's "partners",
// "credentials" and "outbox").
type Tables struct {
	Partners    string `env:"PARTNERS_TABLE"`
	Credentials string `env:"CREDENTIALS_TABLE"`
	Outbox      string `env:"OUTBOX_TABLE"`
}

// PartnerTag is the tag every partner secret carries, valued with the partner id.
const PartnerTag = partnersecret.Tag

// The staging labels rotation works with.
const (
	StageCurrent = partnersecret.StageCurrent
	StagePending = partnersecret.StagePending
)

// DefaultActor is the id of the system actor of the events rotation commits.
const DefaultActor = "lanyard-rotation"

// Handler is the rotation function. Build it once per cold start; it is safe for concurrent
// use.
type Handler struct {
	DB      DynamoDBAPI
	Secrets SecretsAPI
	Tables  Tables
	// Policy gives each tier's key lifetime and grace window (policy.Default).
	Policy *policy.Policy
	// SecretPrefix starts every partner secret's name ("lanyard/partners/"): a secret without
	// the partner tag names its partner after it.
	SecretPrefix string
	// Env is the environment new keys are minted for, as onboarding's; empty means
	// credential.EnvLive.
	Env credential.Environment
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness of new keys; nil means crypto/rand.Reader.
	Rand io.Reader
	// Actor is the id of the system actor of the events (the function's name); empty means
	// DefaultActor.
	Actor string
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

func (h *Handler) rand() io.Reader {
	if h.Rand == nil {
		return crand.Reader
	}
	return h.Rand
}

func (h *Handler) env() credential.Environment {
	if h.Env == "" {
		return credential.EnvLive
	}
	return h.Env
}

func (h *Handler) actor() events.Actor {
	id := h.Actor
	if id == "" {
		id = DefaultActor
	}
	return events.Actor{Kind: events.ActorSystem, ID: id}
}

func (h *Handler) registry() *registry.Store {
	return &registry.Store{DB: h.DB, Table: h.Tables.Credentials}
}

func (h *Handler) outbox() *outbox.Store {
	return &outbox.Store{DB: h.DB, Table: h.Tables.Outbox}
}

// run is one step's invocation: the event, what the guards read, and the partner. Each step
// reads what it needs once, in load, and passes it down: the partner's item, the token's
// pending key (the steps after createSecret), and in one batch every registry entry the step
// looks at.
type run struct {
	step, token string
	arn         string
	stages      map[string][]string // the secret's VersionIdsToStages
	partnerID   string
	partner     partnerState
	current     registry.Entry // the entry of the partner's current key
	// pending and pendingErr are what reading the token's pending key gave (the steps after
	// createSecret): pendingErr is returned when the step asks for the key.
	pending    credential.Key
	pendingErr error
	// entries are the registry entries load read: the current key's, the pending key's, and
	// the one the step may retire (setSecret: an abandoned rotation's pending key;
	// finishSecret: the previous key).
	entries registry.Entries
	// head is the partner's outbox chain head, read with the partner's item (finishSecret).
	head outbox.Head
	// assumed says current was not read but assumed, to be checked by the step's transaction
	// (load's assume).
	assumed bool
}

// pendingKey is the token's pending key, as load read it.
func (r *run) pendingKey() (credential.Key, error) { return r.pending, r.pendingErr }

// finished reports whether finishSecret's transaction made key the partner's current key
// (registry entry active, partner keyId moved): only that transaction moves keyId to the
// pending key.
func (r *run) finished(key credential.Key) bool { return r.partner.KeyID == string(key.ID()) }

// currentVersion is the version holding AWSCURRENT, or "".
func (r *run) currentVersion() string {
	for id, stages := range r.stages {
		if slices.Contains(stages, StageCurrent) {
			return id
		}
	}
	return ""
}

// Handle runs one rotation step; it is the Lambda handler. It returns nil when the step is done
// (or there was nothing to do), and an error when it failed, after committing Credential
// Rotation Failed (once per token and step) when the partner is known.
func (h *Handler) Handle(ctx context.Context, ev lambdaevents.SecretsManagerSecretRotationEvent) (err error) {
	ctx, span := tracing.Start(ctx, "rotate")
	span.Annotate("step", ev.Step)
	defer func() { span.End(err) }()

	r := &run{step: ev.Step, token: ev.ClientRequestToken}
	err = h.handle(ctx, ev, r)
	if r.partnerID != "" {
		span.Annotate("partner", r.partnerID)
	}
	if err == nil {
		return nil
	}
	reason := Reason(err)
	slog.ErrorContext(ctx, "rotation step failed", "step", ev.Step, "secret", ev.SecretID, "version", ev.ClientRequestToken,
		"partner", r.partnerID, "reason", reason, "error", err.Error())
	if r.partnerID != "" && r.arn != "" && validStep(ev.Step) {
		h.recordFailure(ctx, r, reason)
	}
	return err
}

// handle runs the guards and the step.
func (h *Handler) handle(ctx context.Context, ev lambdaevents.SecretsManagerSecretRotationEvent, r *run) error {
	what := fmt.Sprintf("%s of secret %s version %s", ev.Step, ev.SecretID, ev.ClientRequestToken)
	if !validStep(ev.Step) {
		return fmt.Errorf("%s: %w", what, fail(ReasonUnknownStep, errors.New("not a rotation step")))
	}
	if ev.SecretID == "" || ev.ClientRequestToken == "" {
		return fmt.Errorf("%s: %w", what, fail(ReasonUnknownVersion, errors.New("the event names no secret or no version")))
	}
	desc, err := h.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretID)})
	if err != nil {
		return fmt.Errorf("%s: describe the secret: %w", what, fail(ReasonSecretUnreadable, err))
	}
	r.arn, r.stages = aws.ToString(desc.ARN), desc.VersionIdsToStages
	what = fmt.Sprintf("%s of secret %s version %s", ev.Step, r.arn, ev.ClientRequestToken)
	if r.partnerID, err = h.partnerOf(desc); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}

	// The guards of AWS's rotation templates.
	stages, known := desc.VersionIdsToStages[r.token]
	switch {
	case !aws.ToBool(desc.RotationEnabled):
		return fmt.Errorf("%s: %w", what, fail(ReasonRotationDisabled, errors.New("rotation is not enabled on the secret")))
	case !known:
		return fmt.Errorf("%s: %w", what, fail(ReasonUnknownVersion, errors.New("the token is not a version of the secret")))
	case slices.Contains(stages, StageCurrent):
		slog.InfoContext(ctx, "rotation step: the version is already AWSCURRENT, nothing to do",
			"step", r.step, "secret", r.arn, "version", r.token, "partner", r.partnerID)
		return nil
	case !slices.Contains(stages, StagePending):
		return fmt.Errorf("%s: %w", what, fail(ReasonNotPending, fmt.Errorf("the version is not AWSPENDING (stages %v)", stages)))
	}

	if err := h.load(ctx, r); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	slog.InfoContext(ctx, "rotation step", "step", r.step, "secret", r.arn, "version", r.token,
		"partner", r.partnerID, "currentKeyId", string(r.current.KeyID))
	err = h.step(ctx, r)
	if errors.Is(err, errRecheck) {
		slog.InfoContext(ctx, "rotation step: what was assumed of the current key is read", "step", r.step, "partner", r.partnerID, "reason", err.Error())
		if err = h.loadEntries(ctx, r); err == nil {
			err = h.step(ctx, r)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	slog.InfoContext(ctx, "rotation step done", "step", r.step, "secret", r.arn, "version", r.token, "partner", r.partnerID)
	return nil
}

// step runs the step's own work.
func (h *Handler) step(ctx context.Context, r *run) error {
	switch r.step {
	case events.StepCreateSecret:
		return h.createSecret(ctx, r)
	case events.StepSetSecret:
		return h.setSecret(ctx, r)
	case events.StepTestSecret:
		return h.testSecret(ctx, r)
	case events.StepFinishSecret:
		return h.finishSecret(ctx, r)
	}
	return nil
}

func validStep(step string) bool {
	switch step {
	case events.StepCreateSecret, events.StepSetSecret, events.StepTestSecret, events.StepFinishSecret:
		return true
	}
	return false
}

// partnerOf finds the secret's partner: its PartnerTag, else its name after SecretPrefix. When
// both name one, they must agree.
func (h *Handler) partnerOf(desc *secretsmanager.DescribeSecretOutput) (string, error) {
	var tagged string
	for _, t := range desc.Tags {
		if aws.ToString(t.Key) == PartnerTag {
			tagged = aws.ToString(t.Value)
		}
	}
	named := partnersecret.PartnerOfName(h.SecretPrefix, aws.ToString(desc.Name))
	id := tagged
	switch {
	case tagged != "" && named != "" && tagged != named:
		return "", fail(ReasonPartnerUnknown, fmt.Errorf("the secret is tagged for partner %q but named for %q", tagged, named))
	case tagged == "":
		id = named
	}
	if !partners.ValidID(id) {
		return "", fail(ReasonPartnerUnknown, fmt.Errorf("the secret names no partner (tag %s %q, name %q)", PartnerTag, tagged, aws.ToString(desc.Name)))
	}
	return id, nil
}

// load reads the partner and its current key's entry, and checks the rotation may go on: the
// partner is active, the secret is the partner's, and its current key is registered and
// active. It also reads what the step needs besides (run's pending and entries): the partner
// item once, the pending key once, and the registry entries in one BatchGetItem.
//
// setSecret and finishSecret read the pending key first, and the partner's item (finishSecret:
// with its outbox head) in one consistent BatchGetItem with the pending key's entry. When that
// is all the step needs to read (assume), the current key's entry is not read: the checks on
// it ride in the step's transaction as conditions, and a transaction they cancel sends the
// step back to read it (errRecheck).
func (h *Handler) load(ctx context.Context, r *run) error {
	joint := r.step == events.StepSetSecret || r.step == events.StepFinishSecret
	if joint {
		h.loadPending(ctx, r)
	}
	var p partnerState
	var pendingItem map[string]types.AttributeValue
	var err error
	if joint {
		p, pendingItem, err = h.readPartnerJoint(ctx, r)
	} else {
		p, err = h.readPartner(ctx, r.partnerID)
	}
	switch {
	case errors.Is(err, partners.ErrNotFound):
		return fail(ReasonPartnerUnknown, err)
	case err != nil:
		return fail(ReasonPartnerUnreadable, err)
	case p.Status != partners.StatusActive:
		return fail(ReasonPartnerNotActive, fmt.Errorf("partner %s is %s", r.partnerID, p.Status))
	case p.SecretARN != r.arn:
		return fail(ReasonSecretNotPartners, fmt.Errorf("partner %s's secret is %s", r.partnerID, p.SecretARN))
	}
	r.partner = p
	id, err := credential.ParseKeyID(p.KeyID)
	if err != nil {
		return fail(ReasonCurrentKeyUnknown, fmt.Errorf("partner %s: attribute %s: %w", r.partnerID, partners.AttrKeyID, err))
	}
	if r.step == events.StepTestSecret {
		// The pending key is read here so its entry comes in the same batch; a failure to read
		// it is the step's to return, after the current key's checks below.
		h.loadPending(ctx, r)
	}
	if joint {
		if ok, err := h.assume(r, id, pendingItem); ok || err != nil {
			return err
		}
	}
	return h.loadEntries(ctx, r)
}

// loadPending reads the token's pending key into r.pending, or the error the step returns
// when it asks for it into r.pendingErr.
func (h *Handler) loadPending(ctx context.Context, r *run) {
	r.pending, r.pendingErr = h.readPending(ctx, r)
	if errors.Is(r.pendingErr, errNoPendingValue) {
		r.pendingErr = fail(ReasonSecretUnreadable, r.pendingErr)
	}
}

// loadEntries reads, in one consistent BatchGetItem, the registry entries the step looks at —
// the partner's current key's, the pending key's, and the one the step may retire (setSecret:
// an abandoned rotation's pending key; finishSecret: the previous key) — and checks the
// current key's: registered, the partner's, active.
func (h *Handler) loadEntries(ctx context.Context, r *run) error {
	id := credential.KeyID(r.partner.KeyID)
	r.assumed = false
	ids := []credential.KeyID{id}
	if r.step != events.StepCreateSecret && r.pendingErr == nil {
		ids = append(ids, r.pending.ID())
	}
	switch r.step {
	case events.StepSetSecret:
		ids = append(ids, r.partner.PendingKeyID) // an abandoned rotation's, retired by setSecret
	case events.StepFinishSecret:
		ids = append(ids, r.partner.PreviousKeyID) // retired by finishSecret's commit
	}
	var err error
	r.entries, err = registry.GetEntries(ctx, h.DB, h.Tables.Credentials, ids...)
	if err != nil {
		return fail(ReasonRegistryUnreadable, fmt.Errorf("the current key of partner %s: %w", r.partnerID, err))
	}
	cur, err := r.entries.Get(ctx, id)
	if err == nil {
		return h.checkCurrent(r, cur)
	}
	if errors.Is(err, registry.ErrNotFound) {
		return fail(ReasonCurrentKeyUnknown, fmt.Errorf("the current key of partner %s: %w", r.partnerID, err))
	}
	return fail(ReasonRegistryUnreadable, fmt.Errorf("the current key of partner %s: %w", r.partnerID, err))
}

// checkCurrent checks the partner's current key's entry and keeps it as r.current.
func (h *Handler) checkCurrent(r *run, cur registry.Entry) error {
	switch {
	case cur.PartnerID != r.partnerID:
		return fail(ReasonCurrentKeyUnknown, fmt.Errorf("the current key %s of partner %s is registered for partner %s", cur.KeyID, r.partnerID, cur.PartnerID))
	case cur.Status != registry.StatusActive:
		return fail(ReasonCurrentKeyNotActive, fmt.Errorf("the current key %s of partner %s is %s", cur.KeyID, r.partnerID, cur.Status))
	}
	r.current = cur
	return nil
}

// assume decides, from the partner's item and the pending key's entry read together
// (pendingItem, nil when there is none or the pending key did not read), whether setSecret or
// finishSecret needs no other read. It does when
//
//   - setSecret: the pending key is not registered and the partner has no pending key (no
//     abandoned rotation's to retire): the current key's entry is taken to be active, this
//     partner's and of the partner's tier and scopes, which the transaction checks
//     (registry.CheckCurrent);
//   - finishSecret, the commit landed (the partner's key is the pending key): the pending key's
//     entry is the current key's, checked as loadEntries checks it;
//   - finishSecret, before the commit: the pending key is registered; the current key's entry is
//     taken to be active, this partner's and of the tier the pending key was registered with
//     (setSecret copies the current key's), which the commit checks
//     (registry.SupersedeCurrent).
//
// Otherwise — a pending key that did not read, an entry that does not, a retry of setSecret —
// loadEntries reads as it did before.
func (h *Handler) assume(r *run, current credential.KeyID, pendingItem map[string]types.AttributeValue) (bool, error) {
	if r.pendingErr != nil {
		return false, nil
	}
	key := r.pending
	var pending registry.Entry
	registered := len(pendingItem) > 0
	if registered {
		e, err := registry.EntryFromItem(pendingItem)
		if err != nil || e.KeyID != key.ID() {
			return false, nil
		}
		pending = e
	}
	assumed := registry.Entry{KeyID: current, PartnerID: r.partnerID, Status: registry.StatusActive}
	switch {
	case r.step == events.StepSetSecret && !registered && r.partner.PendingKeyID == "":
		assumed.Tier, assumed.Scopes = r.partner.Tier, r.partner.Scopes
		r.entries = registry.Entries{}
	case r.step == events.StepFinishSecret && registered && r.finished(key):
		r.entries = registry.Entries{key.ID(): pending}
		return true, h.checkCurrent(r, pending)
	case r.step == events.StepFinishSecret && registered:
		assumed.Tier = pending.Tier
		r.entries = registry.Entries{key.ID(): pending}
	default:
		return false, nil
	}
	r.current, r.assumed = assumed, true
	return true, nil
}

// errRecheck is a step's error when what load assumed of the current key's entry without
// reading it may not hold (a check failed, or the transaction conditioned on it was
// cancelled): the step runs again on the entries read (loadEntries), as it would have
// without the assumption, and its outcome is that run's.
var errRecheck = errors.New("what was assumed of the current key is to be read")

// readPartnerJoint reads, for setSecret and finishSecret, the partner's item, and in the same
// consistent BatchGetItem the pending key's registry entry when the pending key read
// (returned as its item, nil when there is none) and finishSecret's outbox chain head (into
// r.head); errors as readPartner's.
func (h *Handler) readPartnerJoint(ctx context.Context, r *run) (partnerState, map[string]types.AttributeValue, error) {
	request := map[string]types.KeysAndAttributes{
		h.Tables.Partners: {Keys: []map[string]types.AttributeValue{partners.Key(r.partnerID)}, ConsistentRead: aws.Bool(true)},
	}
	if r.step == events.StepFinishSecret {
		request[h.Tables.Outbox] = types.KeysAndAttributes{Keys: []map[string]types.AttributeValue{outbox.HeadKey(r.partnerID)}, ConsistentRead: aws.Bool(true)}
	}
	if r.pendingErr == nil {
		request[h.Tables.Credentials] = types.KeysAndAttributes{Keys: []map[string]types.AttributeValue{registry.Key(r.pending.ID())}, ConsistentRead: aws.Bool(true)}
	}
	var partnerItem, headItem, pendingItem map[string]types.AttributeValue
	for attempt := 1; len(request) > 0; attempt++ {
		if attempt > maxBatchAttempts {
			return partnerState{}, nil, fmt.Errorf("get partner %s with its pending key and outbox head: keys left unprocessed after retries", r.partnerID)
		}
		out, err := h.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request})
		if err != nil {
			return partnerState{}, nil, fmt.Errorf("get partner %s with its pending key and outbox head: %w", r.partnerID, err)
		}
		for table, dst := range map[string]*map[string]types.AttributeValue{h.Tables.Partners: &partnerItem, h.Tables.Outbox: &headItem, h.Tables.Credentials: &pendingItem} {
			if items := out.Responses[table]; len(items) > 0 {
				*dst = items[0]
			}
		}
		request = out.UnprocessedKeys
	}
	// A head that does not read is left to the commit, which reads it again and fails there
	// as it would have.
	if head, err := outbox.HeadFromItem(r.partnerID, headItem); err == nil && r.step == events.StepFinishSecret {
		r.head = head
	}
	p, err := partnerFromItem(r.partnerID, partnerItem)
	return p, pendingItem, err
}

// maxBatchAttempts bounds a BatchGetItem's calls when DynamoDB leaves keys unprocessed.
const maxBatchAttempts = 5

// tier is the policy's tier of the current key.
func (h *Handler) tier(r *run) (policy.Tier, error) {
	t, ok := h.Policy.Tier(r.current.Tier)
	if !ok {
		return policy.Tier{}, fail(ReasonTierUnknown, fmt.Errorf("tier %q of key %s is not in policy revision %d", r.current.Tier, r.current.KeyID, h.Policy.Revision))
	}
	return t, nil
}

// recordFailure commits Credential Rotation Failed for the run's step, once per token and
// step: the commit sets the partner's marker of the step to the token, conditioned on it not
// being set to the token already. A failure to record is logged, not returned: the step's own
// error is what Secrets Manager must see.
func (h *Handler) recordFailure(ctx context.Context, r *run, reason string) {
	ev := &events.CredentialRotationFailed{
		Meta:      events.NewMeta(r.partnerID, h.actor(), h.now()),
		SecretARN: r.arn,
		VersionID: r.token,
		Step:      r.step,
		Reason:    reason,
	}
	attrs := []any{"step", r.step, "secret", r.arn, "version", r.token, "partner", r.partnerID, "reason", reason}
	_, err := h.outbox().Commit(ctx, r.partnerID, ev, failureMarker(h.Tables.Partners, r.partnerID, r.step, r.token))
	var recorded *outbox.StateChangeError
	switch {
	case errors.As(err, &recorded):
		slog.InfoContext(ctx, "rotation failure already recorded for this step and version (or the partner is gone)", attrs...)
	case err != nil:
		slog.ErrorContext(ctx, "record the rotation failure", append(attrs, "error", err.Error())...)
	default:
		slog.InfoContext(ctx, "rotation failure recorded", append(attrs, "eventId", ev.EventID)...)
	}
}
