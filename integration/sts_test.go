//go:build integration

package integration

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/lanyardhq/lanyard/integration/harness"
)

func TestSTSAssumeRoleWithSessionPolicyAndTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// LocalStack does not enforce the trust policy; AWS would require the caller to be trusted
	// (and allowed sts:TagSession for the session tags).
	role := harness.Name("lanyard-it-role")
	created, err := env.IAM.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String(role),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
			`"Principal":{"AWS":"arn:aws:iam::` + harness.Account + `:root"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`),
	})
	if err != nil {
		t.Fatalf("create role: %v", err)
	}
	t.Cleanup(func() {
		_, _ = env.IAM.DeleteRole(context.Background(), &iam.DeleteRoleInput{RoleName: aws.String(role)})
	})

	partner := harness.Name("p")
	session := "partner-" + partner
	before := time.Now()
	out, err := env.STS.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         created.Role.Arn,
		RoleSessionName: aws.String(session),
		DurationSeconds: aws.Int32(900),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue",` +
			`"Resource":"arn:aws:secretsmanager:` + harness.Region + `:` + harness.Account + `:secret:lanyard/partners/` + partner + `-*"}]}`),
		Tags: []ststypes.Tag{{Key: aws.String("partner"), Value: aws.String(partner)}},
	})
	if err != nil {
		t.Fatalf("assume role: %v", err)
	}
	creds := out.Credentials
	if creds == nil || aws.ToString(creds.AccessKeyId) == "" || aws.ToString(creds.SecretAccessKey) == "" || aws.ToString(creds.SessionToken) == "" {
		t.Fatal("AssumeRole returned incomplete credentials")
	}
	if creds.Expiration == nil {
		t.Fatal("AssumeRole returned no Expiration")
	}
	// 900 s: allow for the clock between our start and the server's answer, and whole seconds.
	if ahead := creds.Expiration.Sub(before); ahead < 14*time.Minute || ahead > 16*time.Minute {
		t.Errorf("credentials expire %s ahead, want about 15 minutes", ahead)
	}
	wantARN := "arn:aws:sts::" + harness.Account + ":assumed-role/" + role + "/" + session
	if out.AssumedRoleUser == nil || aws.ToString(out.AssumedRoleUser.Arn) != wantARN {
		t.Errorf("AssumedRoleUser = %+v, want ARN %s", out.AssumedRoleUser, wantARN)
	}

	// A client signing with the session's credentials is the assumed role.
	cfg := env.Config.Copy()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(creds.AccessKeyId), aws.ToString(creds.SecretAccessKey), aws.ToString(creds.SessionToken))
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("get caller identity with the session's credentials: %v", err)
	}
	if got := aws.ToString(who.Arn); got != wantARN {
		t.Errorf("GetCallerIdentity ARN = %s, want %s", got, wantARN)
	}
	if got := aws.ToString(who.Account); got != harness.Account {
		t.Errorf("GetCallerIdentity account = %s, want %s", got, harness.Account)
	}
	if got, want := aws.ToString(who.UserId), aws.ToString(created.Role.RoleId)+":"+session; got != want {
		t.Errorf("GetCallerIdentity UserId = %s, want %s (role id:session)", got, want)
	}
}
