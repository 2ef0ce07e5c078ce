package infra

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/topology"
)

// ServicesStackProps configures the services stack.
type ServicesStackProps struct {
	awscdk.StackProps
	// Topology is the declaration the stack is built from.
	Topology *topology.Topology
	// Key is the customer-managed key (foundation stack): queues are encrypted with it and
	// functions get the access to it their environment declares.
	Key awskms.IKey
	// Bus is the Lanyard event bus (foundation stack).
	Bus awsevents.IEventBus
	// Tables are the declared tables by name (tables stack).
	Tables map[string]awsdynamodb.ITable
	// AuditLog is the audit log group (foundation stack), nil when the topology declares none.
	AuditLog awslogs.ILogGroup
	// AuditExport is the audit bucket and signing key (foundation stack), nil when the
	// topology declares no audit export.
	AuditExport *AuditExport
	// Code is each function's deployment package; its error should name the function
	// (FunctionPackage's does).
	Code func(fn topology.Function) (awslambda.Code, error)
}

// ServicesStack is everything stateless built from the topology: the functions with their
// roles and log groups, the REST API, the consumers (rule → queue → function), the table
// stream consumers and the schedules.
type ServicesStack struct {
	awscdk.Stack
	Functions       map[string]*Function
	API             *API // nil when the topology declares no route
	Consumers       map[string]*Consumer
	StreamConsumers map[string]*StreamConsumer // by table name
	Schedules       map[string]*Schedule
	UsagePlans      *UsagePlans // nil when the topology declares none
	Roles           map[string]*PartnerAccess
	// Queues are the declared queues by topology name: each consumer's queue and DLQ and each
	// stream consumer's on-failure queue.
	Queues map[string]awssqs.IQueue
}

