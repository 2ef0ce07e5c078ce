package infra

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/shared/platform/iamarn"
	"github.com/lanyardhq/lanyard/topology"
)

// Stage settings of the REST API. The throttling is the stage-wide ceiling for every method;
// per-partner limits belong to usage plans.
const (
	APIStageName            = "prod"
	APIThrottlingRateLimit  = 1000 // requests per second, steady state (above every usage plan)
	APIThrottlingBurstLimit = 2000 // requests, token bucket size
	APIAccessLogRetention   = awslogs.RetentionDays_ONE_YEAR
	// ProblemContentType is the media type of every gateway response (RFC 9457).
	ProblemContentType = "application/problem+json"
)

// apiKeySource: with usage plans, the authorizer names each partner's API key
// (usageIdentifierKey); clients never present one, and the partner's plan applies to every
// partner-key method.
func apiKeySource(top *topology.Topology) awsapigateway.ApiKeySourceType {
	if len(top.UsagePlans) > 0 {
		return awsapigateway.ApiKeySourceType_AUTHORIZER
	}
	return ""
}

// apiAccessLogFields is the JSON access log line: who called what, how the authorizer and the
// integration answered, and the X-Ray trace to follow. Never a header or a body.
var apiAccessLogFields = map[string]string{
	"requestId":          "$context.requestId",
	"extendedRequestId":  "$context.extendedRequestId",
	"requestTime":        "$context.requestTimeEpoch",
	"ip":                 "$context.identity.sourceIp",
	"userAgent":          "$context.identity.userAgent",
	"caller":             "$context.identity.caller",
	"userArn":            "$context.identity.userArn",
	"principalId":        "$context.authorizer.principalId",
	"httpMethod":         "$context.httpMethod",
	"resourcePath":       "$context.resourcePath",
	"path":               "$context.path",
	"protocol":           "$context.protocol",
	"status":             "$context.status",
	"responseLength":     "$context.responseLength",
	"responseLatency":    "$context.responseLatency",
	"authorizerStatus":   "$context.authorizer.status",
	"authorizerLatency":  "$context.authorizer.latency",
	"authorizerError":    "$context.authorizer.error",
	"integrationStatus":  "$context.integration.status",
	"integrationLatency": "$context.integration.latency",
	"integrationError":   "$context.integration.error",
	"errorType":          "$context.error.responseType",
	"errorMessage":       "$context.error.message",
	"xrayTraceId":        "$context.xrayTraceId",
}

// APIProps configures the REST API.
type APIProps struct {
	// Topology supplies the routes, the authorizer and the gateway responses.
	Topology *topology.Topology
	// Functions are the declared functions by name.
	Functions map[string]awslambda.IFunction
}

// API is the REST API built from the declared routes: one resource tree, each method a Lambda
// proxy integration, authorized by the partner-key REQUEST authorizer, IAM or nothing, as
// declared; a traced, throttled stage with JSON access logs; problem+json gateway responses.
type API struct {
	constructs.Construct
	RestAPI awsapigateway.RestApi
	// Authorizer is nil when no route is partner-key authorized.
	Authorizer awsapigateway.RequestAuthorizer
	AccessLogs awslogs.LogGroup
}

