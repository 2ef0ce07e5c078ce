package rotation

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/events"

	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// The on-demand rotation route, as API Gateway names it in the proxy event's resource, and its
// path parameter.
const (
	RotateResource     = "/v1/admin/partners/{partnerId}/rotate"
	PartnerIDParameter = "partnerId"
)

// UnknownCaller names the caller of the route when the request context names none (API
// Gateway always does on an AWS_IAM route).
const UnknownCaller = "unknown"

// AdminSecretsAPI is the part of the Secrets Manager client the on-demand rotation uses:
// RotateSecret starts the rotation, DescribeSecret explains a refusal.
type AdminSecretsAPI interface {
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

var _ AdminSecretsAPI = (*secretsmanager.Client)(nil)

// AdminHandler answers POST /v1/admin/partners/{partnerId}/rotate (AWS_IAM): ops rotate a
// partner's key now. The rotation is Secrets Manager's, started with RotateSecret on the
// partner's secret, never done around it: Secrets Manager then calls the rotation function
// (Handler) with the four steps, as on a scheduled rotation, so the new key, the registry's
// moves and Credential Rotated are exactly a scheduled rotation's. Build it once per cold
// start; it is safe for concurrent use.
//
// The request is a decision of its own, recorded before it is acted on:
//
//  1. the partner is read, and the secret described: a rotation Secrets Manager would refuse
//     (one in progress, no rotation function, the secret scheduled for deletion) is 409
//     without a record — nothing was decided;
//  2. Credential Rotation Requested (the requester, the secret, the new version's id, taken
//     here as the rotation's ClientRequestToken) commits on the partner's chain, conditioned
//     on the partner still being active with that secret. A commit that fails is a 500 and
//     nothing is started: no rotation runs without its record;
//  3. RotateSecret with that token. Should Secrets Manager refuse or fail it after all (a
//     rotation that started in between, an outage), the request is followed on the chain by
//     Credential Rotation Failed for the same version (step createSecret), so the record never
//     stands for a rotation that was not started; the caller gets the 409 or 500. Otherwise the
//     rotation's own records (Credential Rotated, or Credential Rotation Failed) name the same
//     version.
//
// DynamoDB calls: the partner's GetItem, the head's GetItem and the record's TransactWriteItems
// (before the request was recorded: the GetItem alone).
type AdminHandler struct {
	// DB reads the partners table and writes the outbox.
	DB outbox.DynamoDBAPI
	// OutboxTable records each request.
	// Secrets starts the rotation.
	Secrets     AdminSecretsAPI
	OutboxTable string
	// PartnersTable names the partners table.
	PartnersTable string
	// SecretPrefix starts every partner secret's name ("lanyard/partners/"): the secret a
	// partner item names must be SecretPrefix + its partner id. Empty skips the check.
	SecretPrefix string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (h *AdminHandler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

// Started is the 202 answer (the OpenAPI schema RotationStarted).
type Started struct {
	PartnerID string `json:"partnerId"`
	SecretARN string `json:"secretArn"`
	// VersionID is the new version of the secret: the rotation's ClientRequestToken, which
	// the rotation function's logs and Credential Rotated (or Credential Rotation Failed)
	// name.
	VersionID string `json:"versionId"`
	// RotationStarted is when Secrets Manager accepted the rotation.
	RotationStarted time.Time `json:"rotationStarted"`
}

// Handle is the Lambda entry point. Every refusal is problem+json; a 5xx is logged with its
// whole error chain.
func (h *AdminHandler) Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	by := caller(req.RequestContext.Identity)
	id := req.PathParameters[PartnerIDParameter]
	return apigw.Route{
		Span:  "rotatePartnerKey",
		Log:   "on-demand rotation",
		Attrs: []any{"partner", id, "caller", by},
		Refused: func(t problem.Type, err error) []any {
			return []any{"problem", t.URI(), "reason", err.Error()}
		},
		Failed: func(err error) []any { return []any{"error", err.Error()} },
	}.Serve(ctx, req, func(ctx context.Context, _ *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
		return h.rotate(ctx, req, by, id)
	})
}

// rotate starts the rotation of partner id's key.
func (h *AdminHandler) rotate(ctx context.Context, req lambdaevents.APIGatewayProxyRequest, by, id string) (lambdaevents.APIGatewayProxyResponse, error) {
	none := lambdaevents.APIGatewayProxyResponse{}
	if req.Resource != RotateResource || req.HTTPMethod != http.MethodPost {
		return none, problem.NotFound.New("").WithCause(fmt.Errorf("no route %s %s here", req.HTTPMethod, req.Resource))
	}
	// Only a partner id: the partners table also holds items of other kinds (the AWS
	// accounts' claims), which are no partner.
	if !partners.ValidID(id) {
		return none, problem.NotFound.New("").WithCause(errors.New("the partner id is malformed"))
	}
	p, err := (&partners.Store{DB: h.DB, Table: h.PartnersTable}).Get(ctx, id)
	switch {
	case errors.Is(err, partners.ErrNotFound):
		return none, problem.NotFound.New("").WithCause(err)
	case err != nil:
		return none, fmt.Errorf("rotate the key of partner %s: %w", id, err)
	case p.Status != partners.StatusActive:
		return none, problem.Conflict.Newf("Partner %s is %s: only an active partner's key is rotated.", id, p.Status).
			WithCause(fmt.Errorf("partner %s is %s", id, p.Status))
	case h.SecretPrefix != "" && !partnersecret.IsPartners(p.SecretARN, h.SecretPrefix, id):
		return none, fmt.Errorf("rotate the key of partner %s: its item names secret %s, not one named %s", id, p.SecretARN, partnersecret.Name(h.SecretPrefix, id))
	}

	if err := h.precheck(ctx, id, p.SecretARN); err != nil {
		return none, err
	}
	now := h.now()
	version := uuid.NewString()
	store := &outbox.Store{DB: h.DB, Table: h.OutboxTable}
	actor := events.Actor{Kind: events.ActorOps, ID: by}
	rec, err := store.Commit(ctx, id, &events.CredentialRotationRequested{
		Meta: events.NewMeta(id, actor, now), SecretARN: p.SecretARN, VersionID: version,
	}, []types.TransactWriteItem{partners.StillActive(h.PartnersTable, id, p.SecretARN)})
	if _, changed := errors.AsType[*outbox.StateChangeError](err); changed {
		return none, problem.Conflict.Newf("Partner %s changed while its rotation was requested: only an active partner's key is rotated. Retry.", id).
			WithCause(fmt.Errorf("record the rotation of partner %s: %w", id, err))
	}
	if err != nil {
		return none, fmt.Errorf("rotate the key of partner %s: record the request: %w", id, err)
	}
	slog.InfoContext(ctx, "on-demand rotation requested", "partner", id, "secret", p.SecretARN, "caller", by, "version", version, "outboxSeq", rec.Seq)
	// No rotation rules and no function: the secret's own are kept, and RotateImmediately
	// defaults to true. The version recorded is the ClientRequestToken.
	out, err := h.Secrets.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(p.SecretARN), ClientRequestToken: aws.String(version)})
	if refusedOutright(err) {
		// Secrets Manager refused the request: the rotation did not start. Any other error
		// (a 5xx, a timeout) leaves it unknown — it may have started — so nothing is recorded
		// for it here: the rotation function records what becomes of that version.
		h.recordNotStarted(ctx, id, p.SecretARN, version, actor, err)
	}
	var invalid *smtypes.InvalidRequestException
	switch {
	case errors.As(err, &invalid):
		return none, h.refusal(ctx, id, p.SecretARN, err)
	case err != nil:
		return none, fmt.Errorf("rotate the key of partner %s: RotateSecret of %s: %w", id, p.SecretARN, err)
	}
	started := Started{
		PartnerID:       id,
		SecretARN:       cmp.Or(aws.ToString(out.ARN), p.SecretARN),
		VersionID:       aws.ToString(out.VersionId),
		RotationStarted: h.now(),
	}
	body, err := json.Marshal(started)
	if err != nil {
		return none, fmt.Errorf("rotate the key of partner %s: encode the answer: %w", id, err)
	}
	slog.InfoContext(ctx, "on-demand rotation started", "partner", id, "secret", started.SecretARN,
		"version", started.VersionID, "caller", by)
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: http.StatusAccepted,
		Headers: map[string]string{
			"Content-Type":           "application/json",
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
		},
		Body: string(body),
	}, nil
}