// NewServicesStack defines the services stack. The topology is expected to be valid
// (topology.Validate); a reference it cannot resolve, a function package Code cannot give or a
// policy it cannot load is an error naming the declaration.
func NewServicesStack(scope constructs.Construct, id string, props *ServicesStackProps) (*ServicesStack, error) {
	if props == nil || props.Topology == nil || props.Key == nil || props.Bus == nil || props.Code == nil {
		return nil, errors.New("services stack: topology, key, bus and code are required")
	}
	sprops := props.StackProps
	stack := awscdk.NewStack(scope, &id, &sprops)
	top := props.Topology
	s := &ServicesStack{
		Stack:           stack,
		Functions:       map[string]*Function{},
		Consumers:       map[string]*Consumer{},
		StreamConsumers: map[string]*StreamConsumer{},
		Schedules:       map[string]*Schedule{},
		Queues:          map[string]awssqs.IQueue{},
	}

	functions := constructs.NewConstruct(stack, jsii.String("Functions"))
	lambdas := map[string]awslambda.IFunction{}
	for _, decl := range top.Functions {
		code, err := props.Code(decl)
		if err != nil {
			return nil, err
		}
		fp := &FunctionProps{Decl: decl, Code: code}
		if props.AuditExport != nil && top.AuditExport != nil && decl.Name == top.AuditExport.Exporter {
			fp.RoleName = props.AuditExport.SignerRoleName // the signing key's policy names it
		}
		f := NewFunction(functions, pascal(decl.Name), fp)
		s.Functions[decl.Name] = f
		lambdas[decl.Name] = f.Lambda
	}
	lambda := func(what, name string) (awslambda.IFunction, error) {
		f, ok := lambdas[name]
		if !ok {
			return nil, fmt.Errorf("%s: function %q is not declared", what, name)
		}
		return f, nil
	}
	table := func(what, name string) (awsdynamodb.ITable, error) {
		t, ok := props.Tables[name]
		if !ok {
			return nil, fmt.Errorf("%s: table %q is not declared", what, name)
		}
		return t, nil
	}

	if len(top.Consumers) > 0 {
		consumers := constructs.NewConstruct(stack, jsii.String("Consumers"))
		for _, decl := range top.Consumers {
			fn, err := lambda("consumer "+decl.Name, decl.Function)
			if err != nil {
				return nil, err
			}
			c := NewConsumer(consumers, pascal(decl.Name), &ConsumerProps{
				Decl: decl, Bus: props.Bus, Key: props.Key, Function: fn,
			})
			s.Consumers[decl.Name] = c
			s.Queues[decl.Name], s.Queues[decl.DLQName()] = c.Queue, c.DeadLetterQueue
		}
	}

	if len(top.StreamConsumers) > 0 {
		streams := constructs.NewConstruct(stack, jsii.String("StreamConsumers"))
		for _, decl := range top.StreamConsumers {
			t, err := table("stream consumer of "+decl.Table, decl.Table)
			if err != nil {
				return nil, err
			}
			fn, err := lambda("stream consumer of "+decl.Table, decl.Function)
			if err != nil {
				return nil, err
			}
			sc := NewStreamConsumer(streams, pascal(decl.Table), &StreamConsumerProps{
				Decl:     decl,
				Table:    t,
				Key:      props.Key,
				Function: fn,
			})
			s.StreamConsumers[decl.Table] = sc
			s.Queues[decl.OnFailureQueue] = sc.FailureQueue
		}
	}

	if len(top.Routes) > 0 {
		api, err := NewAPI(stack, "Api", &APIProps{Topology: top, Functions: lambdas})
		if err != nil {
			return nil, err
		}
		s.API = api
	}
	if len(top.UsagePlans) > 0 {
		if s.API == nil {
			return nil, errors.New("usage plans need the REST API: declare a route")
		}
		tiers := make([]policy.Tier, 0, len(top.UsagePlans))
		for _, u := range top.UsagePlans {
			tiers = append(tiers, policy.Tier{Name: u.Name, Throttle: policy.Throttle{RateLimit: u.RateLimit, BurstLimit: u.BurstLimit}})
		}
		plans, err := NewUsagePlans(stack, "UsagePlans", &UsagePlansProps{API: s.API.RestAPI, Tiers: tiers})
		if err != nil {
			return nil, err
		}
		s.UsagePlans = plans
	}

	var stageARN *string
	if s.API != nil {
		stageARN = ExecuteAPIStageARN(s.API.RestAPI, APIStageName)
	}
	s.Roles = map[string]*PartnerAccess{}
	for _, r := range top.Roles {
		if stageARN == nil {
			return nil, fmt.Errorf("role %s: its grants are routes of the REST API: declare a route", r.Name)
		}
		pol, err := policy.Default()
		if err != nil {
			return nil, fmt.Errorf("role %s: %w", r.Name, err)
		}
		assumer, ok := s.Functions[r.AssumedBy]
		if !ok {
			return nil, fmt.Errorf("role %s: function %q is not declared", r.Name, r.AssumedBy)
		}
		pa, err := NewPartnerAccess(stack, pascal(r.Name), &PartnerAccessProps{TokenRole: assumer.Role, StageARN: stageARN, Policy: pol})
		if err != nil {
			return nil, fmt.Errorf("role %s: %w", r.Name, err)
		}
		tag(pa.Role, TagRole, r.Name)
		s.Roles[r.Name] = pa
	}

	if r := top.SecretRotation; r != nil {
		// Secrets Manager calls the rotation function, on behalf of this account's secrets only.
		fn, err := lambda("secret rotation", r.Function)
		if err != nil {
			return nil, err
		}
		fn.AddPermission(jsii.String("SecretsManagerRotation"), &awslambda.Permission{
			Principal:     awsiam.NewServicePrincipal(jsii.String("secretsmanager.amazonaws.com"), nil),
			SourceAccount: stack.Account(),
		})
	}

	// Environments last: every table, queue, plan and role a value may name exists by now.
	env := environment{key: props.Key, bus: props.Bus, tables: props.Tables, queues: s.Queues, plans: s.UsagePlans,
		roles: s.Roles, stageARN: stageARN, functions: lambdas, dependents: top.Dependents, auditLog: props.AuditLog, auditExport: props.AuditExport}
	if s.API != nil {
		env.authorizerCacheARN = stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("apigateway"), Account: jsii.String(""), Resource: jsii.String("/restapis"),
			ResourceName: jsii.String(*s.API.RestAPI.RestApiId() + "/stages/" + APIStageName + "/cache/authorizers"),
			ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		})
	}
	for _, decl := range top.Functions {
		if err := env.bind(s.Functions[decl.Name]); err != nil {
			return nil, err
		}
	}

	if len(top.Schedules) > 0 {
		schedules := constructs.NewConstruct(stack, jsii.String("Schedules"))
		for _, decl := range top.Schedules {
			fn, err := lambda("schedule "+decl.Name, decl.Function)
			if err != nil {
				return nil, err
			}
			s.Schedules[decl.Name] = NewSchedule(schedules, pascal(decl.Name), &ScheduleProps{
				Decl: decl, Key: props.Key, Function: fn,
			})
		}
	}

	// What partners sign their STS identity proofs for: `lanyard identity-request --server-id`.
	awscdk.NewCfnOutput(stack, jsii.String("ServerId"), &awscdk.CfnOutputProps{
		Value:       DeploymentID(stack),
		Description: jsii.String("This deployment's server id (X-Lanyard-Server-ID of STS identity proofs): give it to partners who onboard with one"),
	})
	return s, nil
}