// NewAPI defines the REST API. The topology must declare at least one route. An error names
// the route, authorizer or gateway response it could not define.
func NewAPI(scope constructs.Construct, id string, props *APIProps) (*API, error) {
	if props == nil || props.Topology == nil {
		return nil, errors.New("api: a topology is required")
	}
	top := props.Topology
	fn := func(what, name string) (awslambda.IFunction, error) {
		f, ok := props.Functions[name]
		if !ok {
			return nil, fmt.Errorf("%s: function %q is not declared", what, name)
		}
		return f, nil
	}

	// Every route's authorization and function are resolved before anything is defined.
	var authorizerFn awslambda.IFunction
	if a := top.Authorizer; a != nil && usesPartnerKey(top.Routes) {
		f, err := fn("authorizer", a.Function)
		if err != nil {
			return nil, err
		}
		authorizerFn = f
	}
	routeFns := make([]awslambda.IFunction, len(top.Routes))
	for i, r := range top.Routes {
		switch r.Auth {
		case topology.AuthPartnerKey:
			if authorizerFn == nil {
				return nil, fmt.Errorf("route %s %s: partner-key authorization but no authorizer declared", r.Method, r.Path)
			}
		case topology.AuthIAM, topology.AuthNone:
		default:
			return nil, fmt.Errorf("route %s %s: unknown authorization %q", r.Method, r.Path, r.Auth)
		}
		f, err := fn("route "+r.Method+" "+r.Path, r.Function)
		if err != nil {
			return nil, err
		}
		routeFns[i] = f
	}
	policy, err := resourcePolicy(top)
	if err != nil {
		return nil, err
	}
	format, err := json.Marshal(apiAccessLogFields)
	if err != nil {
		return nil, fmt.Errorf("api: access log format: %w", err)
	}

	c := constructs.NewConstruct(scope, &id)

	accessLogs := awslogs.NewLogGroup(c, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention:     APIAccessLogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	api := awsapigateway.NewRestApi(c, jsii.String("RestApi"), &awsapigateway.RestApiProps{
		RestApiName:      awscdk.Stack_Of(c).StackName(),
		Description:      jsii.String("Lanyard partner and ops API"),
		EndpointTypes:    &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL},
		CloudWatchRole:   jsii.Bool(false),
		ApiKeySourceType: apiKeySource(top),
		Policy:           policy,
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            jsii.String(APIStageName),
			TracingEnabled:       jsii.Bool(true),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(accessLogs),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(jsii.String(string(format))),
			ThrottlingRateLimit:  jsii.Number(APIThrottlingRateLimit),
			ThrottlingBurstLimit: jsii.Number(APIThrottlingBurstLimit),
		},
	})

	var authorizer awsapigateway.RequestAuthorizer
	if a := top.Authorizer; authorizerFn != nil {
		authorizer = awsapigateway.NewRequestAuthorizer(c, jsii.String("Authorizer"), &awsapigateway.RequestAuthorizerProps{
			Handler:         authorizerFn,
			IdentitySources: &[]*string{awsapigateway.IdentitySource_Header(jsii.String(a.IdentityHeader))},
			ResultsCacheTtl: seconds(float64(int64(a.ResultTTL.Seconds()))),
		})
	}

	for i, r := range top.Routes {
		opts := &awsapigateway.MethodOptions{}
		switch r.Auth {
		case topology.AuthPartnerKey:
			opts.AuthorizationType = awsapigateway.AuthorizationType_CUSTOM
			opts.Authorizer = authorizer
			opts.ApiKeyRequired = jsii.Bool(len(top.UsagePlans) > 0)
		case topology.AuthIAM:
			opts.AuthorizationType = awsapigateway.AuthorizationType_IAM
		case topology.AuthNone:
			opts.AuthorizationType = awsapigateway.AuthorizationType_NONE
		}
		integration := awsapigateway.NewLambdaIntegration(routeFns[i], &awsapigateway.LambdaIntegrationOptions{
			Proxy:           jsii.Bool(true),
			AllowTestInvoke: jsii.Bool(false),
		})
		api.Root().ResourceForPath(jsii.String(r.Path)).AddMethod(jsii.String(r.Method), integration, opts)
	}

	for _, g := range top.GatewayResponses {
		opts := &awsapigateway.GatewayResponseOptions{
			Type:            awsapigateway.ResponseType_Of(jsii.String(g.Type)),
			ResponseHeaders: &map[string]*string{"Content-Type": jsii.String("'" + ProblemContentType + "'")},
			Templates:       &map[string]*string{"application/json": jsii.String(problemTemplate(g))},
		}
		if g.Status != 0 {
			opts.StatusCode = jsii.String(strconv.Itoa(g.Status))
		}
		api.AddGatewayResponse(jsii.String(pascal(strings.ToLower(strings.ReplaceAll(g.Type, "_", "-")))), opts)
	}

	return &API{Construct: c, RestAPI: api, Authorizer: authorizer, AccessLogs: accessLogs}, nil
}

// resourcePolicy is the REST API's resource policy when a route is restricted to the
// deployment's dependents (topology.Route.DependentsOnly), nil otherwise. Why a resource policy
// and not IAM grants: a grant in the dependents' own policies cannot keep out the account's
// other principals whose policies already allow execute-api:Invoke (administrators, broad
// deploy roles); an explicit Deny in the API's resource policy overrides every Allow. It holds:
//
//   - Deny execute-api:Invoke on each dependents-only route to every principal whose
//     aws:PrincipalArn (a role's ARN for its sessions, a user's own) is not a declared
//     dependent (ArnNotEquals); with none declared, to everyone;
//   - Allow it to the declared dependents on those routes, so that a dependent in another
//     account (which also needs its own grant) or in this one needs nothing more;
//   - Allow it to anyone on the open and partner-key routes: with a resource policy attached,
//     API Gateway admits an unauthenticated route only on an explicit Allow, and the
//     authorizer still decides the partner-key routes. The other aws-iam routes (ops) get no
//     Allow here: they stay admitted by the callers' own IAM policies alone, as without a
//     resource policy, never by Principal "*".
//
// A dependent must be a role or a user: as a principal, an account's root ARN means every
// principal of the account, which the Deny's condition would not.
func resourcePolicy(top *topology.Topology) (awsiam.PolicyDocument, error) {
	var restricted, open []*string
	for _, r := range top.Routes {
		arn := jsii.String(methodResource(r))
		switch {
		case r.DependentsOnly:
			restricted = append(restricted, arn)
		case r.Auth == topology.AuthNone || r.Auth == topology.AuthPartnerKey:
			open = append(open, arn)
		}
	}
	if len(restricted) == 0 {
		return nil, nil
	}
	var principals []awsiam.IPrincipal
	for _, d := range top.Dependents {
		p, err := iamarn.Parse(d)
		if err != nil {
			return nil, fmt.Errorf("dependents: %w", err)
		}
		if p.Kind == iamarn.KindRoot {
			return nil, fmt.Errorf("dependents: %q is an account's root: declare the role or user that calls", d)
		}
		principals = append(principals, awsiam.NewArnPrincipal(jsii.String(d)))
	}
	deny := &awsiam.PolicyStatementProps{
		Sid:        jsii.String("OnlyDependents"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("execute-api:Invoke"),
		Resources:  &restricted,
	}
	if len(top.Dependents) > 0 {
		deny.Conditions = &map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": top.Dependents}}
	}
	statements := []awsiam.PolicyStatement{awsiam.NewPolicyStatement(deny)}
	if len(principals) > 0 {
		statements = append(statements, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("Dependents"),
			Effect:     awsiam.Effect_ALLOW,
			Principals: &principals,
			Actions:    jsii.Strings("execute-api:Invoke"),
			Resources:  &restricted,
		}))
	}
	if len(open) > 0 {
		statements = append(statements, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("OpenAndPartnerKeyRoutes"),
			Effect:     awsiam.Effect_ALLOW,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("execute-api:Invoke"),
			Resources:  &open,
		}))
	}
	return awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements}), nil
}