// refusedOutright says RotateSecret refused the request itself, so no rotation started.
func refusedOutright(err error) bool {
	var invalid *smtypes.InvalidRequestException
	var param *smtypes.InvalidParameterException
	var missing *smtypes.ResourceNotFoundException
	return errors.As(err, &invalid) || errors.As(err, &param) || errors.As(err, &missing)
}

// precheck describes the secret and refuses, with refusal's 409, a rotation Secrets Manager
// would refuse: one in progress, no rotation function, the secret scheduled for deletion.
func (h *AdminHandler) precheck(ctx context.Context, id, arn string) error {
	desc, err := h.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		return fmt.Errorf("rotate the key of partner %s: describe secret %s: %w", id, arn, err)
	}
	if stalePending(desc.VersionIdsToStages) == "" && desc.DeletedDate == nil && aws.ToString(desc.RotationLambdaARN) != "" {
		return nil
	}
	return h.refusal(ctx, id, arn, errors.New("refused before the request: the secret's state forbids a rotation"))
}

// recordNotStarted follows a recorded request whose RotateSecret failed with Credential
// Rotation Failed for its version, so the chain does not claim a rotation that never started.
// Its own failure is logged: the request's record stands, and Secrets Manager names no such
// version.
func (h *AdminHandler) recordNotStarted(ctx context.Context, id, arn, version string, actor events.Actor, cause error) {
	_, err := (&outbox.Store{DB: h.DB, Table: h.OutboxTable}).Commit(ctx, id, &events.CredentialRotationFailed{
		Meta: events.NewMeta(id, actor, h.now()), SecretARN: arn, VersionID: version, Step: events.StepCreateSecret,
		Reason: "Secrets Manager did not start the rotation ops requested",
	}, nil)
	if err != nil {
		slog.ErrorContext(ctx, "a requested rotation that did not start could not be recorded as failed",
			"partner", id, "secret", arn, "version", version, "cause", cause.Error(), "error", err.Error())
	}
}

