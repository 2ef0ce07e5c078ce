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
// reads its manifests back; it never deletes one. Nobody is granted
// s3:BypassGovernanceRetention.
var (
	AuditBucketWriteActions = []string{"s3:PutObject", "s3:GetObject"}
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
	key := awskms.NewKey(c, jsii.String("SigningKey"), &awskms.KeyProps{
		Description:   jsii.String("Lanyard audit trail: signs each exported window's manifest (ECDSA P-256)"),
		KeySpec:       awskms.KeySpec_ECC_NIST_P256,
		KeyUsage:      awskms.KeyUsage_SIGN_VERIFY,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	stack := awscdk.Stack_Of(c)
	awscdk.NewCfnOutput(stack, jsii.String("AuditBucketName"), &awscdk.CfnOutputProps{
		Value: bucket.BucketName(), Description: jsii.String("The audit bucket: the exported trail (lanyard audit verify --bucket)"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("AuditSigningKeyArn"), &awscdk.CfnOutputProps{
		Value: key.KeyArn(), Description: jsii.String("The audit signing key: its public key is the trail's trust anchor (aws kms get-public-key)"),
	})
	return &AuditExport{Bucket: bucket, SigningKey: key}, nil
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
