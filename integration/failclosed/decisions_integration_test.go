//go:build integration

package failclosed

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/features/enforcement"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/features/onboarding"
	"github.com/lanyardhq/lanyard/shared/features/revoke"
	"github.com/lanyardhq/lanyard/shared/features/rollover"
	"github.com/lanyardhq/lanyard/shared/features/tracker"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
)

// opsARN is the caller of the admin routes.
const opsARN = "arn:aws:sts::123456789012:assumed-role/ops/jane"

// onboardingRetry is how long an onboarding's client waits after a failure its claim could
// not be released from (the write failed too): the claim's lease.
const onboardingRetry = onboarding.DefaultLease + time.Second

var onboardingTables = []string{"invites", "partners", "credentials", "idempotency", "onboardings"}

// Every decision, each a row (see the package comment for how to add one).
var decisions = slices.Concat(lifecycleDecisions, recordedDecisions)

// The decisions of a partner's lifecycle and of revocation's enforcement.
var lifecycleDecisions = []decision{
	{
		name: "onboarding by invite", repeatable: true, tables: onboardingTables, side: []string{"idempotency"}, retryAfter: onboardingRetry,
		records: []string{events.TypePartnerOnboarded, events.TypeCredentialIssued},
		setup: func(t *testing.T, w *world) act {
			h := onboardingHandler(t, w)
			code := issueInvite(t, w, "standard")
			req := onboardRequest(harness.Name("idem"), code)
			return func(ctx context.Context) outcome { return answered(h.Handle(ctx, req))(http.StatusCreated) }
		},
	},
	{
		name: "onboarding pending", tables: onboardingTables, side: []string{"idempotency"}, retryAfter: onboardingRetry,
		records: []string{events.TypeOnboardingPending},
		setup: func(t *testing.T, w *world) act {
			h := onboardingHandler(t, w)
			code := issueInvite(t, w, "premium")
			req := onboardRequest(harness.Name("idem"), code)
			return func(ctx context.Context) outcome { return answered(h.Handle(ctx, req))(http.StatusAccepted) }
		},
	},
	{
		name: "onboarding approved", tables: onboardingTables, side: []string{"idempotency"},
		records: []string{events.TypeOnboardingApproved},
		setup: func(t *testing.T, w *world) act {
			return decide(t, w, onboarding.ApproveResource)
		},
	},
	{
		name: "onboarding denied", tables: onboardingTables, side: []string{"idempotency"},
		records: []string{events.TypeOnboardingDenied},
		setup: func(t *testing.T, w *world) act {
			return decide(t, w, onboarding.DenyResource)
		},
	},
	{
		name: "revoke by the partner", tables: []string{"partners", "credentials", "revocations"},
		records: []string{events.TypeCredentialRevoked},
		setup: func(t *testing.T, w *world) act {
			p := seedPartner(t, w, false, time.Time{})
			h := &revoke.Handler{DB: w.Faulty, Tables: revoke.Tables{Credentials: w.Table("credentials"), Outbox: w.Table("outbox")},
				Hooks: revoke.Hooks{Extra: revoke.Tracked(w.Table("revocations"))}, Now: w.Now}
			req := lambdaevents.APIGatewayProxyRequest{
				Resource: revoke.Resource, Path: revoke.Resource, HTTPMethod: http.MethodPost,
				Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
				Body:    url.Values{"token": {p.current.Plaintext().Reveal()}}.Encode(),
				RequestContext: lambdaevents.APIGatewayProxyRequestContext{Authorizer: map[string]any{
					apigw.ContextPartnerID: p.id, apigw.ContextKeyID: string(p.current.ID()),
				}},
			}
			return func(ctx context.Context) outcome { return answered(h.Handle(ctx, req))(http.StatusOK) }
		},
	},
	{
		name: "revoke by ops", tables: []string{"partners", "credentials", "revocations"},
		records: []string{events.TypeCredentialRevoked},
		setup: func(t *testing.T, w *world) act {
			p := seedPartner(t, w, false, time.Time{})
			h := &revoke.AdminHandler{DB: w.Faulty,
				Tables: revoke.AdminTables{Tables: revoke.Tables{Credentials: w.Table("credentials"), Outbox: w.Table("outbox")}, Partners: w.Table("partners")},
				Hooks:  revoke.Hooks{Extra: revoke.Tracked(w.Table("revocations"))}, Now: w.Now}
			req := lambdaevents.APIGatewayProxyRequest{
				Resource: revoke.AdminResource, Path: "/v1/admin/partners/" + p.id + "/revoke", HTTPMethod: http.MethodPost,
				PathParameters: map[string]string{revoke.PartnerIDParameter: p.id},
				Headers:        map[string]string{"Content-Type": "application/json"},
				Body:           fmt.Sprintf(`{"keyId":%q,"reason":"compromised"}`, p.current.ID()),
				RequestContext: lambdaevents.APIGatewayProxyRequestContext{Identity: lambdaevents.APIGatewayRequestIdentity{UserArn: opsARN}},
			}
			return func(ctx context.Context) outcome { return answered(h.Handle(ctx, req))(http.StatusOK) }
		},
	},
	{
		name: "rotation acknowledged", tables: []string{"partners", "credentials"},
		records: []string{events.TypeCredentialRotationAcknowledged},
		setup: func(t *testing.T, w *world) act {
			p := seedPartner(t, w, true, w.Now().Add(100*time.Hour))
			h := &rollover.Handler{DB: w.Faulty, Secrets: w.env.SecretsManager, Policy: defaultPolicy(t), SecretPrefix: "lanyard/partners/",
				Tables: rollover.Tables{Partners: w.Table("partners"), Credentials: w.Table("credentials"), Outbox: w.Table("outbox")}, Now: w.Now}
			req := lambdaevents.APIGatewayProxyRequest{
				Resource: rollover.AckResource, Path: rollover.AckResource, HTTPMethod: http.MethodPost,
				RequestContext: lambdaevents.APIGatewayProxyRequestContext{Authorizer: map[string]any{
					apigw.ContextPartnerID: p.id, apigw.ContextKeyID: string(p.current.ID()),
				}},
			}
			return func(ctx context.Context) outcome { return answered(h.Handle(ctx, req))(http.StatusOK) }
		},
	},
	{
		name: "grace ending", tables: []string{"partners", "credentials"},
		records: []string{events.TypeCredentialGraceEnding},
		setup: func(t *testing.T, w *world) act {
			w.clear(t, "credentials")
			seedPartner(t, w, true, w.Now().Add(24*time.Hour)) // inside standard's warnBeforeGraceEnds (48h)
			return retirementRun(t, w)
		},
	},
	{
		name: "retired", tables: []string{"partners", "credentials"},
		records: []string{events.TypeCredentialRetired},
		setup: func(t *testing.T, w *world) act {
			w.clear(t, "credentials")
			seedPartner(t, w, true, w.Now().Add(-time.Minute))
			return retirementRun(t, w)
		},
	},
	{
		name: "revocation enforced", tables: []string{"revocations"},
		records: []string{events.TypeRevocationEnforced},
		setup: func(t *testing.T, w *world) act {
			rev := openRevocation(t, w, w.Now().Add(-time.Second), false)
			rep := enforcement.Reporter{
				Outbox:   &outbox.Store{DB: w.Faulty, Table: w.Table("outbox")},
				Reports:  enforcement.Store{Revocations: &revocations.Store{DB: w.Faulty, Table: w.Table("revocations")}},
				Enforcer: events.EnforcerGateway, Actor: events.Actor{Kind: events.ActorSystem, ID: "lanyard-revocation-gateway"},
			}
			batch := sqsBatch(t, rev)
			return func(ctx context.Context) outcome {
				// What every enforcer does around its own enforcement (gatewayenforcer.Record,
				// secretenforcer): skip a revocation reported already, else commit the report.
				return batchAnswered(enforcement.Batch(ctx, batch, func(ctx context.Context, body []byte) error {
					r, err := enforcement.Revoked(body)
					if err != nil {
						return err
					}
					done, err := rep.Reported(ctx, r)
					if err != nil || done {
						return err
					}
					_, err = rep.Commit(ctx, r, w.Now())
					return err
				}))
			}
		},
	},
	{
		name: "revocation completed", tables: []string{"revocations"},
		records: []string{events.TypeRevocationCompleted},
		setup: func(t *testing.T, w *world) act {
			rev := openRevocation(t, w, w.Now().Add(-time.Second), true)
			tr := newTracker(w)
			enforced := &events.RevocationEnforced{Meta: events.NewMeta(rev.PartnerID, events.Actor{Kind: events.ActorSystem, ID: "lanyard-revocation-gateway"}, w.Now()),
				RevocationID: rev.RevocationID, Enforcer: events.EnforcerGateway, LatencyMS: 1000}
			batch := sqsBatch(t, enforced)
			return func(ctx context.Context) outcome { return batchAnswered(tr.HandleEvents(ctx, batch)) }
		},
	},
	{
		name: "revocation stalled", tables: []string{"revocations"},
		records: []string{events.TypeRevocationStalled},
		setup: func(t *testing.T, w *world) act {
			w.clear(t, "revocations")
			openRevocation(t, w, w.Now().Add(-2*time.Minute), false)
			tr := newTracker(w)
			return func(ctx context.Context) outcome {
				rep, err := tr.Check(ctx)
				if err != nil || rep.Failed > 0 {
					return failed("check %+v: %v", rep, err)
				}
				return succeeded("check %+v", rep)
			}
		},
	},
}

