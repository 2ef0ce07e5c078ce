package infra

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

// Actions a role may hold for each kind of declared access (what the CDK grants give).
var (
	tableReadActions  = []string{"dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:Query", "dynamodb:Scan"}
	tableWriteActions = []string{"dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
	streamActions     = []string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}
	queueConsume      = []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"}
	queueSend         = []string{"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"}
	keyDecrypt        = []string{"kms:Decrypt", "kms:DescribeKey"}
	keyEncrypt        = []string{"kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"}
	logWrite          = []string{"logs:CreateLogStream", "logs:PutLogEvents"}
	xrayActions       = []string{"xray:PutTelemetryRecords", "xray:PutTraceSegments"}
)

// secretsResource stands for the ARN pattern of the partner key secrets in the allowed map.
const secretsResource = "secrets"

// isSecretsARN reports whether an unresolved policy resource (printed) is the ARN pattern of the
// secrets under SecretsPrefix, and nothing wider.
func isSecretsARN(printed string) bool {
	return strings.Contains(printed, ":secret:"+SecretsPrefix+"*") && strings.Contains(printed, ":secretsmanager:")
}

// authorizerCacheResource stands for the REST API stage's authorizer cache in the allowed map.
const authorizerCacheResource = "authorizer-cache"

// usagePlansResource stands for the API Gateway resources enrolling a partner's API key touches
// (UsagePlans.GrantEnroll) in the allowed map.
const usagePlansResource = "usage-plans"

// apiKeysResource stands for the API keys (arn …::/apikeys/*) in the allowed map: disabling a
// partner's key (UsagePlans.GrantDisableKeys) updates one.
const apiKeysResource = "api-keys"

// isEnrollARN reports whether an unresolved policy resource (printed) is one GrantEnroll names:
// API keys, their tags, the usage plans list or plan keys — never an API or a plan itself.
func isEnrollARN(printed string) bool {
	if !strings.Contains(printed, ":apigateway:") {
		return false
	}
	for _, suffix := range []string{"::/apikeys]", "::/usageplans]", "::/usageplans/*/keys]", "::/usageplans/*/keys/*]", "%3A%3A%2Fapikeys%2F*]"} {
		if strings.Contains(printed, suffix) {
			return true
		}
	}
	return false
}

// revokedSessionsResource stands for the sts enforcer's managed policies in the allowed map.
const revokedSessionsResource = "revoked-sessions"

// isRevokedSessionsARN reports whether an unresolved policy resource (printed) is the ARN
// pattern of the sts enforcer's managed policies: under their path, named after a role.
func isRevokedSessionsARN(printed string) bool {
	return strings.Contains(printed, ":iam::") && strings.Contains(printed, ":policy/"+RevokedSessionsPath[1:]) &&
		strings.Contains(printed, "-*")
}

