// Package lambdastart is the one way a Lambda function starts. A function's main hands Start
// its configuration struct (type parameter C, filled from the environment by Load) and a
// wiring function; Start does what every function needs, once per cold start:
//
//   - slog's default logger writes JSON (logging.New);
//   - the configuration is read from the environment; every missing or malformed variable is
//     reported in one line, by name, never by value;
//   - what the configuration declares it uses is loaded (its Loader fields: the policy, for
//     a function holding a policy.Loaded);
//   - the aws.Config is loaded (awsconfig.Load: tracing, retries, endpoints);
//   - the wiring builds the handler;
//   - lambda.Start runs it, each invocation logging one line with the AWS calls it made
//     (shared/platform/awscalls).
//
// A failure at any step is logged as one line and exits with status 1: only Start and main
// exit. This package and the CLI are the only places that read the process environment
// (.golangci.yml's forbidigo rule); the variables each function reads are its configuration
// struct's tags, and a test keeps them equal to the function's topology entry (plus the
// Platform variables).
package lambdastart

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lanyardhq/lanyard/shared/platform/awscalls"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

// Setup is what Start hands a function's wiring.
type Setup[C any] struct {
	// Config is the function's configuration, read from its environment.
	Config C
	// AWS is the cold start's AWS configuration: build every client from it.
	AWS aws.Config
}

// Wiring builds a function's handler (anything lambda.Start takes) from its setup.
type Wiring[C any] func(ctx context.Context, s Setup[C]) (handler any, err error)

// Start sets the function up (see the package documentation) and runs its handler; it never
// returns.
func Start[C any](wire Wiring[C]) {
	slog.SetDefault(logging.New())
	h, err := prepare(context.Background(), os.LookupEnv, loadAWS, wire)
	if err != nil {
		slog.Error("the function cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(awscalls.Handler(lambda.NewHandler(h), nil))
}

// StartPlain runs handler with JSON logging, for a function that reads no configuration and
// calls no AWS service.
func StartPlain(handler any) {
	slog.SetDefault(logging.New())
	lambda.Start(handler)
}

func loadAWS(ctx context.Context) (aws.Config, error) { return awsconfig.Load(ctx) }

func prepare[C any](ctx context.Context, lookup func(string) (string, bool), loadAWS func(context.Context) (aws.Config, error), wire Wiring[C]) (any, error) {
	var s Setup[C]
	if err := Load(&s.Config, lookup); err != nil {
		return nil, err
	}
	if err := loadAll(&s.Config); err != nil {
		return nil, err
	}
	cfg, err := loadAWS(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	s.AWS = cfg
	h, err := wire(ctx, s)
	if err != nil {
		return nil, err
	}
	return h, nil
}
