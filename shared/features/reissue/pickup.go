package reissue

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
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/openapi"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/domain/pickuptoken"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/shared/stores/replacements"
)

// The pick-up route, as API Gateway names it in the proxy event's resource, and its path
// parameter.
const (
	PickupResource         = "/v1/replacements/{replacementId}/pickup"
	ReplacementIDParameter = "replacementId"
)

// maxPickupBodyBytes bounds the pick-up's body: one token.
const maxPickupBodyBytes = 1 << 10

// PickupDynamoDBAPI is the part of the DynamoDB client the pick-up uses: the replacement and
// the key's registry entry, read consistently, and the replacement's collection committed with
// its record (the outbox's reads and transaction).
type PickupDynamoDBAPI interface {
	outbox.DynamoDBAPI // GetItem, Query, TransactWriteItems
}

var _ PickupDynamoDBAPI = (*dynamodb.Client)(nil)

// SecretReader is the part of the Secrets Manager client the pick-up uses.
type SecretReader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretReader = (*secretsmanager.Client)(nil)

// PickupTables names the tables the pick-up reads and writes.
type PickupTables struct {
	Replacements string `env:"REPLACEMENTS_TABLE"`
	Credentials  string `env:"CREDENTIALS_TABLE"`
	Outbox       string `env:"OUTBOX_TABLE"`
}