// excessGrants lists every action a function's role is allowed that its declaration does not
// call for: its environment's access (table, bus, key, queue), the queues it consumes, the
// stream it reads and the on-failure queue it writes, its own log group, and X-Ray. Writing
// with the key is allowed only to a function that writes something encrypted with it.
func excessGrants(top *topology.Topology, tpls ...assertions.Template) []string {
	c, err := newCfn(tpls...)
	if err != nil {
		return []string{err.Error()}
	}
	var excess []string
	for _, f := range top.Functions {
		ids := c.tagged("AWS::Lambda::Function", TagFunction, f.Name)
		if len(ids) != 1 {
			continue // missingCounterparts reports it
		}
		fn := c.resources[ids[0]]
		role, _ := c.targetOf(prop(fn, "Role"), "AWS::IAM::Role")

		allowed := map[string][]string{} // "<id>.<attr><suffix>" → actions
		allow := func(id, attr, suffix string, actions ...string) {
			k := id + "." + attr + suffix
			allowed[k] = append(allowed[k], actions...)
		}
		var keyID string
		decrypts, encrypts, readsAudit := false, false, false
		if lg, ok := c.targetOf(prop(fn, "LoggingConfig", "LogGroup"), "AWS::Logs::LogGroup"); ok {
			allow(lg, "Arn", "", logWrite...)
		}
		one := func(typ, key, value string) string {
			if ids := c.tagged(typ, key, value); len(ids) == 1 {
				return ids[0]
			}
			return ""
		}
		for _, v := range f.Env {
			switch v.Kind {
			case topology.ValueTable:
				id := one("AWS::DynamoDB::Table", TagTable, v.Name)
				actions := map[topology.Access][]string{
					topology.AccessRead:      tableReadActions,
					topology.AccessReadWrite: append(slices.Clone(tableReadActions), tableWriteActions...),
				}[v.Access]
				allow(id, "Arn", "", actions...)
				allow(id, "Arn", "/index/*", actions...)
				decrypts = decrypts || v.Access != topology.AccessNone
				encrypts = encrypts || v.Access == topology.AccessReadWrite
			case topology.ValueBus:
				for _, bus := range c.ofType("AWS::Events::EventBus") {
					if v.Access != topology.AccessNone {
						allow(bus, "Arn", "", "events:PutEvents")
					}
				}
			case topology.ValueFunction:
				if v.Access == topology.AccessReadWrite {
					target := one("AWS::Lambda::Function", TagFunction, v.Name)
					allow(target, "Arn", "", "lambda:InvokeFunction")
					allow(target, "Arn", ":*", "lambda:InvokeFunction")
				}
			case topology.ValueRole:
				switch v.Access {
				case topology.AccessReadWrite:
					allow(one("AWS::IAM::Role", TagRole, v.Name), "Arn", "", "sts:AssumeRole", "sts:TagSession")
				case topology.AccessDenySessions:
					allow(one("AWS::IAM::Role", TagRole, v.Name), "Arn", "", append(slices.Clone(PartnerAccessRevokeActions), PartnerAccessAttachActions...)...)
					allow(revokedSessionsResource, "", "", PartnerAccessPolicyActions...)
				}
			case topology.ValueAPIStage:
				if v.Access == topology.AccessReadWrite {
					allow(authorizerCacheResource, "", "", "apigateway:DELETE")
				}
			case topology.ValueUsagePlans:
				switch v.Access {
				case topology.AccessReadWrite:
					allow(usagePlansResource, "", "", "apigateway:GET", "apigateway:POST", "apigateway:PUT")
				case topology.AccessDisableKeys:
					allow(usagePlansResource, "", "", "apigateway:GET")
					allow(apiKeysResource, "", "", "apigateway:PATCH")
				}
			case topology.ValueSecrets:
				actions := map[topology.Access][]string{
					topology.AccessRead:          SecretsReadActions,
					topology.AccessReadWrite:     append(slices.Clone(SecretsReadActions), SecretsWriteActions...),
					topology.AccessRotate:        SecretsRotateActions,
					topology.AccessStartRotation: SecretsStartRotationActions,
					topology.AccessRetire:        SecretsRetireActions,
				}[v.Access]
				allow(secretsResource, "", "", actions...)
			case topology.ValueAuditLog:
				for id, r := range c.resources {
					if r.Type == "AWS::Logs::LogGroup" && prop(r, "LogGroupName") == AuditLogGroupName {
						switch v.Access {
						case topology.AccessRead:
							allow(id, "Arn", "", AuditLogReadActions...)
							readsAudit = true
						case topology.AccessReadWrite:
							allow(id, "Arn", "", AuditLogWriteActions...)
						}
					}
				}
			case topology.ValueAuditBucket:
				for _, b := range c.ofType("AWS::S3::Bucket") {
					switch v.Access {
					case topology.AccessReadWrite:
						allow(b, "Arn", "/*", AuditBucketWriteActions...)
						allow(b, "Arn", "", AuditBucketListActions...)
					case topology.AccessRead:
						allow(b, "Arn", "", AuditBucketReadActions...)
						allow(b, "Arn", "/*", AuditBucketReadActions...)
					}
				}
			case topology.ValueAuditSigningKey:
				for _, k := range c.ofType("AWS::KMS::Key") {
					if prop(c.resources[k], "KeyUsage") != "SIGN_VERIFY" {
						continue
					}
					switch v.Access {
					case topology.AccessReadWrite:
						allow(k, "Arn", "", AuditSignActions...)
					case topology.AccessRead:
						allow(k, "Arn", "", AuditPublicKeyActions...)
					}
				}
			case topology.ValueKey:
				decrypts = decrypts || v.Access != topology.AccessNone
				encrypts = encrypts || v.Access == topology.AccessReadWrite
			case topology.ValueQueue:
				id := one("AWS::SQS::Queue", TagQueue, v.Name)
				if v.Access != topology.AccessNone {
					allow(id, "Arn", "", queueConsume...)
					decrypts = true
				}
				if v.Access == topology.AccessReadWrite {
					allow(id, "Arn", "", queueSend...)
					encrypts = true
				}
			}
		}
		for _, cons := range top.Consumers {
			if cons.Function == f.Name {
				allow(one("AWS::SQS::Queue", TagQueue, cons.Name), "Arn", "", queueConsume...)
				decrypts = true
			}
		}
		for _, sc := range top.StreamConsumers {
			if sc.Function == f.Name {
				table := one("AWS::DynamoDB::Table", TagTable, sc.Table)
				allow(table, "StreamArn", "", streamActions...)
				allow(table, "Arn", "/stream/*", "dynamodb:ListStreams")
				allow(one("AWS::SQS::Queue", TagQueue, sc.OnFailureQueue), "Arn", "", queueSend...)
				decrypts, encrypts = true, true
			}
		}
		for _, k := range c.ofType("AWS::KMS::Key") {
			if prop(c.resources[k], "KeyUsage") != "SIGN_VERIFY" {
				keyID = k // the deployment's key, not the audit signing key
			}
		}
		if decrypts {
			allow(keyID, "Arn", "", keyDecrypt...)
		}
		if encrypts {
			allow(keyID, "Arn", "", keyEncrypt...)
		}

		for _, g := range c.grantsOf(role) {
			switch {
			case g.Any && slices.Contains(xrayActions, g.Action):
			case g.Any && readsAudit && slices.Contains(AuditLogStopActions, g.Action):
			case g.Any:
				excess = append(excess, fmt.Sprintf("function %s: %s on *", f.Name, g.Action))
			case isSecretsARN(g.Resource.ID) && slices.Contains(allowed[secretsResource+"."], g.Action):
			case strings.Contains(g.Resource.ID, ":apigateway:") && strings.Contains(g.Resource.ID, "::/apikeys/*]") &&
				slices.Contains(allowed[apiKeysResource+"."], g.Action):
			case isEnrollARN(g.Resource.ID) && slices.Contains(allowed[usagePlansResource+"."], g.Action):
			case isRevokedSessionsARN(g.Resource.ID) && slices.Contains(allowed[revokedSessionsResource+"."], g.Action):
			case strings.Contains(g.Resource.ID, "/cache/authorizers]") && slices.Contains(allowed[authorizerCacheResource+"."], g.Action):
			case !slices.Contains(allowed[g.Resource.ID+"."+g.Resource.Attr+g.Suffix], g.Action):
				excess = append(excess, fmt.Sprintf("function %s: %s on %s.%s%s", f.Name, g.Action, g.Resource.ID, g.Resource.Attr, g.Suffix))
			}
		}
	}
	sort.Strings(excess)
	return slices.Compact(excess)
}