// DeploymentID is this deployment's id (topology.ValueDeployment), which partners sign into
// their STS identity proofs: "<account>/<region>/<stack name>" of the stack scope is in. A stack
// name is unique within its account and region, so no two deployments share an id (staging and
// production never accept each other's proofs); the parts are the stack's identity, so the id
// is the same at every synth and deploy, and when the stack is replaced. When the stack's
// environment is not known at synth time, CloudFormation fills the account and region in. The
// services stack shows it as its ServerId output.
func DeploymentID(scope constructs.IConstruct) *string {
	stack := awscdk.Stack_Of(scope)
	return jsii.String(*stack.Account() + "/" + *stack.Region() + "/" + *stack.StackName())
}

// SecretsPrefix is the name prefix of the partner key secrets in AWS (topology.ValueSecrets).
var SecretsPrefix = partnersecret.Prefix("lanyard")

// Secrets Manager actions a function with read or read-write access to the partner key secrets
// holds, on the secrets under SecretsPrefix only. CreateSecret with tags needs TagResource.
var (
	SecretsReadActions = []string{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:ListSecretVersionIds"}
	// SecretsStartRotationActions start a rotation already configured (on-demand rotation).
	SecretsStartRotationActions = []string{"secretsmanager:DescribeSecret", "secretsmanager:RotateSecret"}
	// SecretsRotateActions are what a rotation function calls (AWS's rotation function policy).
	// SecretsRetireActions are what the secret enforcer calls: it never reads a value.
	SecretsRetireActions = []string{"secretsmanager:DescribeSecret", "secretsmanager:UpdateSecretVersionStage", "secretsmanager:CancelRotateSecret", "secretsmanager:TagResource", "secretsmanager:DeleteSecret"}
	SecretsRotateActions = []string{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"}
	SecretsWriteActions  = []string{"secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:PutSecretValue", "secretsmanager:RotateSecret", "secretsmanager:TagResource", "secretsmanager:UpdateSecretVersionStage"}
)

// environment resolves topology values and grants exactly the access they declare.
type environment struct {
	key    awskms.IKey
	bus    awsevents.IEventBus
	tables map[string]awsdynamodb.ITable
	queues map[string]awssqs.IQueue
	plans  *UsagePlans
	roles  map[string]*PartnerAccess
	// stageARN is the REST API stage's execute-api ARN (nil without routes).
	stageARN *string
	// authorizerCacheARN is the API Gateway ARN of the stage's authorizer cache.
	authorizerCacheARN *string
	functions          map[string]awslambda.IFunction
	// dependents are the declared dependents' ARNs (topology.ValueDependents).
	dependents []string
	// auditLog is the audit log group (topology.ValueAuditLog), nil when none is declared.
	auditLog awslogs.ILogGroup
	// auditExport is the audit bucket and signing key, nil when none is declared.
	auditExport *AuditExport
}

// bind sets each of the function's environment variables and grants its role the declared
// access: table read → read data, read-write → read and write data; bus with any access → put
// events; key read → decrypt, read-write → encrypt and decrypt; queue read → consume,
// read-write → send and consume; secrets read → SecretsReadActions, read-write → also
// SecretsWriteActions, on the secrets under SecretsPrefix; audit log read-write →
// AuditLogWriteActions, read → AuditLogReadActions (and AuditLogStopActions). An error names the function, the
// variable and the value it cannot resolve.
func (e environment) bind(f *Function) error {
	names := make([]string, 0, len(f.Decl.Env))
	for k := range f.Decl.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	role := f.Role
	for _, name := range names {
		v := f.Decl.Env[name]
		where := fmt.Sprintf("function %q, %s", f.Decl.Name, name)
		var value *string
		switch v.Kind {
		case topology.ValueLiteral:
			value = jsii.String(v.Name)
		case topology.ValueTable:
			t, ok := e.tables[v.Name]
			if !ok {
				return fmt.Errorf("%s: table %q is not declared", where, v.Name)
			}
			value = t.TableName()
			switch v.Access {
			case topology.AccessNone:
			case topology.AccessRead:
				t.GrantReadData(role)
			case topology.AccessReadWrite:
				t.GrantReadWriteData(role)
			default:
				return fmt.Errorf("%s: unknown access %q", where, v.Access)
			}
		case topology.ValueBus:
			value = e.bus.EventBusName()
			if v.Access != topology.AccessNone {
				e.bus.GrantPutEventsTo(role, nil)
			}
		case topology.ValueKey:
			value = e.key.KeyArn()
			switch v.Access {
			case topology.AccessNone:
			case topology.AccessRead:
				e.key.GrantDecrypt(role)
			case topology.AccessReadWrite:
				e.key.GrantEncryptDecrypt(role)
			default:
				return fmt.Errorf("%s: unknown access %q", where, v.Access)
			}
		case topology.ValueQueue:
			q, ok := e.queues[v.Name]
			if !ok {
				return fmt.Errorf("%s: queue %q is not declared", where, v.Name)
			}
			value = q.QueueUrl()
			switch v.Access {
			case topology.AccessNone:
			case topology.AccessRead:
				q.GrantConsumeMessages(role)
			case topology.AccessReadWrite:
				q.GrantSendMessages(role)
				q.GrantConsumeMessages(role)
			default:
				return fmt.Errorf("%s: unknown access %q", where, v.Access)
			}
		case topology.ValueDeployment:
			value = DeploymentID(f.Lambda)
		case topology.ValueDependents:
			value = jsii.String(strings.Join(e.dependents, ","))
		case topology.ValueFunction:
			fn, ok := e.functions[v.Name]
			if !ok {
				return fmt.Errorf("%s: function %q is not declared", where, v.Name)
			}
			value = fn.FunctionArn()
			if v.Access == topology.AccessReadWrite {
				// Naming a function to Secrets Manager (RotateSecret's RotationLambdaARN) takes
				// the permission to invoke it.
				fn.GrantInvoke(role)
			}
		case topology.ValueRole:
			pa, ok := e.roles[v.Name]
			if !ok {
				return fmt.Errorf("%s: role %q is not declared", where, v.Name)
			}
			value = pa.Role.RoleArn()
			switch v.Access {
			case topology.AccessNone:
			case topology.AccessReadWrite:
				pa.GrantAssume(role)
			case topology.AccessDenySessions:
				pa.GrantRevocation(role)
			default:
				return fmt.Errorf("%s: unknown access %q", where, v.Access)
			}
		case topology.ValueAPIStage:
			if e.stageARN == nil {
				return fmt.Errorf("%s: no REST API is declared", where)
			}
			value = e.stageARN
			if v.Access == topology.AccessReadWrite {
				// FlushStageAuthorizersCache: DELETE on the stage's authorizer cache, nothing else.
				role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Actions:   jsii.Strings("apigateway:DELETE"),
					Resources: &[]*string{e.authorizerCacheARN},
				}))
			}
		case topology.ValueUsagePlans:
			if e.plans == nil {
				return fmt.Errorf("%s: no usage plan is declared", where)
			}
			value = e.plans.PlanNamesJSON()
			switch v.Access {
			case topology.AccessNone:
			case topology.AccessReadWrite:
				e.plans.GrantEnroll(role)
			case topology.AccessDisableKeys:
				e.plans.GrantDisableKeys(role)
			default:
				return fmt.Errorf("%s: unknown access %q", where, v.Access)
			}
		case topology.ValueSecrets:
			value = jsii.String(SecretsPrefix)
			actions := map[topology.Access][]string{
				topology.AccessNone:          nil,
				topology.AccessRead:          SecretsReadActions,
				topology.AccessReadWrite:     append(slices.Clone(SecretsReadActions), SecretsWriteActions...),
				topology.AccessRotate:        SecretsRotateActions,
				topology.AccessStartRotation: SecretsStartRotationActions,
				topology.AccessRetire:        SecretsRetireActions,
			}
			granted, ok := actions[v.Access]
			if !ok {
				return fmt.Errorf("%s: unknown access %q", where, v.Access)
			}
			if len(granted) > 0 {
				arn := awscdk.Stack_Of(role).FormatArn(&awscdk.ArnComponents{
					Service: jsii.String("secretsmanager"), Resource: jsii.String("secret"),
					ResourceName: jsii.String(SecretsPrefix + "*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
				})
				role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Actions: jsii.Strings(granted...), Resources: &[]*string{arn},
				}))
			}
		case topology.ValueAuditLog:
			if e.auditLog == nil {
				return fmt.Errorf("%s: no audit log is declared", where)
			}
			value = e.auditLog.LogGroupName()
			var granted []string
			switch v.Access {
			case topology.AccessNone:
			case topology.AccessRead:
				granted = AuditLogReadActions
			case topology.AccessReadWrite:
				granted = AuditLogWriteActions
			default:
				return fmt.Errorf("%s: unknown access %q", where, v.Access)
			}
			if len(granted) > 0 {
				// The group's Arn attribute ends in ":*", which covers its streams.
				role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Actions: jsii.Strings(granted...), Resources: &[]*string{e.auditLog.LogGroupArn()},
				}))
			}
			if v.Access == topology.AccessRead {
				role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Actions: jsii.Strings(AuditLogStopActions...), Resources: jsii.Strings("*"),
				}))
			}
		case topology.ValueAuditBucket:
			if e.auditExport == nil {
				return fmt.Errorf("%s: no audit export is declared", where)
			}
			value = e.auditExport.Bucket.BucketName()
			if err := grantAuditBucket(role, e.auditExport.Bucket, v.Access); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		case topology.ValueAuditSigningKey:
			if e.auditExport == nil {
				return fmt.Errorf("%s: no audit export is declared", where)
			}
			value = e.auditExport.SigningKey.KeyArn()
			if err := grantAuditSigningKey(role, e.auditExport.SigningKey, v.Access); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		default:
			return fmt.Errorf("%s: unknown value kind %q", where, v.Kind)
		}
		f.Lambda.AddEnvironment(jsii.String(name), value, nil)
	}
	return nil
}
