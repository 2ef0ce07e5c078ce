package infra

import (
	"fmt"
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
		// No principal puts a version over an exported object or manifest.
		s.foundation.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"Effect":    "Deny",
				"Principal": map[string]any{"AWS": "*"},
				"Action":    "s3:PutObject",
				"Condition": map[string]any{"Null": map[string]any{"s3:if-none-match": "true"}},
			})})},
		})
		s.foundation.HasOutput(jsii.String("AuditBucketName"), map[string]any{})
		s.foundation.HasOutput(jsii.String("AuditSigningKeyArn"), map[string]any{})
	})
}

// The signing key is an asymmetric P-256 key for signing, retained; its policy denies kms:Sign
// to every principal but the exporter's role, by the name the services stack gives that role,
// and leaves the account its administration.
func TestAuditSigningKey(t *testing.T) {
	top := topology.Lanyard()
	s := synthesize(t, "production", top)
	check(t, func() {
		s.foundation.HasResource(jsii.String("AWS::KMS::Key"), map[string]any{
			"Properties":          map[string]any{"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
		})
	})
	c, err := newCfn(s.all()...)
	if err != nil {
		t.Fatal(err)
	}
	var signer string
	var adminKept bool
	for _, k := range c.ofType("AWS::KMS::Key") {
		if prop(c.resources[k], "KeyUsage") != "SIGN_VERIFY" {
			continue
		}
		stmts, _ := prop(c.resources[k], "KeyPolicy", "Statement").([]any)
		for _, st := range stmts {
			m, _ := st.(map[string]any)
			if m["Effect"] == "Allow" && m["Action"] == "kms:*" {
				adminKept = true
			}
			if m["Effect"] != "Deny" || m["Action"] != "kms:Sign" {
				continue
			}
			if p, _ := m["Principal"].(map[string]any); p["AWS"] != "*" {
				t.Errorf("the deny of kms:Sign applies to %v, want every principal", m["Principal"])
			}
			cond, _ := m["Condition"].(map[string]any)
			ne, _ := cond["ArnNotEquals"].(map[string]any)
			signer = rendered(ne["aws:PrincipalArn"])
		}
	}
	if !adminKept {
		t.Error("the signing key's policy no longer lets the account administer it")
	}
	ids := c.tagged("AWS::Lambda::Function", TagFunction, top.AuditExport.Exporter)
	if len(ids) != 1 {
		t.Fatalf("the exporter: %d counterparts", len(ids))
	}
	role, _ := c.targetOf(prop(c.resources[ids[0]], "Role"), "AWS::IAM::Role")
	want := "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/" + rendered(prop(c.resources[role], "RoleName"))
	if signer == "" || signer != want {
		t.Errorf("kms:Sign is denied to all but %q, want the exporter's role %q", signer, want)
	}
}

// rendered writes a CloudFormation string value, its references as ${Name}.
func rendered(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if r, ok := v["Ref"].(string); ok {
			return "${" + r + "}"
		}
		if j, ok := v["Fn::Join"].([]any); ok && len(j) == 2 {
			sep, _ := j[0].(string)
			parts, _ := j[1].([]any)
			out := make([]string, len(parts))
			for i, p := range parts {
				out[i] = rendered(p)
			}
			return strings.Join(out, sep)
		}
	}
	return fmt.Sprintf("%v", v)
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
// signing key, s3:PutObject and s3:GetObject on the bucket's objects and s3:ListBucket on the
// bucket; no role may bypass the governance retention or delete an object.
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
			if !slices.Equal(onKey, []string{"kms:GetPublicKey", "kms:Sign"}) || !slices.Equal(s3, []string{"s3:GetObject", "s3:ListBucket", "s3:PutObject"}) {
				t.Errorf("the exporter holds %v on the signing key and %v on S3", onKey, s3)
			}
			continue
		}
		if len(onKey) > 0 || len(s3) > 0 {
			t.Errorf("function %s holds %v on the signing key and %v on S3", f.Name, onKey, s3)
		}
	}
}
