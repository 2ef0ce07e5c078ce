package infra

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Tags that carry a resource's declared topology name. CloudFormation names the resources; the
// tags let people, the ops CLI and the assertion tests find the counterpart of a declared entry.
const (
	TagFunction = "lanyard:function"
	TagTable    = "lanyard:table"
	TagQueue    = "lanyard:queue"
	TagConsumer = "lanyard:consumer"
	TagSchedule = "lanyard:schedule"
	TagRole     = "lanyard:role"
)

// pascal turns a kebab-case topology name into a PascalCase construct id:
// "revocation-enforcer-sts" → "RevocationEnforcerSts".
func pascal(kebab string) string {
	var b strings.Builder
	for _, part := range strings.Split(kebab, "-") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// tag marks scope and everything in it with key=value.
func tag(scope constructs.IConstruct, key, value string) {
	awscdk.Tags_Of(scope).Add(jsii.String(key), jsii.String(value), nil)
}

// seconds is a whole-second CDK duration.
func seconds(s float64) awscdk.Duration { return awscdk.Duration_Seconds(jsii.Number(s)) }
