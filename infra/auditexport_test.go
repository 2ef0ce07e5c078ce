package infra

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/topology"
)

// The audit bucket: versioned, Object Lock on with a governance default retention of the
// policy's audit.exportRetentionDays, every public access blocked, TLS only, S3-managed
// encryption, moved to Glacier Instant Retrieval after a quarter, retained.
func TestAuditBucket(t *testing.T) {
	s := synthesize(t, "production", topology.Lanyard())
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	check(t, func() {
		s.foundation.ResourceCountIs(jsii.String("AWS::S3::Bucket"), jsii.Number(1))
		s.foundation.HasResource(jsii.String("AWS::S3::Bucket"), map[string]any{
			"Properties": map[string]any{
				"VersioningConfiguration": map[string]any{"Status": "Enabled"},
				"ObjectLockEnabled":       true,
				"ObjectLockConfiguration": map[string]any{
					"ObjectLockEnabled": "Enabled",
					"Rule":              map[string]any{"DefaultRetention": map[string]any{"Mode": "GOVERNANCE", "Days": pol.Audit.ExportRetentionDays}},
				},
				"PublicAccessBlockConfiguration": map[string]any{
					"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
				},
				"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
					map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}},
				}},
				"LifecycleConfiguration": map[string]any{"Rules": []any{assertions.Match_ObjectLike(&map[string]any{
					"Status":                       "Enabled",
					"Transitions":                  []any{map[string]any{"StorageClass": "GLACIER_IR", "TransitionInDays": AuditColdAfterDays}},
					"NoncurrentVersionTransitions": []any{map[string]any{"StorageClass": "GLACIER_IR", "TransitionInDays": AuditColdAfterDays}},
				})}},
			},
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
		})
		s.foundation.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"Effect":    "Deny",
				"Action":    "s3:*",
				"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
			})})},
		})
		s.foundation.HasOutput(jsii.String("AuditBucketName"), map[string]any{})
		s.foundation.HasOutput(jsii.String("AuditSigningKeyArn"), map[string]any{})
	})
}

// The signing key is an asymmetric P-256 key for signing, retained.
func TestAuditSigningKey(t *testing.T) {
	s := synthesize(t, "production", topology.Lanyard())
	check(t, func() {
		s.foundation.HasResource(jsii.String("AWS::KMS::Key"), map[string]any{
			"Properties":          map[string]any{"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
		})
	})
}

// The context key turns the default retention to compliance mode.
func TestAuditBucketComplianceMode(t *testing.T) {
	app := testApp(t)
	app.Node().SetContext(jsii.String(AuditObjectLockContext), "COMPLIANCE")
	st, err := NewStacks(app, topology.Lanyard(), nil, dummyCode(t))
	if err != nil {
		t.Fatal(err)
	}
	tpl := assertions.Template_FromStack(st.Foundation.Stack, nil)
	check(t, func() {
		tpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
			"ObjectLockConfiguration": map[string]any{"Rule": map[string]any{"DefaultRetention": assertions.Match_ObjectLike(&map[string]any{"Mode": "COMPLIANCE"})}},
		})
	})
	bad := testApp(t)
	bad.Node().SetContext(jsii.String(AuditObjectLockContext), "LEGAL_HOLD")
	if _, err := NewStacks(bad, topology.Lanyard(), nil, dummyCode(t)); err == nil || !strings.Contains(err.Error(), AuditObjectLockContext) {
		t.Errorf("an unknown mode: %v", err)
	}
}

// Only the exporter signs or writes the bucket: exactly kms:Sign and kms:GetPublicKey on the
// signing key, s3:PutObject and s3:GetObject on the bucket's objects; no role may bypass the
// governance retention or delete an object.
func TestOnlyTheExporterSignsAndWritesTheTrail(t *testing.T) {
	top := topology.Lanyard()
	c, err := newCfn(synthesize(t, "production", top).all()...)
	if err != nil {
		t.Fatal(err)
	}
	var signingKey string
	for _, k := range c.ofType("AWS::KMS::Key") {
		if prop(c.resources[k], "KeyUsage") == "SIGN_VERIFY" {
			signingKey = k
		}
	}
	if signingKey == "" {
		t.Fatal("no signing key")
	}
	for _, f := range top.Functions {
		ids := c.tagged("AWS::Lambda::Function", TagFunction, f.Name)
		if len(ids) != 1 {
			t.Fatalf("function %s: %d counterparts", f.Name, len(ids))
		}
		role, _ := c.targetOf(prop(c.resources[ids[0]], "Role"), "AWS::IAM::Role")
		var onKey, s3 []string
		for _, g := range c.grantsOf(role) {
			if g.Resource.ID == signingKey {
				onKey = append(onKey, g.Action)
			}
			if strings.HasPrefix(g.Action, "s3:") {
				s3 = append(s3, g.Action)
			}
			if g.Action == "s3:BypassGovernanceRetention" || g.Action == "s3:DeleteObject" || g.Action == "s3:DeleteObjectVersion" {
				t.Errorf("function %s may %s", f.Name, g.Action)
			}
		}
		slices.Sort(onKey)
		slices.Sort(s3)
		if f.Name == "audit-exporter" {
			if !slices.Equal(onKey, []string{"kms:GetPublicKey", "kms:Sign"}) || !slices.Equal(s3, []string{"s3:GetObject", "s3:PutObject"}) {
				t.Errorf("the exporter holds %v on the signing key and %v on S3", onKey, s3)
			}
			continue
		}
		if len(onKey) > 0 || len(s3) > 0 {
			t.Errorf("function %s holds %v on the signing key and %v on S3", f.Name, onKey, s3)
		}
	}
}
