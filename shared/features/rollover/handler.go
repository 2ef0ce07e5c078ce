package rollover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// The routes Handler answers, as API Gateway names them in the proxy event's resource.
const (
	CurrentResource = "/v1/credentials/current"
	AckResource     = "/v1/credentials/ack"
)

// Values of Current.CallerKey.
const (
	CallerCurrent  = "current"
	CallerPrevious = "previous"
)

// AckWithNewKeyDetail is the detail of the 409 answering an acknowledgement made with the
// previous key.
const AckWithNewKeyDetail = "Acknowledge with the new key: this request was made with the previous key. " +
	"Pick up the current key with GET /v1/credentials/current, switch to it, and call again with it."

// EmptyBodyMessage is the validation message for an acknowledgement with a body that is not
// empty.
const EmptyBodyMessage = apigw.EmptyBodyMessage

// maxAckAttempts bounds the acknowledgements tried when a concurrent change (another
// acknowledgement, a rotation) cancels the transaction.
const maxAckAttempts = 3

// SecretsAPI is the part of the Secrets Manager client the partner routes use.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// Handler answers GET /v1/credentials/current and POST /v1/credentials/ack for the partner
// whose key the authorizer accepted. Build it once per cold start; it is safe for concurrent
// use.
type Handler struct {
	DB      DynamoDBAPI
	Secrets SecretsAPI
	Tables  Tables
	// Policy gives each tier's drain window (policy.Default).
	Policy *policy.Policy
	// SecretPrefix starts every partner secret's name ("lanyard/partners/"): a registry entry
	// naming a secret outside it is refused before the secret is read.
	SecretPrefix string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

// Current is the CurrentCredential schema of shared/domain/openapi/openapi.json, the answer to GET
// /v1/credentials/current. APIKey holds the key in plain text: build it only to write the
// response body.
type Current struct {
	KeyID     string    `json:"keyId"`
	APIKey    string    `json:"apiKey"`
	ExpiresAt time.Time `json:"expiresAt"`
	// CallerKey says which key the request was made with: CallerCurrent or CallerPrevious.
	CallerKey string `json:"callerKey"`
	// PreviousKey is the previous key while it is still accepted.
	PreviousKey *PreviousKey `json:"previousKey,omitempty"`
}

// PreviousKey is the PreviousKey schema of shared/domain/openapi/openapi.json: the key the last rotation
// replaced, while it is still accepted.
type PreviousKey struct {
	KeyID      string    `json:"keyId"`
	GraceUntil time.Time `json:"graceUntil"`
	// AcknowledgedAt and RetireAt are set once the partner acknowledged the current key: the
	// previous key is accepted until RetireAt.
	AcknowledgedAt *time.Time `json:"acknowledgedAt,omitempty"`
	RetireAt       *time.Time `json:"retireAt,omitempty"`
}

// Acknowledgement is the RotationAcknowledgement schema of shared/domain/openapi/openapi.json, the answer to
// POST /v1/credentials/ack.
type Acknowledgement struct {
	// KeyID is the current key, the one acknowledged.
	KeyID string `json:"keyId"`
	// PreviousKey is the previous key while it is still accepted, with its retirement time;
	// absent when there was nothing to acknowledge.
	PreviousKey *PreviousKey `json:"previousKey,omitempty"`
}

// Handle is the Lambda entry point of the two routes, told apart by the event's resource and
// method. It never returns an error: every failure is a problem+json answer, a refusal logged
// at info level and a fault, with its whole error chain, at error level.
func (h *Handler) Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	var name string
	var serve apigw.Func
	switch {
	case req.Resource == CurrentResource && req.HTTPMethod == http.MethodGet:
		name, serve = "getCurrentCredential", h.current
	case req.Resource == AckResource && req.HTTPMethod == http.MethodPost:
		name, serve = "acknowledgeRotation", h.ack
	default:
		name, serve = "credentials", func(context.Context, *tracing.Span, lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
			return lambdaevents.APIGatewayProxyResponse{}, problem.NotFound.New("").WithCause(fmt.Errorf("no route %s %s here", req.HTTPMethod, req.Resource))
		}
	}
	return apigw.Route{
		Span: name,
		Refused: func(t problem.Type, err error) []any {
			return []any{"status", t.Status(), "problem", t.Anchor(), "reason", err.Error()}
		},
		Failed: func(err error) []any { return []any{"error", err.Error()} },
	}.Serve(ctx, req, serve)
}

