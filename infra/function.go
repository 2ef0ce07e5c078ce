package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/topology"
)

// FunctionLogRetention is how long a function's own log group keeps its JSON logs.
const FunctionLogRetention = awslogs.RetentionDays_THREE_MONTHS

// FunctionProps configures one declared function.
type FunctionProps struct {
	// Decl is the function's declaration; its environment is bound later (ServicesStack),
	// once every table and queue it may name exists.
	Decl topology.Function
	// Code is the function's deployment package (a bootstrap for provided.al2023).
	Code awslambda.Code
	// RoleName names the function's role (nil: CloudFormation names it); set where a policy
	// of another stack names the role.
	RoleName *string
}

// Function is one declared Lambda function with a role of its own, which holds nothing but
// writing to the function's log group, X-Ray, and the grants its environment declares.
type Function struct {
	constructs.Construct
	Decl     topology.Function
	Lambda   awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
}

// NewFunction defines a Go Lambda function (provided.al2023, arm64, active tracing, JSON
// logs into its own log group).
func NewFunction(scope constructs.Construct, id string, props *FunctionProps) *Function {
	c := constructs.NewConstruct(scope, &id)
	decl := props.Decl

	// A role of its own rather than the default one: the default attaches the managed
	// AWSLambdaBasicExecutionRole, which may create and write any log group in the account.
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Lanyard function " + decl.Name),
		RoleName:    props.RoleName,
	})
	logs := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     FunctionLogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	logs.GrantWrite(role)

	fn := awslambda.NewFunction(c, jsii.String("Function"), &awslambda.FunctionProps{
		Description:   jsii.String("Lanyard " + decl.Name + " (" + decl.Main + ")"),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Handler:       jsii.String("bootstrap"),
		Architecture:  awslambda.Architecture_ARM_64(),
		Code:          props.Code,
		MemorySize:    jsii.Number(float64(decl.MemoryMB)),
		Timeout:       seconds(decl.Timeout.Seconds()),
		Tracing:       awslambda.Tracing_ACTIVE,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		LogGroup:      logs,
		Role:          role,
	})
	tag(c, TagFunction, decl.Name)

	return &Function{Construct: c, Decl: decl, Lambda: fn, Role: role, LogGroup: logs}
}
