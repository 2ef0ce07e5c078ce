//go:build integration

package token_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/token"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// The handler against LocalStack's STS: AssumeRole into a role created in LocalStack's IAM, and
// the credentials it answers with are that role's session for the partner, as
// GetCallerIdentity tells. The registry is the fake: this test is about STS. (Not parallel:
// Plant captures the process's logs and traces, the SDK's STS subsegments included.)
func TestExchangeAgainstLocalStackSTS(t *testing.T) {
	c := secrettest.Plant(t)
	ctx := context.Background()
	env, err := harness.Connect(ctx)
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	// The trust policy infra gives the role, naming the caller LocalStack signs the test's
	// requests as (LocalStack checks neither the principal nor the tags).
	trust, err := token.TrustPolicy("arn:aws:iam::" + harness.Account + ":root")
	if err != nil {
		t.Fatal(err)
	}
	role := harness.Name("lanyard-partner-access")
	created, err := env.IAM.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String(role),
		AssumeRolePolicyDocument: aws.String(trust),
		MaxSessionDuration:       aws.Int32(3600),
	})
	if err != nil {
		t.Fatalf("create role: %v", err)
	}
	t.Cleanup(func() {
		_, _ = env.IAM.DeleteRole(context.Background(), &iam.DeleteRoleInput{RoleName: aws.String(role)})
	})
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		tier   string
		scopes []string
	}{
		{"standard", []string{"orders:read", "orders:write"}},
		{"premium", []string{"inventory:read", "orders:read", "orders:write", "shipments:read", "shipments:write", "webhooks:write"}},
	} {
		t.Run(tt.tier, func(t *testing.T) {
			key, err := credential.Generate(credential.EnvTest, nil)
			if err != nil {
				t.Fatal(err)
			}
			e := registry.Entry{
				KeyID: key.ID(), PartnerID: partners.NewID(), Verifier: credential.NewVerifier(key),
				Scopes: tt.scopes, Tier: tt.tier, Status: registry.StatusActive,
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
				SecretARN: "arn:aws:secretsmanager:us-east-1:000000000000:secret:x", SecretVersionID: "v", CreatedAt: time.Now(),
			}
			db := dynamodbtest.NewDynamoDB()
			db.CreateTable(credentialsTable, dynamodbtest.KeyAttr{Name: registry.PartitionKey, Type: "S"}, nil)
			if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(credentialsTable), Item: itemtest.Must(e.Item())(t)}); err != nil {
				t.Fatal(err)
			}
			db.CreateTable(outboxTable, dynamodbtest.KeyAttr{Name: outbox.PartitionKey, Type: "S"}, &dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: "N"})
			h := &token.Handler{
				STS: env.STS, DB: db, CredentialsTable: credentialsTable,
				Outbox: &outbox.Store{DB: db, Table: outboxTable}, Lane: token.NewLane(),
				RoleARN: aws.ToString(created.Role.Arn), StageARN: "arn:aws:execute-api:" + harness.Region + ":" + harness.Account + ":lanyardit1/local",
				Policy: pol, Now: time.Now,
			}
			if err := h.Check(); err != nil {
				t.Fatal(err)
			}
			req := tokenRequest("")
			req.RequestContext.Authorizer["partnerId"] = e.PartnerID
			req.RequestContext.Authorizer["keyId"] = string(e.KeyID)

			before := time.Now()
			resp, err := h.Handle(ctx, req)
			c.CheckError(err)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
			}
			got := decodeCredentials(t, resp.Body)
			c.Add("secret access key", got.SecretAccessKey)
			c.Add("session token", got.SessionToken)
			tier, _ := pol.Tier(tt.tier)
			want := tier.TokenExchange.SessionDuration.Std()
			if ahead := got.Expiration.Sub(before); ahead < want-time.Minute || ahead > want+time.Minute {
				t.Errorf("credentials expire %s ahead, want about %s", ahead, want)
			}

			cfg := env.Config.Copy()
			cfg.Credentials = credentials.NewStaticCredentialsProvider(got.AccessKeyID, got.SecretAccessKey, got.SessionToken)
			who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			c.CheckError(err)
			if err != nil {
				t.Fatal("get caller identity with the exchanged credentials failed")
			}
			session := token.SessionName(e.PartnerID)
			if arn, wantARN := aws.ToString(who.Arn), "arn:aws:sts::"+harness.Account+":assumed-role/"+role+"/"+session; arn != wantARN {
				t.Errorf("GetCallerIdentity ARN %s, want %s", arn, wantARN)
			}
			if id, wantID := aws.ToString(who.UserId), aws.ToString(created.Role.RoleId)+":"+session; id != wantID {
				t.Errorf("GetCallerIdentity UserId %s, want %s", id, wantID)
			}
		})
	}
}
