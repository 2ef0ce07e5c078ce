//go:build integration

package failclosed

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/domain/pickuptoken"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/features/onboarding"
	"github.com/lanyardhq/lanyard/shared/features/reissue"
	"github.com/lanyardhq/lanyard/shared/features/rollover"
	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/features/token"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/replacements"
)

// The decisions recorded since the lifecycle's (token exchanges, pick-ups, invites, on-demand
// rotations) and the rotation function's own, each a row.
var recordedDecisions = []decision{
	{
		// AssumeRole → commit on the partner's exchange lane → answer. STS is a stub of the
		// handler's STS interface (the fault under test is DynamoDB's, and LocalStack's STS
		// would answer the same); every exchange is a new decision.
		name: "token exchanged", tables: []string{"partners", "credentials"}, recordOnly: true, repeatable: true,
		records: []string{events.TypeTokenExchanged},
		setup: func(t *testing.T, w *world) act {
			p := seedPartner(t, w, false, time.Time{})
			h := &token.Handler{STS: assumer{now: w.Now}, DB: w.Faulty, CredentialsTable: w.Table("credentials"),
				Outbox: &outbox.Store{DB: w.Faulty, Table: w.Table("outbox")}, Lane: token.NewLane(),
				RoleARN: "arn:aws:iam::123456789012:role/lanyard-PartnerAccessRole-1A2B3C4D5E6F", StageARN: "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/v1",
				Policy: defaultPolicy(t), Now: w.Now}
			if err := h.Check(); err != nil {
				t.Fatal(err)
			}
			req := lambdaevents.APIGatewayProxyRequest{HTTPMethod: http.MethodPost, Path: "/v1/token",
				RequestContext: lambdaevents.APIGatewayProxyRequestContext{Authorizer: map[string]any{
					apigw.ContextPartnerID: p.id, apigw.ContextKeyID: string(p.current.ID()),
				}}}
			return func(ctx context.Context) outcome {
				resp, err := h.Handle(ctx, req)
				if resp.StatusCode == http.StatusOK && !strings.Contains(resp.Body, sessionSecret) {
					t.Errorf("a 200 without the session's credentials: %s", resp.Body)
				}
				if resp.StatusCode != http.StatusOK && strings.Contains(resp.Body, sessionSecret) {
					t.Errorf("a %d answer holds the session's credentials", resp.StatusCode)
				}
				return answered(resp, err)(http.StatusOK)
			}
		},
	},
	{
		name: "credential picked up (onboarding)", repeatable: true, tables: onboardingTables, side: []string{"idempotency"}, retryAfter: onboardingRetry,
		records: []string{events.TypePartnerOnboarded, events.TypeCredentialIssued, events.TypeCredentialPickedUp},
		setup: func(t *testing.T, w *world) act {
			id, tok := approvedOnboarding(t, w)
			h := onboardingHandler(t, w)
			req := pickupRequest(harness.Name("idem"), id, tok)
			return func(ctx context.Context) outcome { return answered(h.Handle(ctx, req))(http.StatusCreated) }
		},
	},
	{
		// The first GET /v1/credentials/current made with the previous key records the
		// pick-up; the key is read from LocalStack's Secrets Manager.
		name: "credential picked up (rotation)", repeatable: true, tables: []string{"partners", "credentials"},
		records: []string{events.TypeCredentialPickedUp},
		setup: func(t *testing.T, w *world) act {
			prefix := secretPrefix(t, w)
			p := seedPartnerIn(t, w, seeding{withPrevious: true, graceUntil: w.Now().Add(100 * time.Hour), secretPrefix: prefix})
			h := &rollover.Handler{DB: w.Faulty, Secrets: w.env.SecretsManager, Policy: defaultPolicy(t), SecretPrefix: prefix,
				Tables: rollover.Tables{Partners: w.Table("partners"), Credentials: w.Table("credentials"), Outbox: w.Table("outbox")}, Now: w.Now}
			req := lambdaevents.APIGatewayProxyRequest{
				Resource: rollover.CurrentResource, Path: rollover.CurrentResource, HTTPMethod: http.MethodGet,
				RequestContext: lambdaevents.APIGatewayProxyRequestContext{Authorizer: map[string]any{
					apigw.ContextPartnerID: p.id, apigw.ContextKeyID: string(p.previous.ID()),
				}},
			}
			return func(ctx context.Context) outcome {
				resp, err := h.Handle(ctx, req)
				keyShown(t, resp, p.current)
				return answered(resp, err)(http.StatusOK)
			}
		},
	},
	{
		name: "credential picked up (replacement)", tables: []string{"partners", "credentials", "replacements"},
		records: []string{events.TypeCredentialPickedUp},
		setup: func(t *testing.T, w *world) act {
			prefix := secretPrefix(t, w)
			p := seedPartnerIn(t, w, seeding{secretPrefix: prefix, generation: 2})
			tok, err := pickuptoken.New(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			now := w.Now().UTC().Truncate(time.Millisecond)
			r := replacements.Replacement{ID: replacements.NewID(), PartnerID: p.id, RevocationID: revokeID(), KeyID: string(p.current.ID()),
				SecretARN: p.secretARN, SecretVersionID: p.secretVersion, PickupTokenHash: pickuptoken.Hash(tok), CreatedAt: now,
				ExpiresAt: now.Add(reissue.PickupLifetime)}
			put, err := replacements.Put(w.Table("replacements"), r)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.DB.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{put}}); err != nil {
				t.Fatal(err)
			}
			h := &reissue.PickupHandler{DB: w.Faulty, Secrets: w.env.SecretsManager, SecretPrefix: prefix, Now: w.Now,
				Tables: reissue.PickupTables{Replacements: w.Table("replacements"), Credentials: w.Table("credentials"), Outbox: w.Table("outbox")}}
			req := lambdaevents.APIGatewayProxyRequest{
				Resource: reissue.PickupResource, Path: "/v1/replacements/" + r.ID + "/pickup", HTTPMethod: http.MethodPost,
				PathParameters: map[string]string{reissue.ReplacementIDParameter: r.ID},
				Headers:        map[string]string{"Content-Type": "application/json"},
				Body:           `{"pickupToken":"` + tok.Reveal() + `"}`,
			}
			return func(ctx context.Context) outcome {
				resp, err := h.Handle(ctx, req)
				keyShown(t, resp, p.current)
				return answered(resp, err)(http.StatusOK)
			}
		},
	},
	{
		// On the ops chain; every invite is a new decision.
		name: "invite issued", tables: []string{"invites"}, repeatable: true,
		records: []string{events.TypeInviteIssued},
		setup: func(t *testing.T, w *world) act {
			h := &invite.Handler{Policy: defaultPolicy(t), Invites: &invite.Store{DB: w.Faulty, Table: w.Table("invites"),
				Outbox: &outbox.Store{DB: w.Faulty, Table: w.Table("outbox")}, Now: w.Now}}
			req := lambdaevents.APIGatewayProxyRequest{HTTPMethod: http.MethodPost, Resource: "/v1/admin/invites", Path: "/v1/admin/invites",
				Headers:        map[string]string{"Content-Type": "application/json"},
				Body:           fmt.Sprintf(`{"partnerName":"Acme %d","tier":"standard"}`, partnerNames.Add(1)),
				RequestContext: lambdaevents.APIGatewayProxyRequestContext{Identity: lambdaevents.APIGatewayRequestIdentity{UserArn: opsARN}}}
			return func(ctx context.Context) outcome {
				resp, err := h.Handle(ctx, req)
				if resp.StatusCode != http.StatusCreated && strings.Contains(resp.Body, "inviteCode") {
					t.Errorf("a %d answer holds an invite code", resp.StatusCode)
				}
				return answered(resp, err)(http.StatusCreated)
			}
		},
	},
	{
		// DescribeSecret → commit → RotateSecret. Secrets Manager is a stub of the handler's
		// interface: LocalStack's RotateSecret needs a deployed rotation function and invokes
		// it. The commit only checks the partner (still active with that secret): what the
		// record gates is the rotation started, which the stub counts against the records.
		name: "credential rotation requested", tables: []string{"partners", "credentials"}, recordOnly: true, repeatable: true,
		records: []string{events.TypeCredentialRotationRequested},
		setup: func(t *testing.T, w *world) act {
			p := seedPartner(t, w, false, time.Time{})
			sm := &rotationStarter{}
			h := &rotation.AdminHandler{DB: w.Faulty, Secrets: sm, OutboxTable: w.Table("outbox"), PartnersTable: w.Table("partners"),
				SecretPrefix: "lanyard/partners/", Now: w.Now}
			req := lambdaevents.APIGatewayProxyRequest{
				HTTPMethod: http.MethodPost, Resource: rotation.RotateResource, Path: "/v1/admin/partners/" + p.id + "/rotate",
				PathParameters: map[string]string{rotation.PartnerIDParameter: p.id},
				RequestContext: lambdaevents.APIGatewayProxyRequestContext{Identity: lambdaevents.APIGatewayRequestIdentity{UserArn: opsARN}},
			}
			return func(ctx context.Context) outcome {
				out := answered(h.Handle(ctx, req))(http.StatusAccepted)
				recs, err := (&outbox.Store{DB: w.DB, Table: w.Table("outbox")}).Records(ctx, p.id)
				if err != nil {
					t.Fatal(err)
				}
				if started := sm.started.Load(); started != int64(len(recs)) {
					t.Errorf("%d rotations started, %d requests recorded", started, len(recs))
				}
				return out
			}
		},
	},
	{
		// finishSecret, driven directly on a secret prepared in LocalStack (its AWSPENDING
		// version put with the token, createSecret and setSecret run cleanly). A failed
		// commit is the step's failure, recorded as such when DynamoDB lets it.
		name: "credential rotated", tables: []string{"partners", "credentials"},
		records:        []string{events.TypeCredentialRotated},
		failureRecords: []string{events.TypeCredentialRotationFailed},
		setup: func(t *testing.T, w *world) act {
			rs := pendingRotation(t, w, "active")
			for _, step := range []string{events.StepCreateSecret, events.StepSetSecret} {
				if err := rs.handler(w.DB).Handle(t.Context(), rs.event(step)); err != nil {
					t.Fatalf("%s: %v", step, err)
				}
			}
			h := rs.handler(w.Faulty)
			return func(ctx context.Context) outcome {
				if err := h.Handle(ctx, rs.event(events.StepFinishSecret)); err != nil {
					return failed("finishSecret: %v", err)
				}
				return succeeded("finishSecret done")
			}
		},
	},
	{
		// A step that fails (the partner is not active) records its failure once per token
		// and step; Secrets Manager is told of the failure either way, and calls again.
		name: "credential rotation failed", tables: []string{"partners", "credentials"}, failureReport: true,
		records: []string{events.TypeCredentialRotationFailed},
		setup: func(t *testing.T, w *world) act {
			rs := pendingRotation(t, w, "revoked")
			h := rs.handler(w.Faulty)
			return func(ctx context.Context) outcome {
				if err := h.Handle(ctx, rs.event(events.StepCreateSecret)); err != nil {
					return succeeded("the step's failure reported: %v", err)
				}
				return failed("createSecret of an inactive partner succeeded")
			}
		},
	},
}

