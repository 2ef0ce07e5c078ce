package provision

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/lanyardhq/lanyard/topology"
)

// environment resolves a function's declared values and adds what every local function needs.
func (p *Provisioner) environment(t *topology.Topology, f topology.Function, r *Result) (map[string]string, error) {
	env := map[string]string{}
	maps.Copy(env, p.Options.ExtraEnv)
	if v := p.Options.DynamoDBEndpoint; v != "" {
		env["AWS_ENDPOINT_URL_DYNAMODB"] = v
		env["AWS_ENDPOINT_URL_DYNAMODB_STREAMS"] = v
	}
	if v := p.Options.APIGatewayEndpoint; v != "" {
		env["AWS_ENDPOINT_URL_API_GATEWAY"] = v
	}
	if v := p.Options.XRayDaemon; v != "" {
		env["AWS_XRAY_DAEMON_ADDRESS"] = v
	}
	for k, v := range f.Env {
		switch v.Kind {
		case topology.ValueLiteral:
			env[k] = v.Name
		case topology.ValueTable:
			env[k] = r.Tables[v.Name]
		case topology.ValueBus:
			env[k] = r.Bus
		case topology.ValueKey:
			env[k] = r.KeyARN
		case topology.ValueQueue:
			env[k] = r.Queues[p.Options.Name(v.Name)]
		case topology.ValueSecrets:
			env[k] = p.Options.SecretsPrefix()
		case topology.ValueRole:
			env[k] = r.Roles[v.Name]
		case topology.ValueUsagePlans:
			ids, err := r.usagePlanNames(p.Options)
			if err != nil {
				return nil, err
			}
			env[k] = ids
		case topology.ValueDeployment:
			env[k] = p.Options.Prefix
		case topology.ValueDependents:
			env[k] = strings.Join(t.Dependents, ",")
		case topology.ValueFunction:
			// Lambda's ARN is known before the function exists: the one declared after it is
			// named here too.
			if p.Options.Region == "" || p.Options.Account == "" {
				return nil, fmt.Errorf("function %s: %s needs the region and account of the functions", f.Name, k)
			}
			env[k] = "arn:aws:lambda:" + p.Options.Region + ":" + p.Options.Account + ":function:" + p.Options.Name(v.Name)
		case topology.ValueAuditLog:
			if r.AuditLog == "" {
				return nil, fmt.Errorf("function %s: %s names the audit log, and none is declared", f.Name, k)
			}
			env[k] = r.AuditLog
		case topology.ValueAuditBucket:
			if r.AuditBucket == "" {
				return nil, fmt.Errorf("function %s: %s names the audit bucket, and none is declared", f.Name, k)
			}
			env[k] = r.AuditBucket
		case topology.ValueAuditSigningKey:
			if r.AuditSigningKeyARN == "" {
				return nil, fmt.Errorf("function %s: %s names the audit signing key, and none is declared", f.Name, k)
			}
			env[k] = r.AuditSigningKeyARN
		case topology.ValueAPIStage:
			if p.Options.APIStageARN == "" {
				return nil, fmt.Errorf("function %s: %s needs the API's stage ARN, and none was given", f.Name, k)
			}
			env[k] = p.Options.APIStageARN
		default:
			return nil, fmt.Errorf("function %s: %s has unknown value kind %q", f.Name, k, v.Kind)
		}
	}
	return env, nil
}

// HostArchitecture is the Lambda architecture of the binaries `make build-local` builds.
func HostArchitecture() lambdatypes.Architecture {
	if runtime.GOARCH == "arm64" {
		return lambdatypes.ArchitectureArm64
	}
	return lambdatypes.ArchitectureX8664
}

// functions creates each function from CodeDir/<name>/function.zip, or updates its code when
// the zip's SHA-256 differs and its configuration when timeout, memory or environment differ.
// Up to functionWorkers functions are handled at once (each mostly waits for Lambda); their
// changes are recorded in the order they are declared.
func (p *Provisioner) functions(ctx context.Context, t *topology.Topology, r *Result) error {
	type outcome struct {
		arn    string
		action Action
		detail string
		err    error
	}
	outs := make([]outcome, len(t.Functions))
	envs := make([]map[string]string, len(t.Functions))
	for i, f := range t.Functions {
		env, err := p.environment(t, f, r)
		if err != nil {
			return err
		}
		envs[i] = env
	}
	sem := make(chan struct{}, functionWorkers)
	var wg sync.WaitGroup
	for i, f := range t.Functions {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			o := &outs[i]
			o.arn, o.action, o.detail, o.err = p.function(ctx, f, envs[i])
		})
	}
	wg.Wait()
	for i, f := range t.Functions {
		if outs[i].err != nil {
			return outs[i].err
		}
		name := p.Options.Name(f.Name)
		r.Functions[f.Name] = name
		r.fnARNs[f.Name] = outs[i].arn
		r.record("function", name, outs[i].action, outs[i].detail)
	}
	return nil
}

