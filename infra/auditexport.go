package infra

import (
	"errors"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/topology"
)

// AuditObjectLockContext is the CDK context key of the audit bucket's Object Lock mode:
// "GOVERNANCE" (unset: the default) or "COMPLIANCE" (`cdk deploy -c
// lanyard:auditObjectLockMode=COMPLIANCE`). In compliance mode no one, the account's root
// included, can delete or overwrite an exported version before its retention ends, nor
// shorten it; in governance mode a principal granted s3:BypassGovernanceRetention can.
const AuditObjectLockContext = "lanyard:auditObjectLockMode"

// AuditColdAfterDays is when exported objects and manifests move to Glacier Instant Retrieval:
// a quarter after their window, when audits of the recent past are done; they stay readable in
// milliseconds, so verify still reads them directly.
const AuditColdAfterDays = 90

// The actions a function holds on the audit bucket and the audit signing key
// (topology.ValueAuditBucket, topology.ValueAuditSigningKey). The exporter puts objects and
// reads its manifests back, and lists the bucket (AuditBucketListActions, on the bucket): its
// first run looks for a trail, and without it S3 answers a GetObject of a missing manifest with
// 403 rather than 404. It never deletes one. Nobody is granted s3:BypassGovernanceRetention.
var (
	AuditBucketWriteActions = []string{"s3:PutObject", "s3:GetObject"}
	AuditBucketListActions  = []string{"s3:ListBucket"}
	AuditBucketReadActions  = []string{"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions"}
	AuditSignActions        = []string{"kms:Sign", "kms:GetPublicKey"}
	AuditPublicKeyActions   = []string{"kms:GetPublicKey"}
)

// AuditExportProps configures the audit export's bucket and signing key.
type AuditExportProps struct {
	// RetentionDays is the default Object Lock retention (the policy's
	// audit.exportRetentionDays).
	RetentionDays int
	// Compliance puts the bucket's default retention in compliance mode (governance otherwise).
	Compliance bool
}

// AuditExport is the audit bucket and the key that signs its manifests.
type AuditExport struct {
	Bucket     awss3.Bucket
	SigningKey awskms.Key
	// SignerRoleName is the name the exporter's role must have: the key's policy denies
	// kms:Sign to every other principal.
	SignerRoleName *string
}

// auditSignerRoleName is the exporter's role's name, set by the services stack and named by
// the signing key's policy in the foundation stack (a name rather than a reference: the
// foundation stack cannot refer to the services stack, which refers to it). Per region, as
// role names are per account.
func auditSignerRoleName() *string {
	return jsii.String("LanyardAuditExporter-" + *awscdk.Aws_REGION())
}