// The authorizer verifies keys against the registry alone: its role holds no Secrets Manager
// action at all. Only the onboarding function, and the ops revocation for a replacement's new
// generation, may create partner key secrets (and switch their rotation on), the rotation
// function holds exactly what a rotation function calls, the partner's pick-ups (the
// credentials and replacement-pickup functions) only read, and the secret enforcer retires
// secrets and reads no value.
func TestOnlyOnboardingTouchesSecrets(t *testing.T) {
	top := topology.Lanyard()
	c, err := newCfn(synthesize(t, "production", top).all()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range top.Functions {
		ids := c.tagged("AWS::Lambda::Function", TagFunction, f.Name)
		if len(ids) != 1 {
			t.Fatalf("function %s: %d counterparts", f.Name, len(ids))
		}
		role, _ := c.targetOf(prop(c.resources[ids[0]], "Role"), "AWS::IAM::Role")
		var held []string
		for _, g := range c.grantsOf(role) {
			if strings.HasPrefix(g.Action, "secretsmanager:") {
				held = append(held, g.Action)
				if !isSecretsARN(g.Resource.ID) {
					t.Errorf("function %s: %s on %s, not the partner key secrets", f.Name, g.Action, g.Resource.ID)
				}
			}
		}
		switch f.Name {
		case "onboarding":
			for _, a := range []string{"secretsmanager:CreateSecret", "secretsmanager:GetSecretValue", "secretsmanager:RotateSecret"} {
				if !slices.Contains(held, a) {
					t.Errorf("function onboarding: not granted %s", a)
				}
			}
		case "revoke-admin":
			// A replacement after a compromise: its secret is created (deleted when its
			// transaction does not commit) and rotation switched on.
			for _, a := range []string{"secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:RotateSecret"} {
				if !slices.Contains(held, a) {
					t.Errorf("function revoke-admin: not granted %s", a)
				}
			}
		case "credentials", "replacement-pickup":
			// The partner's pick-up reads the current key, or its replacement.
			slices.Sort(held)
			if want := slices.Sorted(slices.Values(SecretsReadActions)); !slices.Equal(held, want) {
				t.Errorf("function %s: holds %v, want exactly %v", f.Name, held, want)
			}
		case "rotation-admin":
			slices.Sort(held)
			if want := slices.Sorted(slices.Values(SecretsStartRotationActions)); !slices.Equal(held, want) {
				t.Errorf("function rotation-admin: holds %v, want exactly %v", held, want)
			}
		case "rotation":
			slices.Sort(held)
			if want := slices.Sorted(slices.Values(SecretsRotateActions)); !slices.Equal(held, want) {
				t.Errorf("function rotation: holds %v, want exactly %v", held, want)
			}
		case "revocation-secret":
			// The secret enforcer retires secrets; it never reads a value.
			slices.Sort(held)
			if want := slices.Sorted(slices.Values(SecretsRetireActions)); !slices.Equal(held, want) || slices.Contains(held, "secretsmanager:GetSecretValue") {
				t.Errorf("function revocation-secret: holds %v, want exactly %v", held, want)
			}
		default:
			if len(held) > 0 {
				t.Errorf("function %s: holds %v", f.Name, held)
			}
		}
	}
}

// Every role holds only what its function's declaration calls for.
func TestRolesHoldOnlyWhatIsDeclared(t *testing.T) {
	for _, d := range declarations {
		t.Run(d.name, func(t *testing.T) {
			top := d.topology()
			for _, e := range excessGrants(top, synthesize(t, d.name, top).all()...) {
				t.Error(e)
			}
		})
	}
}

// The check itself: against a declaration that asks for less than the app grants, it reports
// the difference.
func TestExcessGrantsReportsMoreThanDeclared(t *testing.T) {
	s := synthesize(t, "sample", topologytest.Sample())
	cases := []struct {
		name   string
		change func(*topology.Topology)
		want   string
	}{
		{"table read only", func(tp *topology.Topology) {
			tp.Functions[1].Env["RECORDER_TABLE"] = topology.TableName("records", topology.AccessRead)
		}, "function recorder: dynamodb:PutItem on "},
		{"no publishing", func(tp *topology.Topology) {
			tp.Functions[1].Env["EVENT_BUS"] = topology.BusName(false)
		}, "function recorder: events:PutEvents on "},
		{"no stream", func(tp *topology.Topology) { tp.StreamConsumers = nil }, "function recorder: dynamodb:GetRecords on "},
		{"no consumer", func(tp *topology.Topology) { tp.Consumers = nil }, "function recorder: sqs:ReceiveMessage on "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			declared := topologytest.Sample()
			tc.change(declared)
			got := excessGrants(declared, s.all()...)
			if !slices.ContainsFunc(got, func(e string) bool { return strings.HasPrefix(e, tc.want) }) {
				t.Errorf("nothing reported starting %q; reported %q", tc.want, got)
			}
		})
	}
}
