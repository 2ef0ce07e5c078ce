package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/lanyardhq/lanyard/topology"
)

// AuditRetentionDays is the local audit bucket's default Object Lock retention (governance
// mode): short, since a local trail is thrown away; `lanyard local down` bypasses it.
const AuditRetentionDays = 1

// S3API is the part of S3 the provisioner uses (the audit bucket) and Down uses.
type S3API interface {
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	CreateBucket(context.Context, *s3.CreateBucketInput, ...func(*s3.Options)) (*s3.CreateBucketOutput, error)
	PutBucketVersioning(context.Context, *s3.PutBucketVersioningInput, ...func(*s3.Options)) (*s3.PutBucketVersioningOutput, error)
	PutObjectLockConfiguration(context.Context, *s3.PutObjectLockConfigurationInput, ...func(*s3.Options)) (*s3.PutObjectLockConfigurationOutput, error)
	s3.ListObjectVersionsAPIClient
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	DeleteBucket(context.Context, *s3.DeleteBucketInput, ...func(*s3.Options)) (*s3.DeleteBucketOutput, error)
}

var _ S3API = (*s3.Client)(nil)

// auditSigningAlias is the alias of a local deployment's audit signing key.
func auditSigningAlias(prefix string) string { return "alias/" + prefix + "-audit-signing" }

// auditExport creates, when the topology declares an audit export, the audit bucket
// (topology.AuditBucketLocalName of the prefix) with Object Lock, versioning and a default
// governance retention of AuditRetentionDays, and the audit signing key (ECC_NIST_P256,
// SIGN_VERIFY) behind its alias. Both are found again by name on a later run.
func (p *Provisioner) auditExport(ctx context.Context, t *topology.Topology, r *Result) error {
	if t.AuditExport == nil {
		return nil
	}
	bucket := topology.AuditBucketLocalName(p.Options.Prefix)
	r.AuditBucket = bucket
	_, err := p.Clients.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	switch {
	case err == nil:
		r.record("bucket", bucket, Unchanged, "")
	case bucketMissing(err):
		if _, err := p.Clients.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
			return fmt.Errorf("create bucket %s: %w", bucket, err)
		}
		if _, err := p.Clients.S3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket: aws.String(bucket), VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
		}); err != nil {
			return fmt.Errorf("version bucket %s: %w", bucket, err)
		}
		if _, err := p.Clients.S3.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{
			Bucket: aws.String(bucket),
			ObjectLockConfiguration: &s3types.ObjectLockConfiguration{
				ObjectLockEnabled: s3types.ObjectLockEnabledEnabled,
				Rule: &s3types.ObjectLockRule{DefaultRetention: &s3types.DefaultRetention{
					Mode: s3types.ObjectLockRetentionModeGovernance, Days: aws.Int32(AuditRetentionDays),
				}},
			},
		}); err != nil {
			return fmt.Errorf("lock bucket %s: %w", bucket, err)
		}
		r.record("bucket", bucket, Created, fmt.Sprintf("audit trail, versioned, Object Lock governance %d day", AuditRetentionDays))
	default:
		return fmt.Errorf("look up bucket %s: %w", bucket, err)
	}

	alias := auditSigningAlias(p.Options.Prefix)
	if d, err := p.Clients.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)}); err == nil {
		r.AuditSigningKeyARN = aws.ToString(d.KeyMetadata.Arn)
		r.record("key", alias, Unchanged, "")
		return nil
	} else if !notFound(err) {
		return fmt.Errorf("describe key %s: %w", alias, err)
	}
	k, err := p.Clients.KMS.CreateKey(ctx, &kms.CreateKeyInput{
		Description: aws.String("Lanyard local audit signing key"),
		KeySpec:     kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify,
	})
	if err != nil {
		return fmt.Errorf("create key %s: %w", alias, err)
	}
	if _, err := p.Clients.KMS.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: k.KeyMetadata.KeyId}); err != nil {
		return fmt.Errorf("create alias %s: %w", alias, err)
	}
	r.AuditSigningKeyARN = aws.ToString(k.KeyMetadata.Arn)
	r.record("key", alias, Created, "audit signing key, ECC_NIST_P256")
	return nil
}

func bucketMissing(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "NotFound", "NoSuchBucket":
		return true
	}
	return false
}

// auditBucket removes every version of every object of the audit bucket, bypassing the
// governance retention (which a local deployment allows), and the bucket.
func (d *downRun) auditBucket(ctx context.Context, bucket string) {
	if _, err := d.c.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		if !bucketMissing(err) {
			d.errs = append(d.errs, fmt.Errorf("look up bucket %s: %w", bucket, err))
		}
		return
	}
	p := s3.NewListObjectVersionsPaginator(d.c.S3, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			d.errs = append(d.errs, fmt.Errorf("list the versions in bucket %s: %w", bucket, err))
			return
		}
		type version struct{ key, id *string }
		var all []version
		for _, v := range page.Versions {
			all = append(all, version{v.Key, v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			all = append(all, version{m.Key, m.VersionId})
		}
		for _, v := range all {
			if _, err := d.c.S3.DeleteObject(ctx, &s3.DeleteObjectInput{
				Bucket: aws.String(bucket), Key: v.key, VersionId: v.id, BypassGovernanceRetention: aws.Bool(true),
			}); err != nil {
				d.errs = append(d.errs, fmt.Errorf("delete s3://%s/%s (version %s): %w", bucket, aws.ToString(v.key), aws.ToString(v.id), err))
				return
			}
		}
	}
	_, err := d.c.S3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	d.done("bucket", bucket, err)
}