// methodResource is a route's method in a resource policy, in any stage:
// "execute-api:/*/POST/v1/onboardings/*/pickup" (a path parameter matches any segment).
func methodResource(r topology.Route) string {
	segs := strings.Split(strings.TrimPrefix(r.Path, "/"), "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = "*"
		}
	}
	return "execute-api:/*/" + r.Method + "/" + strings.Join(segs, "/")
}

func usesPartnerKey(routes []topology.Route) bool {
	for _, r := range routes {
		if r.Auth == topology.AuthPartnerKey {
			return true
		}
	}
	return false
}

// responseTypeStatus is the status API Gateway answers each response type with by default
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html).
// A gateway response declared with status 0 keeps API Gateway's status, and its body reports
// the status of the response type that actually occurred.
var responseTypeStatus = map[string]int{
	"ACCESS_DENIED":                  403,
	"API_CONFIGURATION_ERROR":        500,
	"AUTHORIZER_CONFIGURATION_ERROR": 500,
	"AUTHORIZER_FAILURE":             500,
	"BAD_REQUEST_PARAMETERS":         400,
	"BAD_REQUEST_BODY":               400,
	"EXPIRED_TOKEN":                  403,
	"INTEGRATION_FAILURE":            504,
	"INTEGRATION_TIMEOUT":            504,
	"INVALID_API_KEY":                403,
	"INVALID_SIGNATURE":              403,
	"MISSING_AUTHENTICATION_TOKEN":   403,
	"QUOTA_EXCEEDED":                 429,
	"REQUEST_TOO_LARGE":              413,
	"RESOURCE_NOT_FOUND":             404,
	"THROTTLED":                      429,
	"UNAUTHORIZED":                   401,
	"UNSUPPORTED_MEDIA_TYPE":         415,
	"WAF_FILTERED":                   403,
}

// problemTemplate renders a gateway response's body template: an RFC 9457 problem whose
// detail is API Gateway's own message. The declared strings are set as single-quoted VTL
// literals, which VTL does not parse, so no '$' or '#' in a title or a problem URI can turn
// into a reference or a directive.
func problemTemplate(g topology.GatewayResponse) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#set($problemType = '%s')\n", vtlJSONLiteral(g.Problem))
	fmt.Fprintf(&b, "#set($problemTitle = '%s')\n", vtlJSONLiteral(g.Title))
	status := "$problemStatus"
	switch {
	case g.Status != 0:
		status = strconv.Itoa(g.Status)
	default:
		fallback := 500
		if s, ok := responseTypeStatus[g.Type]; ok {
			fallback = s
		} else if strings.Contains(g.Type, "4XX") {
			fallback = 400
		}
		fmt.Fprintf(&b, "#set($problemStatus = %d)\n", fallback)
		types := make([]string, 0, len(responseTypeStatus))
		for t := range responseTypeStatus {
			types = append(types, t)
		}
		sort.Strings(types)
		for i, t := range types {
			kw := "#elseif"
			if i == 0 {
				kw = "#if"
			}
			fmt.Fprintf(&b, "%s($context.error.responseType == \"%s\")#set($problemStatus = %d)\n", kw, t, responseTypeStatus[t])
		}
		b.WriteString("#end\n")
	}
	fmt.Fprintf(&b, `{"type":$problemType,"title":$problemTitle,"status":%s,"detail":$context.error.messageString}`, status)
	return b.String()
}

// vtlJSONLiteral is s as a JSON string (quotes included) that can sit between single quotes
// in VTL: a single quote is written as the JSON escape \u0027.
func vtlJSONLiteral(s string) string {
	raw, err := json.Marshal(s)
	if err != nil {
		// Unreachable: encoding/json encodes every string (invalid UTF-8 as U+FFFD).
		panic(fmt.Sprintf("encode %q: %v", s, err))
	}
	return strings.ReplaceAll(string(raw), "'", `\u0027`)
}