// answered judges a route's answer: a success is the status wanted; an error (Lambda's 5xx)
// or any other status is a failure told.
func answered(resp lambdaevents.APIGatewayProxyResponse, err error) func(want int) outcome {
	return func(want int) outcome {
		switch {
		case err != nil:
			return failed("an error (5xx): %v", err)
		case resp.StatusCode != want:
			return failed("%d %s", resp.StatusCode, resp.Body)
		}
		return succeeded("%d", resp.StatusCode)
	}
}

// batchAnswered judges a queue consumer's answer: any failed item is a failure told.
func batchAnswered(resp lambdaevents.SQSEventResponse) outcome {
	if len(resp.BatchItemFailures) > 0 {
		return failed("%d batch item failures", len(resp.BatchItemFailures))
	}
	return succeeded("every batch item done")
}

func defaultPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// onboardingHandler is the onboarding route through the faulty client, with LocalStack's
// Secrets Manager; the secrets it creates are deleted when the test ends.
func onboardingHandler(t *testing.T, w *world) *onboarding.Handler {
	t.Helper()
	prefix := harness.Name("lanyard/failclosed") + "/"
	t.Cleanup(func() { deleteSecrets(w.env.SecretsManager, prefix) })
	return &onboarding.Handler{
		DB: w.Faulty, Secrets: w.env.SecretsManager, Tables: onboardingTablesOf(w), Policy: defaultPolicy(t),
		HostAccountID: harness.Account, SecretPrefix: prefix, Env: credential.EnvLocal, Now: w.Now,
	}
}