// keys is what both routes read: the partner, the key the request was made with, the
// partner's current key, and its previous key while it is accepted.
type keys struct {
	partner  partnerState
	caller   registry.Entry
	current  registry.Entry
	previous *registry.Entry // nil when there is no previous key still accepted
	// callerKey is CallerCurrent or CallerPrevious.
	callerKey string
}

// read reads the partner and its keys for the request's authorizer context, and checks the
// caller's key is still accepted and is the partner's current or previous key. A key the
// registry no longer accepts (a stale authorizer cache) is refused with access-denied.
func (h *Handler) read(ctx context.Context, span *tracing.Span, req lambdaevents.APIGatewayProxyRequest, now time.Time) (keys, error) {
	caller := apigw.CallerOf(req)
	partnerID, keyID := caller.PartnerID, caller.KeyID
	if partnerID == "" || keyID == "" {
		return keys{}, fmt.Errorf("the authorizer context lacks a partner id (%t) or key id (%t)", partnerID != "", keyID != "")
	}
	span.Annotate("partner", partnerID)
	store := &registry.Store{DB: h.DB, Table: h.Tables.Credentials}
	var k keys
	var err error
	if k.caller, err = store.GetPartnerKey(ctx, partnerID, keyID); err != nil {
		return keys{}, err
	}
	id := k.caller.KeyID
	if ok, reason := k.caller.Accepts(now); !ok {
		return keys{}, problem.AccessDenied.New("").WithCause(fmt.Errorf("credential %s of partner %s is not accepted now: %s", id, partnerID, reason))
	}
	// A partner that is not in the table, with a key the registry accepts, is a fault of the
	// deployment's data (500), as every other inconsistency between the two.
	if k.partner, err = readPartner(ctx, h.DB, h.Tables.Partners, partnerID); err != nil {
		return keys{}, err
	}
	if k.partner.Status != partners.StatusActive {
		return keys{}, problem.AccessDenied.New("").WithCause(fmt.Errorf("partner %s is %s", partnerID, k.partner.Status))
	}
	currentID, err := credential.ParseKeyID(k.partner.KeyID)
	if err != nil {
		return keys{}, fmt.Errorf("partner %s's current key id: %w", partnerID, err)
	}
	if currentID == id {
		k.current = k.caller
	} else if k.current, err = store.Get(ctx, currentID); err != nil {
		return keys{}, fmt.Errorf("partner %s's current key: %w", partnerID, err)
	}
	if k.current.PartnerID != partnerID {
		return keys{}, fmt.Errorf("current credential %s, partner %s: %w", currentID, partnerID, registry.ErrNotPartners)
	}
	if k.current.Status == registry.StatusRevoked {
		// The partner revoked its current key: there is nothing to collect or acknowledge, and
		// the previous key must not learn more than that.
		return keys{}, problem.AccessDenied.New("").WithCause(fmt.Errorf("partner %s's current key %s is revoked", partnerID, currentID))
	}
	if k.current.Status != registry.StatusActive {
		return keys{}, fmt.Errorf("partner %s's current key %s is %s", partnerID, currentID, k.current.Status)
	}
	if k.previous, err = h.previous(ctx, store, k, now); err != nil {
		return keys{}, err
	}
	switch {
	case id == currentID:
		k.callerKey = CallerCurrent
	case k.previous != nil && k.previous.KeyID == id:
		k.callerKey = CallerPrevious
	default:
		// Accepted by the registry but neither of the partner's two keys: a key the partner
		// item does not name (it never happens while rotation keeps both in step).
		return keys{}, problem.AccessDenied.New("").WithCause(fmt.Errorf("credential %s (%s) is neither partner %s's current key %s nor its previous key %q",
			id, k.caller.Status, partnerID, currentID, k.partner.PreviousKeyID))
	}
	return k, nil
}

// previous reads the partner's previous key, and returns its entry while it is still
// accepted, else nil.
func (h *Handler) previous(ctx context.Context, store *registry.Store, k keys, now time.Time) (*registry.Entry, error) {
	id := k.partner.PreviousKeyID
	if id == "" {
		return nil, nil
	}
	e := k.caller
	// The caller's entry, read before the partner's item, is reused only when it is previous:
	// a rotation that finished in between made the caller's active key previous.
	if id != e.KeyID || e.Status != registry.StatusPrevious {
		var err error
		e, err = store.Get(ctx, id)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("partner %s's previous key: %w", k.partner.PartnerID, err)
		}
	}
	if ok, _ := e.Accepts(now); !ok || e.Status != registry.StatusPrevious || e.PartnerID != k.partner.PartnerID {
		return nil, nil
	}
	return &e, nil
}

