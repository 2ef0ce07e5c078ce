// Command infra is Lanyard's CDK app. `make synth` runs it through the CDK CLI (cdk.json) and
// writes the CloudFormation templates to cdk.out/.
package main

import (
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	NewFoundationStack(app, "LanyardFoundation", &FoundationStackProps{
		StackProps: awscdk.StackProps{Env: env(), Description: jsii.String("Lanyard: event bus, archive and customer-managed KMS key")},
	})
	app.Synth(nil)
}

// env pins the stack to the account and region the CDK CLI resolved, when it resolved one;
// otherwise the templates stay environment-agnostic.
func env() *awscdk.Environment {
	account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION")
	if account == "" || region == "" {
		return nil
	}
	return &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
}