func onboardingTablesOf(w *world) onboarding.Tables {
	return onboarding.Tables{Invites: w.Table("invites"), Partners: w.Table("partners"), Credentials: w.Table("credentials"),
		Idempotency: w.Table("idempotency"), Outbox: w.Table("outbox"), Onboardings: w.Table("onboardings")}
}

func deleteSecrets(sm *secretsmanager.Client, prefix string) {
	ctx := context.Background()
	p := secretsmanager.NewListSecretsPaginator(sm, &secretsmanager.ListSecretsInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{prefix}}}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return
		}
		for _, s := range page.SecretList {
			_, _ = sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: s.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)})
		}
	}
}

var partnerNames atomic.Int64

// invited is an invite's partner name and code.
type invited struct{ name, code string }

func issueInvite(t *testing.T, w *world, tier string) invited {
	t.Helper()
	name := fmt.Sprintf("Acme %d", partnerNames.Add(1))
	code, _, err := (&invite.Store{DB: w.DB, Table: w.Table("invites"), Outbox: &outbox.Store{DB: w.DB, Table: w.Table("outbox")}, Now: w.Now}).Issue(t.Context(), name, tier, time.Hour, opsARN)
	if err != nil {
		t.Fatal(err)
	}
	return invited{name: name, code: code.Reveal()}
}

func onboardRequest(idemKey string, inv invited) lambdaevents.APIGatewayProxyRequest {
	body, _ := json.Marshal(map[string]any{"partnerName": inv.name, "inviteCode": inv.code, "scopes": []string{"orders:read"}})
	return lambdaevents.APIGatewayProxyRequest{HTTPMethod: http.MethodPost, Path: onboarding.OnboardResource, Resource: onboarding.OnboardResource,
		Headers: map[string]string{"Content-Type": "application/json", "Idempotency-Key": idemKey}, Body: string(body)}
}