// previousKey shows the previous key, or nil.
func (k keys) previousKey() *PreviousKey {
	if k.previous == nil {
		return nil
	}
	p := &PreviousKey{KeyID: string(k.previous.KeyID), GraceUntil: k.previous.GraceUntil.UTC()}
	if !k.previous.AcknowledgedAt.IsZero() {
		ack, retire := k.previous.AcknowledgedAt.UTC(), k.previous.RetireAt.UTC()
		p.AcknowledgedAt, p.RetireAt = &ack, &retire
	}
	return p
}

// current answers GET /v1/credentials/current.
func (h *Handler) current(ctx context.Context, span *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	now := h.now()
	k, err := h.read(ctx, span, req, now)
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("pick up the current key: %w", err)
	}
	key, err := h.currentKey(ctx, k.current)
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("pick up the current key of partner %s: %w", k.partner.PartnerID, err)
	}
	if err := h.recordPickUp(ctx, k, now); err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("pick up the current key of partner %s: %w", k.partner.PartnerID, err)
	}
	body, err := json.Marshal(Current{
		KeyID:       string(key.ID()),
		APIKey:      key.Plaintext().Reveal(),
		ExpiresAt:   k.current.NotAfter.UTC(),
		CallerKey:   k.callerKey,
		PreviousKey: k.previousKey(),
	})
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("pick up the current key of partner %s: encode the answer: %w", k.partner.PartnerID, err)
	}
	slog.InfoContext(ctx, "current key picked up", "partnerId", k.partner.PartnerID, "keyId", string(key.ID()),
		"callerKeyId", string(k.caller.KeyID), "callerKey", k.callerKey)
	return jsonResponse(http.StatusOK, body), nil
}

// recordPickUp records that the key a rotation made current was handed to a caller who proved
// only the previous key: every GET made with the previous key, since each one shows the new key
// to whoever holds the old one (a leaked previous key must not pull the new key unrecorded).
// Credential Picked Up (method "rotation") commits before the key is answered; the first one
// also sets the marker on the key's entry (registry.PickUp). A GET made with the current key
// shows the caller a key it holds already: it records nothing and costs no write. When a
// concurrent GET set the marker first, this one's record commits without it.
func (h *Handler) recordPickUp(ctx context.Context, k keys, now time.Time) error {
	if k.callerKey != CallerPrevious {
		return nil
	}
	pid := k.partner.PartnerID
	ev := &events.CredentialPickedUp{
		Meta:        events.NewMeta(pid, events.Actor{Kind: events.ActorPartner, ID: pid}, now),
		KeyID:       string(k.current.KeyID),
		Method:      events.PickedUpRotation,
		CallerKeyID: string(k.caller.KeyID),
	}
	store := &outbox.Store{DB: h.DB, Table: h.Tables.Outbox}
	var marker []types.TransactWriteItem
	if k.current.PickedUpAt.IsZero() {
		marker = []types.TransactWriteItem{registry.PickUp(h.Tables.Credentials, k.current.KeyID, now)}
	}
	rec, err := store.Commit(ctx, pid, ev, marker)
	if _, raced := errors.AsType[*outbox.StateChangeError](err); raced {
		// Another GET set the marker first: this pick-up is recorded all the same.
		rec, err = store.Commit(ctx, pid, ev, nil)
	}
	if err != nil {
		return fmt.Errorf("record the pick-up of key %s: %w", k.current.KeyID, err)
	}
	slog.InfoContext(ctx, "rotated key picked up: recorded", "partnerId", pid, "keyId", string(k.current.KeyID),
		"callerKeyId", string(k.caller.KeyID), "eventId", ev.EventID, "outboxSeq", rec.Seq, "first", marker != nil)
	return nil
}

// currentKey reads the current key from the secret version its registry entry names, and
// checks it is that key.
func (h *Handler) currentKey(ctx context.Context, e registry.Entry) (credential.Key, error) {
	if !partnersecret.UnderPrefix(e.SecretARN, h.SecretPrefix) {
		return credential.Key{}, fmt.Errorf("key %s is registered in secret %s, which is not a partner secret (prefix %q)", e.KeyID, e.SecretARN, h.SecretPrefix)
	}
	out, err := h.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:  aws.String(e.SecretARN),
		VersionId: aws.String(e.SecretVersionID),
	})
	if err != nil {
		return credential.Key{}, fmt.Errorf("read version %s of secret %s: %w", e.SecretVersionID, e.SecretARN, err)
	}
	// credential.Parse's errors are fixed messages: they never contain the value.
	key, err := credential.Parse(aws.ToString(out.SecretString))
	if err != nil {
		return credential.Key{}, fmt.Errorf("version %s of secret %s does not hold a partner key: %w", e.SecretVersionID, e.SecretARN, err)
	}
	if key.ID() != e.KeyID || !e.Verifier.Matches(key) {
		return credential.Key{}, fmt.Errorf("version %s of secret %s holds key %s, not the registered key %s", e.SecretVersionID, e.SecretARN, key.ID(), e.KeyID)
	}
	return key, nil
}

