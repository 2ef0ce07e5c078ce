// Package harness connects integration tests to the local AWS servers — LocalStack (with
// Lanyard's process runtime executor) and DynamoDB Local — and hands them configured SDK
// clients built by the same loader the functions use.
//
// `make test` starts the servers it needs (scripts/integration.sh) and stops what it started;
// run by hand, `make local-up` first. Tests in this tree carry the `integration` build tag.
package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/lanyardhq/lanyard/local/provision"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/polltest"
)

// Region and Account are LocalStack's defaults; credentials are its test pair.
const (
	Region     = "us-east-1"
	Account    = "000000000000"
	LambdaRole = "arn:aws:iam::000000000000:role/lanyard-integration"
)

// Env is a connection to the local servers.
type Env struct {
	LocalStackURL string
	DynamoDBURL   string
	Root          string // the repository root
	Config        aws.Config

	Lambda         *lambda.Client
	APIGateway     *apigateway.Client
	SQS            *sqs.Client
	EventBridge    *eventbridge.Client
	SecretsManager *secretsmanager.Client
	STS            *sts.Client
	IAM            *iam.Client
	KMS            *kms.Client
	Logs           *cloudwatchlogs.Client
	DynamoDB       *dynamodb.Client
	Streams        *dynamodbstreams.Client
}

// Connect points the process's AWS endpoint variables at the local servers (ports from
// LANYARD_LOCALSTACK_PORT / LANYARD_DYNAMODB_PORT, defaults 4566 / 8000), checks both answer,
// and builds the clients through awsconfig.Load, as the functions do.
func Connect(ctx context.Context) (*Env, error) {
	ls := "http://127.0.0.1:" + envOr("LANYARD_LOCALSTACK_PORT", "4566")
	ddb := "http://127.0.0.1:" + envOr("LANYARD_DYNAMODB_PORT", "8000")
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	if err := answers(ctx, ls+"/_localstack/health"); err != nil {
		return nil, fmt.Errorf("LocalStack is not reachable at %s (run `make local-up`): %w", ls, err)
	}
	if err := answers(ctx, ddb+"/"); err != nil {
		return nil, fmt.Errorf("DynamoDB Local is not reachable at %s (run `make local-up`): %w", ddb, err)
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":                  ls,
		"AWS_ENDPOINT_URL_DYNAMODB":         ddb,
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS": ddb,
		"AWS_EC2_METADATA_DISABLED":         "true",
	} {
		if err := os.Setenv(k, v); err != nil {
			return nil, fmt.Errorf("set %s: %w", k, err)
		}
	}
	cfg, err := awsconfig.Load(ctx,
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
	)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return &Env{
		LocalStackURL: ls, DynamoDBURL: ddb, Root: root, Config: cfg,
		Lambda: lambda.NewFromConfig(cfg), SQS: sqs.NewFromConfig(cfg), EventBridge: eventbridge.NewFromConfig(cfg),
		SecretsManager: secretsmanager.NewFromConfig(cfg), STS: sts.NewFromConfig(cfg), IAM: iam.NewFromConfig(cfg),
		KMS: kms.NewFromConfig(cfg), Logs: cloudwatchlogs.NewFromConfig(cfg), APIGateway: apigateway.NewFromConfig(cfg),
		DynamoDB: provision.LocalDynamoDB(cfg, ""),
		Streams:  dynamodbstreams.NewFromConfig(cfg),
	}, nil
}

var seq atomic.Int64

// Name returns a name unique to this test run, safe for every AWS resource kind we create.
func Name(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1_000_000_000, seq.Add(1))
}

// FunctionOptions configures a test function.
type FunctionOptions struct {
	Timeout     int32             // seconds; default 10
	Environment map[string]string // merged over the endpoint variables the harness always sets
}

// DeployFunction creates a function in LocalStack from bin/local/<binary>/function.zip (built
// by `make build-local`), waits until it is Active and deletes it when the test ends. The
// function gets AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_DYNAMODB_STREAMS, as the local
// provisioner gives every Lanyard function.
func (e *Env) DeployFunction(t testing.TB, binary string, opts FunctionOptions) (name, arn string) {
	t.Helper()
	ctx := context.Background()
	zip, err := os.ReadFile(filepath.Join(e.Root, "bin", "local", binary, "function.zip"))
	if err != nil {
		t.Fatalf("read %s function zip (run `make build-local`): %v", binary, err)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 10
	}
	vars := map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB":         e.DynamoDBURL,
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS": e.DynamoDBURL,
	}
	for k, v := range opts.Environment {
		vars[k] = v
	}
	name = Name(binary)
	out, err := e.Lambda.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName:  aws.String(name),
		Runtime:       lambdatypes.RuntimeProvidedal2023,
		Handler:       aws.String("bootstrap"),
		Role:          aws.String(LambdaRole),
		Code:          &lambdatypes.FunctionCode{ZipFile: zip},
		Timeout:       aws.Int32(timeout),
		MemorySize:    aws.Int32(128),
		Architectures: []lambdatypes.Architecture{provision.HostArchitecture()},
		Environment:   &lambdatypes.Environment{Variables: vars},
	})
	if err != nil {
		t.Fatalf("create function %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = e.Lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
		_, _ = e.Logs.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String("/aws/lambda/" + name)})
	})
	w := lambda.NewFunctionActiveV2Waiter(e.Lambda)
	if err := w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 60*time.Second); err != nil {
		t.Fatalf("function %s never became Active: %v", name, err)
	}
	return name, aws.ToString(out.FunctionArn)
}

// Eventually polls cond until it reports true or the deadline passes; then it fails the test
// with cond's last explanation. It never sleeps a fixed time in place of a condition. It is
// polltest.Eventually, the tests' one poll-with-deadline.
func Eventually(t testing.TB, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	polltest.Eventually(t, within, cond)
}

func answers(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return resp.Body.Close()
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/lanyardhq/lanyard\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the lanyard repository")
		}
		dir = parent
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
