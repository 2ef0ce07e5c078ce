// Package revoke is the revocation of partner keys (flow 5 of the design): the partner's own,
// POST /v1/revoke in the style of RFC 7009's token revocation (Handler), and ops',
// POST /v1/admin/partners/{partnerId}/revoke (AdminHandler, admin.go). Both commit through one
// path (commit.go): the registry's moves of the keys read, conditioned on their statuses, the
// items the deployment's Hooks add, and Credential Revoked, in one outbox transaction; a
// concurrent change cancels it and the request reads again, at most three times; after a
// commit, the AfterCommit hook is told.
//
// The request is a form (application/x-www-form-urlencoded) holding the key to revoke as its
// token parameter, with an optional token_type_hint (read and ignored: Lanyard has one kind of
// token). It is authenticated with a key of the same partner, through the partner-key
// authorizer. The key to revoke matches only by its full verifier: the token is parsed
// (credential.Parse: grammar and checksum, no I/O), its registry entry is read by its key id,
// and the SHA-256 of the whole token is compared with the entry's verifier in constant time
// (registry.Verify). A key id alone never matches: key ids are public.
//
// Every well-formed request is answered 200 with the same body, an empty JSON object, whether or not anything was
// revoked: a token that is not a key, an unknown key, a key whose secret does not match,
// another partner's key, a key already revoked or retired change nothing and are answered
// alike, so the answer never tells a caller whose key it holds (RFC 7009 would refuse another
// client's token; answering alike avoids the oracle). A partner's previous key, while its grace
// lasts, may revoke only itself: its attempt to revoke the current key changes nothing. The
// caller's own key must be accepted by the registry (a key revoked a moment ago, still in the
// gateway's cache, is refused with access-denied): a revoked key revokes nothing.
//
// A revocation is a lifecycle decision: the registry's move of the key to revoked
// (registry.Revoke, conditioned on the status read) commits in one transaction with the
// Credential Revoked outbox record (actor: the partner; reason: requested; a new revocation
// id) and, when the key revoked is not the caller's, a check that the caller's key still has
// the status read. Revoking again finds the key revoked and commits nothing: no second event. A
// concurrent change (a rotation, a retirement, another revocation) cancels the transaction,
// and the request reads again.
//
// The token never reaches a log, an error, a trace or an event: it is held as a
// credential.Key (rendered [redacted]) from the moment it is parsed, and errors are built
// from key ids.
package revoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// Resource is the route Handler answers, as API Gateway names it in the proxy event.
const Resource = "/v1/revoke"

// The form's parameters (RFC 7009, section 2.1).
const (
	ParamToken         = apigw.FormParamToken
	ParamTokenTypeHint = apigw.FormParamTokenTypeHint
)

// FormContentType is the media type of the request body.
const FormContentType = apigw.FormContentType

// maxBodyBytes bounds the body: a form of one key and a hint is a few hundred bytes.
const maxBodyBytes = 4096

// maxAttempts bounds the revocations tried when a concurrent change cancels the transaction.
const maxAttempts = 3

// Tables names the tables the revocation reads and writes (the topology's "credentials" and
// "outbox").
type Tables struct {
	Credentials string `env:"CREDENTIALS_TABLE"`
	Outbox      string `env:"OUTBOX_TABLE"`
}