// refusal is the 409 for a RotateSecret that Secrets Manager refused with
// InvalidRequestException; the secret's description says why. AWS refuses a rotation while a
// previous one is in progress (AWSPENDING on a version that is not AWSCURRENT), on a secret
// without a rotation function, and on a secret scheduled for deletion.
func (h *AdminHandler) refusal(ctx context.Context, id, arn string, err error) error {
	cause := fmt.Errorf("RotateSecret of %s: %w", arn, err)
	desc, derr := h.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if derr != nil {
		return problem.Conflict.Newf("Secrets Manager refused to start a rotation of partner %s's key: a rotation may be in progress already. Retry later.", id).
			WithCause(fmt.Errorf("%w (describing the secret: %w)", cause, derr))
	}
	if pending := stalePending(desc.VersionIdsToStages); pending != "" {
		return problem.Conflict.Newf("A rotation of partner %s's key is already in progress (secret version %s is AWSPENDING). "+
			"Retry once it has finished; Secrets Manager retries a rotation that failed, and each failure is recorded as Credential Rotation Failed.", id, pending).
			WithCause(cause)
	}
	switch {
	case desc.DeletedDate != nil:
		return problem.Conflict.Newf("Partner %s's secret is scheduled for deletion: its key cannot be rotated.", id).WithCause(cause)
	case aws.ToString(desc.RotationLambdaARN) == "":
		return problem.Conflict.Newf("Partner %s's secret has no rotation function: switch rotation on with `lanyard rotation enable %s`, then retry.", id, id).WithCause(cause)
	}
	return problem.Conflict.Newf("Secrets Manager refused to start a rotation of partner %s's key now. Retry later.", id).WithCause(cause)
}

// stalePending is the version holding AWSPENDING without AWSCURRENT, or "".
func stalePending(stages map[string][]string) string {
	for version, labels := range stages {
		if slices.Contains(labels, StagePending) && !slices.Contains(labels, StageCurrent) {
			return version
		}
	}
	return ""
}

// caller names the caller of an AWS_IAM route: its IAM ARN, else the caller id API Gateway
// gives, else UnknownCaller.
func caller(id lambdaevents.APIGatewayRequestIdentity) string {
	for _, v := range []string{id.UserArn, id.Caller} {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return UnknownCaller
}