// PickupHandler answers POST /v1/replacements/{replacementId}/pickup (no authorizer: the
// pick-up token in the body is the credential): the partner collects its replacement key,
// once. Every refusal — an unknown replacement, another token, a replacement collected
// already or expired, a key that is no longer live (revoked again meanwhile) — is the same 403
// replacement-pickup-invalid. The key is read from the secret version its registry entry
// names, then the replacement is marked collected, conditioned on it still waiting with that
// token, in one outbox transaction with Credential Picked Up (method "replacement") on the
// partner's chain: of two pick-ups, one is answered the key, and no key is answered without its
// record (a commit that fails is a 500, the key not shown). Build it once per cold start.
type PickupHandler struct {
	DB      PickupDynamoDBAPI
	Secrets SecretReader
	Tables  PickupTables
	// SecretPrefix names the partner secrets: a replacement naming another secret is a fault.
	SecretPrefix string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (h *PickupHandler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

// Collected is the 200 answer (the OpenAPI schema ReplacementCollected): the key, shown this
// once.
type Collected struct {
	PartnerID string    `json:"partnerId"`
	KeyID     string    `json:"keyId"`
	APIKey    string    `json:"apiKey"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Handle is the Lambda entry point.
func (h *PickupHandler) Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	id := req.PathParameters[ReplacementIDParameter]
	return apigw.Route{
		Span:  openapi.OpPickUpReplacement,
		Log:   "replacement pick-up",
		Attrs: []any{"replacementId", id},
		Refused: func(t problem.Type, err error) []any {
			return []any{"problem", t.URI(), "reason", err.Error()}
		},
		Failed: func(err error) []any { return []any{"error", err.Error()} },
	}.Serve(ctx, req, func(ctx context.Context, span *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
		return h.pickUp(ctx, span, req, id)
	})
}

func invalidPickup(cause error) error {
	return problem.ReplacementPickupInvalid.New("").WithCause(cause)
}

func (h *PickupHandler) pickUp(ctx context.Context, span *tracing.Span, req lambdaevents.APIGatewayProxyRequest, id string) (lambdaevents.APIGatewayProxyResponse, error) {
	none := lambdaevents.APIGatewayProxyResponse{}
	if req.Resource != PickupResource || req.HTTPMethod != http.MethodPost {
		return none, problem.NotFound.New("").WithCause(fmt.Errorf("no route %s %s here", req.HTTPMethod, req.Resource))
	}
	token, err := readPickup(req)
	if err != nil {
		return none, err
	}
	if !replacements.ValidID(id) {
		return none, invalidPickup(errors.New("the replacement id is malformed"))
	}
	now := h.now()
	r, found, err := replacements.Get(ctx, h.DB, h.Tables.Replacements, id)
	switch {
	case err != nil:
		return none, err
	case !found:
		return none, invalidPickup(fmt.Errorf("no replacement %s", id))
	case !pickuptoken.Matches(r.PickupTokenHash, token):
		return none, invalidPickup(fmt.Errorf("the pick-up token is not replacement %s's", id))
	case !r.Collectable(now):
		return none, invalidPickup(fmt.Errorf("replacement %s is %s, expiring at %s", id, r.Status, r.ExpiresAt.Format(time.RFC3339)))
	}
	span.Annotate("partner", r.PartnerID)
	e, err := (&registry.Store{DB: h.DB, Table: h.Tables.Credentials}).Get(ctx, credential.KeyID(r.KeyID))
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return none, fmt.Errorf("replacement %s names key %s, which is not registered", id, r.KeyID)
	case err != nil:
		return none, fmt.Errorf("replacement %s: %w", id, err)
	case e.PartnerID != r.PartnerID || e.SecretARN != r.SecretARN || e.SecretVersionID != r.SecretVersionID:
		return none, fmt.Errorf("replacement %s names key %s, registered for partner %s in secret %s version %s", id, r.KeyID, e.PartnerID, e.SecretARN, e.SecretVersionID)
	case e.Status != registry.StatusActive && e.Status != registry.StatusPending && e.Status != registry.StatusPrevious:
		return none, invalidPickup(fmt.Errorf("key %s of replacement %s is %s", r.KeyID, id, e.Status))
	}
	if !partnersecret.IsPartners(r.SecretARN, h.SecretPrefix, r.PartnerID) {
		return none, fmt.Errorf("replacement %s names secret %s, not one of partner %s's under %s", id, r.SecretARN, r.PartnerID, h.SecretPrefix)
	}
	out, err := h.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(r.SecretARN), VersionId: aws.String(r.SecretVersionID),
	})
	if err != nil {
		return none, fmt.Errorf("replacement %s: read version %s of secret %s: %w", id, r.SecretVersionID, r.SecretARN, err)
	}
	// credential.Parse's errors are fixed messages: they never contain the value.
	key, err := credential.Parse(aws.ToString(out.SecretString))
	switch {
	case err != nil:
		return none, fmt.Errorf("replacement %s: version %s of secret %s holds no partner key: %w", id, r.SecretVersionID, r.SecretARN, err)
	case key.ID() != e.KeyID || !e.Verifier.Matches(key):
		return none, fmt.Errorf("replacement %s: version %s of secret %s holds another key than %s", id, r.SecretVersionID, r.SecretARN, e.KeyID)
	}
	picked := &events.CredentialPickedUp{
		Meta:          events.NewMeta(r.PartnerID, events.Actor{Kind: events.ActorPartner, ID: r.PartnerID}, now),
		KeyID:         r.KeyID,
		Method:        events.PickedUpReplacement,
		ReplacementID: r.ID,
	}
	rec, err := (&outbox.Store{DB: h.DB, Table: h.Tables.Outbox}).Commit(ctx, r.PartnerID, picked,
		[]types.TransactWriteItem{replacements.Collect(h.Tables.Replacements, r, now)})
	if err != nil {
		if _, lost := errors.AsType[*outbox.StateChangeError](err); lost {
			return none, invalidPickup(fmt.Errorf("replacement %s was collected by another pick-up, or expired, meanwhile: %w", id, err))
		}
		return none, fmt.Errorf("replacement %s: mark it collected with its record: %w", id, err)
	}
	body, err := json.Marshal(Collected{PartnerID: r.PartnerID, KeyID: string(key.ID()), APIKey: key.Plaintext().Reveal(), ExpiresAt: e.NotAfter})
	if err != nil {
		return none, fmt.Errorf("replacement %s: encode the answer: %w", id, err)
	}
	slog.InfoContext(ctx, "replacement collected", "replacementId", id, "partnerId", r.PartnerID, "keyId", r.KeyID, "revocationId", r.RevocationID,
		"eventId", picked.EventID, "outboxSeq", rec.Seq)
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: http.StatusOK,
		Headers: map[string]string{
			"Content-Type":           "application/json",
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
		},
		Body: string(body),
	}, nil
}

// readPickup reads the body {"pickupToken": "..."}, checked against the pickUpReplacement
// schema; its refusals never echo the body.
func readPickup(req lambdaevents.APIGatewayProxyRequest) (secret.Value, error) {
	if err := apigw.CheckJSON(req); err != nil {
		return secret.Value{}, err
	}
	body, err := apigw.Body(req)
	if err != nil {
		return secret.Value{}, err
	}
	if len(body) > maxPickupBodyBytes {
		return secret.Value{}, invalidPickup(fmt.Errorf("the body is larger than %d bytes", maxPickupBodyBytes))
	}
	if err := openapi.ValidateBody(openapi.OpPickUpReplacement, body); err != nil {
		return secret.Value{}, fmt.Errorf("validate request body: %w", err)
	}
	var wire struct {
		PickupToken string `json:"pickupToken"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		return secret.Value{}, problem.BadRequest.New("").WithCause(errors.New("validated body does not decode"))
	}
	return secret.New(wire.PickupToken), nil
}