// DynamoDBAPI is the part of the DynamoDB client the revocation uses: consistent reads of
// registry entries, and the outbox's (its head, its transactions).
type DynamoDBAPI interface {
	outbox.DynamoDBAPI
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Handler answers POST /v1/revoke for the partner whose key the authorizer accepted. Build it
// once per cold start; it is safe for concurrent use.
type Handler struct {
	DB     DynamoDBAPI
	Tables Tables
	// Hooks add to each revocation's commit; the zero Hooks add nothing.
	Hooks
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

// Handle is the Lambda entry point. It never returns an error: every failure is a
// problem+json answer, a refusal logged at info level and a fault, with its whole error
// chain, at error level.
func (h *Handler) Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	return apigw.Route{Span: "revokeCredential", Log: "revocation"}.Serve(ctx, req, h.handle)
}

// outcome says what a well-formed request did, for the log.
type outcome string

const (
	outcomeRevoked        outcome = "revoked"
	outcomeNotAKey        outcome = "not-a-key"
	outcomeUnknown        outcome = "unknown-key"
	outcomeMismatch       outcome = "secret-mismatch"
	outcomeOtherPartner   outcome = "other-partners-key"
	outcomeAlreadyEnded   outcome = "already-revoked-or-retired"
	outcomePreviousCaller outcome = "previous-key-may-revoke-only-itself"
)

func (h *Handler) handle(ctx context.Context, span *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	if req.Resource != Resource || req.HTTPMethod != http.MethodPost {
		return lambdaevents.APIGatewayProxyResponse{}, problem.NotFound.New("").WithCause(fmt.Errorf("no route %s %s here", req.HTTPMethod, req.Resource))
	}
	token, err := readForm(req)
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, err
	}
	caller := apigw.CallerOf(req)
	if caller.PartnerID == "" || caller.KeyID == "" {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("revocation: the authorizer context lacks a partner id (%t) or key id (%t)", caller.PartnerID != "", caller.KeyID != "")
	}
	span.Annotate("partner", caller.PartnerID)
	store := &registry.Store{DB: h.DB, Table: h.Tables.Credentials}
	var (
		out    outcome
		target registry.Entry
		self   registry.Entry
	)
	r, _, err := h.committer().run(ctx, func(ctx context.Context, now time.Time) (plan, error) {
		var err error
		// The caller's key: it must be the partner's and accepted now.
		self, err = store.GetPartnerKey(ctx, caller.PartnerID, caller.KeyID)
		if err != nil {
			return plan{}, fmt.Errorf("revocation: %w", err)
		}
		if ok, reason := self.Accepts(now); !ok {
			return plan{}, problem.AccessDenied.New("").WithCause(
				fmt.Errorf("revocation: credential %s of partner %s is not accepted now: %s", self.KeyID, caller.PartnerID, reason))
		}
		target, out, err = h.target(ctx, store, self, token, now)
		if err != nil || out != outcomeRevoked {
			return plan{}, err
		}
		p := plan{
			partnerID: self.PartnerID,
			actor:     events.Actor{Kind: events.ActorPartner, ID: self.PartnerID},
			reason:    events.RevocationRequested,
			revoke:    []registry.Entry{target},
		}
		// The caller's key, when it is another, must still have the status read: a
		// concurrent revocation of the caller cancels the transaction.
		if self.KeyID != target.KeyID {
			p.conditions = []types.TransactWriteItem{registry.StillStatus(h.Tables.Credentials, self.KeyID, self.Status)}
		}
		return p, nil
	})
	switch {
	case err != nil:
		return lambdaevents.APIGatewayProxyResponse{}, err
	case r.ID == "":
		// Answered as a revocation: the caller learns nothing about the token.
		slog.InfoContext(ctx, "revocation changed nothing", "partnerId", caller.PartnerID, "callerKeyId", string(self.KeyID),
			"outcome", string(out), "keyId", string(target.KeyID))
	default:
		slog.InfoContext(ctx, "key revoked", "partnerId", caller.PartnerID, "keyId", string(target.KeyID), "status", string(target.Status),
			"callerKeyId", string(self.KeyID), "revocationId", r.ID)
	}
	return revoked(), nil
}

func (h *Handler) committer() committer {
	return committer{db: h.DB, tables: h.Tables, hooks: h.Hooks, now: h.now}
}

// readForm reads the form's token (apigw.ReadTokenForm), refusing (revocation-request-invalid)
// a body that is not a form, or holds no token, an empty one, or more than one; or more than
// one token_type_hint.
func readForm(req lambdaevents.APIGatewayProxyRequest) (string, error) {
	return apigw.ReadTokenForm(req, maxBodyBytes, problem.RevocationRequestInvalid)
}

// target finds the key the token is, and says whether the caller may revoke it now
// (outcomeRevoked) or why nothing changes. The key id is returned when the token is a key.
func (h *Handler) target(ctx context.Context, store *registry.Store, self registry.Entry, token string, now time.Time) (registry.Entry, outcome, error) {
	v, err := registry.VerifyToken(ctx, store, token, now)
	switch {
	case errors.Is(err, registry.ErrMalformed):
		return registry.Entry{}, outcomeNotAKey, nil
	case errors.Is(err, registry.ErrNotFound):
		return registry.Entry{KeyID: v.Entry.KeyID}, outcomeUnknown, nil
	case errors.Is(err, registry.ErrMismatch):
		return registry.Entry{KeyID: v.Entry.KeyID}, outcomeMismatch, nil
	case err != nil:
		return registry.Entry{}, "", fmt.Errorf("revocation: %w", err)
	}
	id := v.Entry.KeyID
	e := v.Entry
	switch {
	case e.PartnerID != self.PartnerID:
		return registry.Entry{KeyID: id}, outcomeOtherPartner, nil
	case e.Status != registry.StatusPending && e.Status != registry.StatusActive && e.Status != registry.StatusPrevious:
		return e, outcomeAlreadyEnded, nil
	case self.Status == registry.StatusPrevious && e.KeyID != self.KeyID:
		return e, outcomePreviousCaller, nil
	}
	return e, outcomeRevoked, nil
}

// NewRevocationID names a new revocation: "rev-" and a UUIDv7 (unique, ordered by time).
func NewRevocationID() string { return "rev-" + uuid.Must(uuid.NewV7()).String() }

// revoked is the answer to every well-formed request: 200 and an empty JSON object, the same
// bytes whatever happened (RFC 7009, section 2.2: the client ignores the body).
func revoked() lambdaevents.APIGatewayProxyResponse {
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"},
		Body:       "{}",
	}
}
