// Command infra is Lanyard's CDK app. `make synth` runs it through the CDK CLI (cdk.json) and
// writes the CloudFormation templates to cdk.out/. The functions' packages must be built first
// (`make build` writes bin/<name>/function.zip).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/topology"
)

func main() {
	top := topology.Lanyard()
	if err := top.Validate(".", events.Known); err != nil {
		fmt.Fprintf(os.Stderr, "infra: the topology is not valid:\n%v\n", err)
		os.Exit(1)
	}
	if err := packagesBuilt(top); err != nil {
		fmt.Fprintf(os.Stderr, "infra: %v (run `make build` first)\n", err)
		os.Exit(1)
	}

	defer jsii.Close()
	app := awscdk.NewApp(nil)
	newStacks(app, top, env(), func(fn topology.Function) awslambda.Code {
		return awslambda.Code_FromAsset(jsii.String(packagePath(fn)), nil)
	})
	app.Synth(nil)
}

// packagePath is where `make build` writes a function's deployment package.
func packagePath(fn topology.Function) string {
	return filepath.Join("bin", fn.Name, "function.zip")
}

func packagesBuilt(top *topology.Topology) error {
	var missing []string
	for _, fn := range top.Functions {
		if _, err := os.Stat(packagePath(fn)); err != nil {
			missing = append(missing, packagePath(fn))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("function packages missing: %v", missing)
	}
	return nil
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