// functionWorkers bounds how many functions are created or updated at once.
const functionWorkers = 8

// function creates or updates one function with its environment env; it returns the
// function's ARN and what it did.
func (p *Provisioner) function(ctx context.Context, f topology.Function, env map[string]string) (string, Action, string, error) {
	name := p.Options.Name(f.Name)
	zipPath := filepath.Join(p.Options.CodeDir, filepath.Base(f.Main), "function.zip")
	zip, err := os.ReadFile(zipPath) //nolint:gosec // a path built from the declaration, under the build folder
	if err != nil {
		return "", "", "", fmt.Errorf("function %s: read %s (run `make build-local`): %w", f.Name, zipPath, err)
	}
	sum := sha256.Sum256(zip)
	codeSHA := base64.StdEncoding.EncodeToString(sum[:])
	timeout := int32(f.Timeout.Seconds())

	got, err := p.Clients.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	if err != nil && !notFound(err) {
		return "", "", "", fmt.Errorf("look up function %s: %w", name, err)
	}
	if err != nil {
		out, err := p.Clients.Lambda.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName:  aws.String(name),
			Runtime:       lambdatypes.RuntimeProvidedal2023,
			Handler:       aws.String("bootstrap"),
			Role:          aws.String(p.Clients.Role),
			Code:          &lambdatypes.FunctionCode{ZipFile: zip},
			Timeout:       aws.Int32(timeout),
			MemorySize:    aws.Int32(f.MemoryMB),
			Architectures: []lambdatypes.Architecture{HostArchitecture()},
			Environment:   &lambdatypes.Environment{Variables: env},
			TracingConfig: &lambdatypes.TracingConfig{Mode: lambdatypes.TracingModeActive},
			LoggingConfig: &lambdatypes.LoggingConfig{LogFormat: lambdatypes.LogFormatJson},
		})
		if err != nil {
			return "", "", "", fmt.Errorf("create function %s: %w", name, err)
		}
		if err := lambda.NewFunctionActiveV2Waiter(p.Clients.lambdaWaiterAPI(), fastWaiter).Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}, p.Options.Wait); err != nil {
			return "", "", "", fmt.Errorf("function %s never became active: %w", name, err)
		}
		return aws.ToString(out.FunctionArn), Created, "", nil
	}

	cfg := got.Configuration
	var what []string
	if aws.ToString(cfg.CodeSha256) != codeSHA {
		if _, err := p.Clients.Lambda.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: zip}); err != nil {
			return "", "", "", fmt.Errorf("update code of %s: %w", name, err)
		}
		if err := p.waitUpdated(ctx, name); err != nil {
			return "", "", "", err
		}
		what = append(what, "code")
	}
	var have map[string]string
	if cfg.Environment != nil {
		have = cfg.Environment.Variables
	}
	if aws.ToInt32(cfg.Timeout) != timeout || aws.ToInt32(cfg.MemorySize) != f.MemoryMB || !maps.Equal(have, env) {
		if _, err := p.Clients.Lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String(name), Timeout: aws.Int32(timeout), MemorySize: aws.Int32(f.MemoryMB),
			Environment: &lambdatypes.Environment{Variables: env},
		}); err != nil {
			return "", "", "", fmt.Errorf("update configuration of %s: %w", name, err)
		}
		if err := p.waitUpdated(ctx, name); err != nil {
			return "", "", "", err
		}
		what = append(what, "configuration")
	}
	if len(what) == 0 {
		return aws.ToString(cfg.FunctionArn), Unchanged, "", nil
	}
	slices.Sort(what)
	return aws.ToString(cfg.FunctionArn), Updated, strings.Join(what, ", "), nil
}

func (p *Provisioner) waitUpdated(ctx context.Context, name string) error {
	w := lambda.NewFunctionUpdatedV2Waiter(p.Clients.lambdaWaiterAPI(), fastUpdateWaiter)
	if err := w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}, p.Options.Wait); err != nil {
		return fmt.Errorf("function %s did not finish updating: %w", name, err)
	}
	return nil
}

// lambdaWaiterAPI narrows the Lambda API to what the SDK's waiters take.
func (c Clients) lambdaWaiterAPI() lambda.GetFunctionAPIClient { return c.Lambda }

// fastWaiter and fastUpdateWaiter look again after a quarter of a second, not the SDK's five:
// LocalStack readies a function within a second or two.
func fastWaiter(o *lambda.FunctionActiveV2WaiterOptions) {
	o.MinDelay, o.MaxDelay = 250*time.Millisecond, 2*time.Second
}

func fastUpdateWaiter(o *lambda.FunctionUpdatedV2WaiterOptions) {
	o.MinDelay, o.MaxDelay = 250*time.Millisecond, 2*time.Second
}