// ack answers POST /v1/credentials/ack.
func (h *Handler) ack(ctx context.Context, span *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	if err := apigw.CheckEmptyBody(req); err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, err
	}
	for attempt := 1; ; attempt++ {
		now := h.now()
		k, err := h.read(ctx, span, req, now)
		if err != nil {
			return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("acknowledge the rotation: %w", err)
		}
		pid := k.partner.PartnerID
		if k.callerKey == CallerPrevious {
			return lambdaevents.APIGatewayProxyResponse{}, problem.Conflict.New(AckWithNewKeyDetail).WithCause(
				fmt.Errorf("partner %s acknowledged with its previous key %s, not its current key %s", pid, k.caller.KeyID, k.current.KeyID))
		}
		if k.previous == nil || !k.previous.AcknowledgedAt.IsZero() {
			slog.InfoContext(ctx, "rotation acknowledged: nothing to do", "partnerId", pid, "keyId", string(k.current.KeyID),
				"previousKeyId", string(k.partner.PreviousKeyID), "acknowledgedBefore", k.previous != nil)
			return h.acknowledged(k)
		}
		err = h.commitAck(ctx, k, now)
		var changed *outbox.StateChangeError
		switch {
		case err == nil:
			return h.acknowledged(k)
		case errors.As(err, &changed) && attempt < maxAckAttempts:
			// Another acknowledgement, a rotation or a retirement came first: read again.
			slog.InfoContext(ctx, "rotation acknowledgement met a concurrent change, reading again", "partnerId", pid, "attempt", attempt)
			continue
		}
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("acknowledge the rotation of partner %s: %w", pid, err)
	}
}

// commitAck records the acknowledgement on the previous key's entry, with its retirement
// time, in one transaction with Credential Rotation Acknowledged; k.previous is updated to
// what was committed.
func (h *Handler) commitAck(ctx context.Context, k keys, now time.Time) error {
	prev := *k.previous
	t, ok := h.Policy.Tier(prev.Tier)
	if !ok {
		return fmt.Errorf("the previous key %s has tier %q, which the policy does not declare", prev.KeyID, prev.Tier)
	}
	retireAt := now.Add(t.Rotation.DrainWindow.Std())
	if prev.GraceUntil.Before(retireAt) {
		retireAt = prev.GraceUntil
	}
	pid := k.partner.PartnerID
	ev := &events.CredentialRotationAcknowledged{
		Meta:          events.NewMeta(pid, events.Actor{Kind: events.ActorPartner, ID: pid}, now),
		KeyID:         string(k.current.KeyID),
		PreviousKeyID: string(prev.KeyID),
		GraceUntil:    prev.GraceUntil.UTC(),
		RetireAt:      retireAt.UTC(),
	}
	_, err := (&outbox.Store{DB: h.DB, Table: h.Tables.Outbox}).Commit(ctx, pid, ev, []types.TransactWriteItem{
		registry.Acknowledge(h.Tables.Credentials, prev.KeyID, now, retireAt),
		stillPair(h.Tables.Partners, pid, k.current.KeyID, prev.KeyID),
	})
	if err != nil {
		return fmt.Errorf("commit the acknowledgement of key %s: %w", k.current.KeyID, err)
	}
	k.previous.AcknowledgedAt, k.previous.RetireAt = now, retireAt
	slog.InfoContext(ctx, "rotation acknowledged", "partnerId", pid, "keyId", string(k.current.KeyID),
		"previousKeyId", string(prev.KeyID), "retireAt", retireAt, "graceUntil", prev.GraceUntil, "eventId", ev.EventID)
	return nil
}

// acknowledged is the answer to an acknowledgement.
func (h *Handler) acknowledged(k keys) (lambdaevents.APIGatewayProxyResponse, error) {
	body, err := json.Marshal(Acknowledgement{KeyID: string(k.current.KeyID), PreviousKey: k.previousKey()})
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("acknowledge the rotation of partner %s: encode the answer: %w", k.partner.PartnerID, err)
	}
	return jsonResponse(http.StatusOK, body), nil
}

func jsonResponse(status int, body []byte) lambdaevents.APIGatewayProxyResponse {
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"},
		Body:       string(body),
	}
}
