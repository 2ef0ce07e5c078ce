//go:build integration

package provision_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/lanyardhq/lanyard/local/provision"
	"github.com/lanyardhq/lanyard/topology"
)

// The audit export's bucket is created with Object Lock (governance, a day by default) and
// versioning, and its signing key as an ECC_NIST_P256 signing key, both handed to the exporter;
// an object put there cannot be deleted without bypassing the retention; a second Apply finds
// both; Down removes every version and the bucket, and keeps the signing key pending deletion.
func TestAuditExportIsProvisionedAndRemoved(t *testing.T) {
	env := connect(t)
	ctx := context.Background()
	tp, p := sampleWithAccess(t, env)
	exporter := tp.Functions[1].Name
	tp.AuditExport = &topology.AuditExport{Exporter: exporter}
	tp.Functions[1].Env["AUDIT_BUCKET"] = topology.AuditBucketName(topology.AccessReadWrite)
	tp.Functions[1].Env["AUDIT_SIGNING_KEY"] = topology.AuditSigningKeyARN(topology.AccessReadWrite)
	if err := tp.Validate("", nil); err != nil {
		t.Fatal(err)
	}
	prefix := p.Options.Prefix
	res, err := p.Apply(ctx, tp)
	t.Cleanup(func() { down(t, env, tp, prefix) })
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	bucket := topology.AuditBucketLocalName(prefix)
	if res.AuditBucket != bucket || res.AuditSigningKeyARN == "" {
		t.Fatalf("audit bucket %q, signing key %q", res.AuditBucket, res.AuditSigningKeyARN)
	}
	client := s3.NewFromConfig(env.Config, func(o *s3.Options) { o.UsePathStyle = true })
	lock, err := client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil || lock.ObjectLockConfiguration.ObjectLockEnabled != s3types.ObjectLockEnabledEnabled ||
		lock.ObjectLockConfiguration.Rule.DefaultRetention.Mode != s3types.ObjectLockRetentionModeGovernance ||
		aws.ToInt32(lock.ObjectLockConfiguration.Rule.DefaultRetention.Days) != provision.AuditRetentionDays {
		t.Errorf("object lock of %s: %+v, %v", bucket, lock, err)
	}
	if v, err := client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)}); err != nil || v.Status != s3types.BucketVersioningStatusEnabled {
		t.Errorf("versioning of %s: %+v, %v", bucket, v, err)
	}
	k, err := env.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(res.AuditSigningKeyARN)})
	if err != nil || k.KeyMetadata.KeySpec != kmstypes.KeySpecEccNistP256 || k.KeyMetadata.KeyUsage != kmstypes.KeyUsageTypeSignVerify {
		t.Errorf("signing key: %+v, %v", k, err)
	}
	cfg, err := env.Lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(res.Functions[exporter])})
	if err != nil || cfg.Environment.Variables["AUDIT_BUCKET"] != bucket || cfg.Environment.Variables["AUDIT_SIGNING_KEY"] != res.AuditSigningKeyARN {
		t.Errorf("the exporter's environment: %v, %v", cfg, err)
	}

	// A locked version is deleted only by bypassing the governance retention.
	put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("manifests/x.json"), Body: strings.NewReader("{}")})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	_, err = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("manifests/x.json"), VersionId: put.VersionId})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" {
		t.Errorf("deleting a locked version: %v, want AccessDenied", err)
	}

	again, err := p.Apply(ctx, tp)
	if err != nil || again.AuditBucket != bucket || again.AuditSigningKeyARN != res.AuditSigningKeyARN {
		t.Errorf("a second apply: %+v, %v", again, err)
	}

	td, err := provision.Down(ctx, p.Clients, tp, prefix)
	if err != nil {
		t.Fatalf("down: %v", err)
	}
	var bucketRemoved, signingKept bool
	for _, r := range td.Removed {
		bucketRemoved = bucketRemoved || (r.Kind == "bucket" && r.Name == bucket)
	}
	for _, r := range td.Kept {
		signingKept = signingKept || (r.Kind == "key" && r.Name == res.AuditSigningKeyARN)
	}
	if !bucketRemoved || !signingKept {
		t.Errorf("down removed %+v, kept %+v; want the bucket removed and the signing key kept", td.Removed, td.Kept)
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err == nil {
		t.Errorf("bucket %s is still there", bucket)
	}
}