// decide makes a pending onboarding with the clean client and returns ops' decision on it
// (resource: approve or deny) through the faulty one.
func decide(t *testing.T, w *world, resource string) act {
	t.Helper()
	h := onboardingHandler(t, w)
	h.DB = w.DB
	code := issueInvite(t, w, "premium")
	resp, err := h.Handle(t.Context(), onboardRequest(harness.Name("idem"), code))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("pending onboarding: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	var p struct {
		OnboardingID string `json:"onboardingId"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
		t.Fatal(err)
	}
	return decideWith(t, w, w.Faulty, p.OnboardingID, resource)
}

// decideWith is ops' decision (resource: approve or deny) on onboarding id, through db.
func decideWith(t *testing.T, w *world, db *dynamodb.Client, id, res string) act {
	t.Helper()
	admin := &onboarding.AdminHandler{DB: db, Tables: onboardingTablesOf(w), Now: w.Now}
	req := lambdaevents.APIGatewayProxyRequest{
		HTTPMethod: http.MethodPost, Resource: res, Path: "/v1/admin/onboardings/" + id,
		PathParameters: map[string]string{onboarding.OnboardingIDParameter: id},
		Headers:        map[string]string{"Content-Type": "application/json"}, Body: `{"reason":"checked"}`,
		RequestContext: lambdaevents.APIGatewayProxyRequestContext{
			Identity: lambdaevents.APIGatewayRequestIdentity{UserArn: opsARN, Caller: "AROAEXAMPLE:jane", AccountID: "123456789012"},
		},
	}
	return func(ctx context.Context) outcome { return answered(admin.Handle(ctx, req))(http.StatusOK) }
}

// seeded is a partner written straight into the tables: its current key, and its previous one
// when asked, and the secret its current key is registered in.
type seeded struct {
	id            string
	current       credential.Key
	previous      credential.Key
	secretARN     string
	secretVersion string
}

// seedPartner writes an active partner with a current key and, when withPrevious, a previous
// key accepted until graceUntil (not acknowledged), as a finished rotation leaves them.
func seedPartner(t *testing.T, w *world, withPrevious bool, graceUntil time.Time) seeded {
	t.Helper()
	return seedPartnerIn(t, w, seeding{withPrevious: withPrevious, graceUntil: graceUntil})
}

// seeding says how seedPartnerIn seeds a partner.
type seeding struct {
	// withPrevious: a previous key accepted until graceUntil (not acknowledged).
	withPrevious bool
	graceUntil   time.Time
	// secretPrefix: the current key is put in a secret of LocalStack's Secrets Manager under
	// it (generation generation when above 1); empty: the partner's secret is only named.
	secretPrefix string
	generation   int
	// status is the partner's; empty means active.
	status string
}

// seedPartnerIn writes a partner as s says.
func seedPartnerIn(t *testing.T, w *world, s seeding) seeded {
	t.Helper()
	ctx := t.Context()
	now := w.Now().UTC().Truncate(time.Millisecond)
	p := seeded{id: partners.NewID()}
	current, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.secretARN, p.secretVersion = "arn:aws:secretsmanager:us-east-1:000000000000:secret:lanyard/partners/"+p.id+"-AbCdEf", "v-"+string(current.ID())
	if s.secretPrefix != "" {
		p.secretARN, p.secretVersion = createPartnerSecret(t, w, s.secretPrefix, p.id, s.generation, current)
	}
	put := func(k credential.Key, status registry.Status) credential.Key {
		e := registry.Entry{KeyID: k.ID(), PartnerID: p.id, Verifier: credential.NewVerifier(k), Scopes: []string{"orders:read"}, Tier: "standard",
			Status: status, NotBefore: now.Add(-200 * time.Hour), NotAfter: now.Add(90 * 24 * time.Hour), CreatedAt: now.Add(-200 * time.Hour),
			SecretARN: p.secretARN, SecretVersionID: "v-" + string(k.ID())}
		if status == registry.StatusPrevious {
			e.GraceUntil = s.graceUntil
		} else {
			e.SecretVersionID = p.secretVersion
		}
		if _, err := w.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(w.Table("credentials")), Item: itemtest.Must(e.Item())(t)}); err != nil {
			t.Fatal(err)
		}
		return k
	}
	p.current = put(current, registry.StatusActive)
	status := cmp.Or(s.status, partners.StatusActive)
	item := itemtest.Must(partners.Partner{PartnerID: p.id, PartnerName: fmt.Sprintf("Acme %d", partnerNames.Add(1)), Tier: "standard",
		Scopes: []string{"orders:read"}, Status: status, KeyID: string(p.current.ID()),
		SecretARN: p.secretARN, IdentityMethod: partners.IdentityMethodInvite, CreatedAt: now}.Item())(t)
	if s.withPrevious {
		previous, err := credential.Generate(credential.EnvLocal, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.previous = put(previous, registry.StatusPrevious)
		item[partners.AttrPreviousKeyID] = &types.AttributeValueMemberS{Value: string(p.previous.ID())}
	}
	if _, err := w.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(w.Table("partners")), Item: item}); err != nil {
		t.Fatal(err)
	}
	return p
}

// retirementRun is a scheduled retirement run through the faulty client; it succeeds when it
// returns no error. The authorizer cache flush goes to a gateway that answers (the fault
// under test is DynamoDB's; the retirement's own tests cover a failing flush).
func retirementRun(t *testing.T, w *world) act {
	r := &rollover.Retirer{DB: w.Faulty, Policy: defaultPolicy(t), Gateway: gateway{}, RestAPIID: "api", Stage: "v1", Now: w.Now,
		Tables: rollover.Tables{Partners: w.Table("partners"), Credentials: w.Table("credentials"), Outbox: w.Table("outbox")}}
	return func(ctx context.Context) outcome {
		rep, err := r.Run(ctx)
		if err != nil {
			return failed("run %+v: %v", rep, err)
		}
		return succeeded("run %+v", rep)
	}
}

type gateway struct{}

func (gateway) FlushStageAuthorizersCache(context.Context, *apigateway.FlushStageAuthorizersCacheInput, ...func(*apigateway.Options)) (*apigateway.FlushStageAuthorizersCacheOutput, error) {
	return &apigateway.FlushStageAuthorizersCacheOutput{}, nil
}

// openRevocation commits a revocation of a new partner's key (revocations.Open with its Credential
// Revoked, as the revoke routes do), with the gateway enforcer's report when reported, and
// returns its Credential Revoked.
func openRevocation(t *testing.T, w *world, at time.Time, reported bool) *events.CredentialRevoked {
	t.Helper()
	at = at.UTC().Truncate(time.Millisecond)
	pid := partners.NewID()
	k, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		t.Fatal(err)
	}
	actor := events.Actor{Kind: events.ActorPartner, ID: pid}
	rev := &events.CredentialRevoked{Meta: events.NewMeta(pid, actor, at), RevocationID: revoke.NewRevocationID(),
		KeyIDs: []string{string(k.ID())}, Reason: events.RevocationRequested}
	items := []types.TransactWriteItem{itemtest.Must(revocations.Open(w.Table("revocations"), revocations.Revocation{ID: rev.RevocationID, PartnerID: pid,
		KeyIDs: rev.KeyIDs, Reason: rev.Reason, Actor: actor, RevokedAt: at}))(t)}
	if reported {
		items = append(items, itemtest.Must(revocations.Reported(w.Table("revocations"), revocations.Report{RevocationID: rev.RevocationID,
			Enforcer: events.EnforcerGateway, PartnerID: pid, EventID: rev.EventID, EnforcedAt: at.Add(time.Second), LatencyMS: 1000}))(t))
	}
	if _, err := (&outbox.Store{DB: w.DB, Table: w.Table("outbox")}).Commit(t.Context(), pid, rev, items); err != nil {
		t.Fatal(err)
	}
	return rev
}

func newTracker(w *world) *tracker.Tracker {
	return &tracker.Tracker{Store: &revocations.Store{DB: w.Faulty, Table: w.Table("revocations")},
		Outbox: &outbox.Store{DB: w.Faulty, Table: w.Table("outbox")}, Table: w.Table("revocations"),
		Enforcers: []string{events.EnforcerGateway}, Budget: time.Minute, Now: w.Now}
}

// sqsBatch is a batch of one SQS message carrying d as the bus delivers it.
func sqsBatch(t *testing.T, d events.Detail) lambdaevents.SQSEvent {
	t.Helper()
	dt, detail, err := events.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(events.Envelope{Version: "0", ID: harness.Name("bus"), DetailType: dt, Source: events.Source,
		Account: harness.Account, Time: d.Header().Time, Region: harness.Region, Resources: []string{}, Detail: detail})
	if err != nil {
		t.Fatal(err)
	}
	return lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: harness.Name("msg"), Body: string(body)}}}
}