// NewAuditExport defines the audit bucket — versioned, under Object Lock with a default
// retention, TLS only, no public access, S3-managed encryption, moved to Glacier Instant
// Retrieval after AuditColdAfterDays, retained — and the audit signing key: a KMS asymmetric
// key (ECC_NIST_P256, SIGN_VERIFY), retained. Both are output, with the stack's exports.
//
// S3-managed encryption rather than the deployment's key: the trail holds no secret (key ids,
// hashes, decisions), an auditor reads it with read access to the bucket alone, and its
// integrity rests on the signed manifests, not on who may decrypt.
func NewAuditExport(scope constructs.Construct, id string, props *AuditExportProps) (*AuditExport, error) {
	if props == nil || props.RetentionDays < 1 {
		return nil, errors.New("audit export: a retention of at least one day is required")
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	retention := awss3.ObjectLockRetention_Governance(awscdk.Duration_Days(jsii.Number(props.RetentionDays)))
	if props.Compliance {
		retention = awss3.ObjectLockRetention_Compliance(awscdk.Duration_Days(jsii.Number(props.RetentionDays)))
	}
	cold := awscdk.Duration_Days(jsii.Number(AuditColdAfterDays))
	bucket := awss3.NewBucket(c, jsii.String("Bucket"), &awss3.BucketProps{
		Versioned:                  jsii.Bool(true),
		ObjectLockEnabled:          jsii.Bool(true),
		ObjectLockDefaultRetention: retention,
		BlockPublicAccess:          awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:                 jsii.Bool(true),
		Encryption:                 awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:            awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:              awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("ColdAfterAQuarter"),
			Transitions:                         &[]*awss3.Transition{{StorageClass: awss3.StorageClass_GLACIER_INSTANT_RETRIEVAL(), TransitionAfter: cold}},
			NoncurrentVersionTransitions:        &[]*awss3.NoncurrentVersionTransition{{StorageClass: awss3.StorageClass_GLACIER_INSTANT_RETRIEVAL(), TransitionAfter: cold}},
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
	})
	// No principal may put a version over an exported object or manifest: every PutObject must
	// carry If-None-Match (S3 refuses it when the key exists). Multipart uploads and copies,
	// which cannot, are refused too; the exporter uses neither. Versioning is left alone: S3
	// never suspends it on a bucket under Object Lock, and CloudFormation sets it on updates.
	bucket.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("DenyPutWithoutIfNoneMatch"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("s3:PutObject"),
		Resources:  &[]*string{bucket.ArnForObjects(jsii.String("*"))},
		Conditions: &map[string]any{"Null": map[string]any{"s3:if-none-match": "true"}},
	}))
	key := awskms.NewKey(c, jsii.String("SigningKey"), &awskms.KeyProps{
		Description:   jsii.String("Lanyard audit trail: signs each exported window's manifest (ECDSA P-256)"),
		KeySpec:       awskms.KeySpec_ECC_NIST_P256,
		KeyUsage:      awskms.KeyUsage_SIGN_VERIFY,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// Only the exporter's role signs, whatever the account's IAM grants: a deny on kms:Sign to
	// every other principal. The key's administration (the account's statement) is untouched,
	// so an administrator can still change this policy — visibly, in CloudTrail.
	signer := auditSignerRoleName()
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("OnlyTheAuditExporterSigns"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("kms:Sign"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnNotEquals": map[string]any{
			"aws:PrincipalArn": "arn:" + *awscdk.Aws_PARTITION() + ":iam::" + *awscdk.Aws_ACCOUNT_ID() + ":role/" + *signer,
		}},
	}), jsii.Bool(false))
	stack := awscdk.Stack_Of(c)
	awscdk.NewCfnOutput(stack, jsii.String("AuditBucketName"), &awscdk.CfnOutputProps{
		Value: bucket.BucketName(), Description: jsii.String("The audit bucket: the exported trail (lanyard audit verify --bucket)"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("AuditSigningKeyArn"), &awscdk.CfnOutputProps{
		Value: key.KeyArn(), Description: jsii.String("The audit signing key: its public key is the trail's trust anchor (aws kms get-public-key)"),
	})
	return &AuditExport{Bucket: bucket, SigningKey: key, SignerRoleName: signer}, nil
}

// grantAuditBucket grants role access to the audit bucket: read-write → AuditBucketWriteActions
// on its objects; read → AuditBucketReadActions on the bucket and its objects.
func grantAuditBucket(role awsiam.IRole, bucket awss3.IBucket, access topology.Access) error {
	objects := bucket.ArnForObjects(jsii.String("*"))
	switch access {
	case topology.AccessNone:
	case topology.AccessReadWrite:
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings(AuditBucketWriteActions...), Resources: &[]*string{objects},
		}))
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings(AuditBucketListActions...), Resources: &[]*string{bucket.BucketArn()},
		}))
	case topology.AccessRead:
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings(AuditBucketReadActions...), Resources: &[]*string{bucket.BucketArn(), objects},
		}))
	default:
		return fmt.Errorf("unknown access %q to the audit bucket", access)
	}
	return nil
}

// grantAuditSigningKey grants role access to the audit signing key: read-write →
// AuditSignActions, read → AuditPublicKeyActions, on that key alone.
func grantAuditSigningKey(role awsiam.IRole, key awskms.IKey, access topology.Access) error {
	var actions []string
	switch access {
	case topology.AccessNone:
		return nil
	case topology.AccessReadWrite:
		actions = AuditSignActions
	case topology.AccessRead:
		actions = AuditPublicKeyActions
	default:
		return fmt.Errorf("unknown access %q to the audit signing key", access)
	}
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings(actions...), Resources: &[]*string{key.KeyArn()},
	}))
	return nil
}