// sessionSecret is the secret access key the STS stub answers.
const sessionSecret = "failclosed-session-secret"

// assumer answers AssumeRole as STS does.
type assumer struct{ now func() time.Time }

func (a assumer) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
		AccessKeyId: aws.String("ASIAFAILCLOSED000000"), SecretAccessKey: aws.String(sessionSecret), SessionToken: aws.String("failclosed-session-token"),
		Expiration: aws.Time(a.now().Add(time.Duration(aws.ToInt32(in.DurationSeconds)) * time.Second)),
	}}, nil
}

// rotationStarter is Secrets Manager for the on-demand rotation: a partner secret with a
// rotation function and no rotation in progress, whose RotateSecret starts (counted).
type rotationStarter struct{ started atomic.Int64 }

func (s *rotationStarter) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return &secretsmanager.DescribeSecretOutput{ARN: in.SecretId, RotationEnabled: aws.Bool(true),
		RotationLambdaARN:  aws.String("arn:aws:lambda:us-east-1:000000000000:function:lanyard-rotation"),
		VersionIdsToStages: map[string][]string{"v-current": {rotation.StageCurrent}}}, nil
}

func (s *rotationStarter) RotateSecret(_ context.Context, in *secretsmanager.RotateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	s.started.Add(1)
	return &secretsmanager.RotateSecretOutput{ARN: in.SecretId, VersionId: in.ClientRequestToken}, nil
}

// keyShown checks an answer shows the key only when it is a success.
func keyShown(t *testing.T, resp lambdaevents.APIGatewayProxyResponse, key credential.Key) {
	t.Helper()
	shown := strings.Contains(resp.Body, key.Plaintext().Reveal())
	switch {
	case resp.StatusCode == http.StatusOK && !shown:
		t.Errorf("a 200 without the key")
	case resp.StatusCode != http.StatusOK && shown:
		t.Errorf("a %d answer shows the key", resp.StatusCode)
	}
}

func revokeID() string { return "rev-" + uuid.NewString() }

// secretPrefix is a prefix of partner secrets in LocalStack for one subject, deleted when the
// test ends.
func secretPrefix(t *testing.T, w *world) string {
	t.Helper()
	prefix := harness.Name("lanyard/failclosed") + "/"
	t.Cleanup(func() { deleteSecrets(w.env.SecretsManager, prefix) })
	return prefix
}

// approvedOnboarding makes an onboarding ops approved, with the clean client, and returns its
// id and pick-up token.
func approvedOnboarding(t *testing.T, w *world) (string, secret.Value) {
	t.Helper()
	h := onboardingHandler(t, w)
	h.DB = w.DB
	resp, err := h.Handle(t.Context(), onboardRequest(harness.Name("idem"), issueInvite(t, w, "premium")))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("pending onboarding: %d %v", resp.StatusCode, err)
	}
	var p struct {
		OnboardingID string `json:"onboardingId"`
		PickupToken  string `json:"pickupToken"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
		t.Fatal(err)
	}
	if out := decideWith(t, w, w.DB, p.OnboardingID, onboarding.ApproveResource)(t.Context()); !out.ok {
		t.Fatalf("approve: %s", out.what)
	}
	return p.OnboardingID, secret.New(p.PickupToken)
}

func pickupRequest(key, id string, token secret.Value) lambdaevents.APIGatewayProxyRequest {
	b, _ := json.Marshal(map[string]string{"pickupToken": token.Reveal()})
	return lambdaevents.APIGatewayProxyRequest{HTTPMethod: http.MethodPost, Resource: onboarding.PickupResource,
		Path: "/v1/onboardings/" + id + "/pickup", PathParameters: map[string]string{onboarding.OnboardingIDParameter: id},
		Headers: map[string]string{"Content-Type": "application/json", "Idempotency-Key": key}, Body: string(b)}
}

// rotationSubject is a partner whose secret in LocalStack has an AWSPENDING version (the
// token) holding a new key, as RotateSecret leaves it before createSecret.
type rotationSubject struct {
	w      *world
	t      *testing.T
	p      seeded
	token  string
	prefix string
}

// pendingRotation seeds a partner of status whose secret (in LocalStack) holds its current key
// and, staged AWSPENDING under a new token, a new key.
func pendingRotation(t *testing.T, w *world, status string) rotationSubject {
	t.Helper()
	prefix := secretPrefix(t, w)
	p := seedPartnerIn(t, w, seeding{secretPrefix: prefix, status: status})
	next, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		t.Fatal(err)
	}
	token := uuid.NewString()
	if _, err := w.env.SecretsManager.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(p.secretARN),
		ClientRequestToken: aws.String(token), SecretString: aws.String(next.Plaintext().Reveal()), VersionStages: []string{rotation.StagePending}}); err != nil {
		t.Fatal(err)
	}
	return rotationSubject{w: w, t: t, p: p, token: token, prefix: prefix}
}

func (rs rotationSubject) event(step string) lambdaevents.SecretsManagerSecretRotationEvent {
	return lambdaevents.SecretsManagerSecretRotationEvent{Step: step, SecretID: rs.p.secretARN, ClientRequestToken: rs.token}
}

// handler is the rotation function over db and LocalStack's Secrets Manager.
func (rs rotationSubject) handler(db rotation.DynamoDBAPI) *rotation.Handler {
	return &rotation.Handler{DB: db, Secrets: rotationEnabled{rs.w.env.SecretsManager}, Policy: defaultPolicy(rs.t), SecretPrefix: rs.prefix,
		Env: credential.EnvLocal, Now: rs.w.Now,
		Tables: rotation.Tables{Partners: rs.w.Table("partners"), Credentials: rs.w.Table("credentials"), Outbox: rs.w.Table("outbox")}}
}

// rotationEnabled is LocalStack's Secrets Manager, but for the one thing LocalStack reports of
// a secret only once RotateSecret named a deployed rotation function (which it then invokes):
// that rotation is enabled.
type rotationEnabled struct{ *secretsmanager.Client }

func (r rotationEnabled) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	out, err := r.Client.DescribeSecret(ctx, in, opts...)
	if err == nil {
		out.RotationEnabled = aws.Bool(true)
	}
	return out, err
}

// createPartnerSecret creates the partner's secret (generation gen; 0 or 1: the first) in
// LocalStack holding key, tagged with the partner, and returns its ARN and version.
func createPartnerSecret(t *testing.T, w *world, prefix, partnerID string, gen int, key credential.Key) (string, string) {
	t.Helper()
	name := partnersecret.Name(prefix, partnerID)
	if gen > 1 {
		name = partnersecret.GenerationName(prefix, partnerID, gen)
	}
	version := uuid.NewString()
	out, err := w.env.SecretsManager.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name),
		ClientRequestToken: aws.String(version), SecretString: aws.String(key.Plaintext().Reveal()),
		Tags: []smtypes.Tag{{Key: aws.String(rotation.PartnerTag), Value: aws.String(partnerID)}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN), version
}
