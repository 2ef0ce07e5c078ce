// Package awsconfig is the one place an aws.Config is built, for every function, the CLI and
// the tests.
//
// What it gives:
//   - the region from AWS_REGION or the profile, and an error naming the fix when there is none;
//   - the default credentials chain (environment, shared files, SSO, web identity, container,
//     IMDS) — inside Lambda, the function role's credentials from the environment;
//   - endpoints from AWS_ENDPOINT_URL and the per-service AWS_ENDPOINT_URL_<SERVICE_ID>
//     variables, which the SDK honours itself; Load only refuses a malformed one, naming the
//     variable and never its value;
//   - the SDK's standard retryer with Lanyard's limits (MaxAttempts, MaxBackoff below; the
//     standard client-side retry quota of 500 tokens, 5 per retry and 10 per timeout, stays on);
//   - tracing of every SDK call through the tracing seam;
//   - counting of every SDK call into the Tally its context carries (shared/platform/awscalls).
package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/lanyardhq/lanyard/shared/platform/awscalls"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
)

// Retry limits. Three attempts with a backoff capped at two seconds keep a throttled call
// inside a Lambda function's budget (our functions run with timeouts of 10–30 s) while riding
// out a transient 5xx or throttle.
const (
	MaxAttempts = 3
	MaxBackoff  = 2 * time.Second
)

// EndpointEnvPrefix is the prefix of the endpoint variables the SDK reads.
const EndpointEnvPrefix = "AWS_ENDPOINT_URL"

// Load builds the aws.Config. Extra options (a fixed region, an HTTP client, middleware in tests)
// are applied after Lanyard's defaults.
func Load(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	if err := CheckEndpointEnv(os.Environ()); err != nil {
		return aws.Config{}, err
	}
	if err := tracing.Setup(); err != nil {
		return aws.Config{}, fmt.Errorf("awsconfig: %w", err)
	}
	all := append([]func(*config.LoadOptions) error{
		config.WithRetryer(NewRetryer),
	}, opts...)
	cfg, err := config.LoadDefaultConfig(ctx, all...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("awsconfig: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("awsconfig: no AWS region: set AWS_REGION or a region in the AWS profile")
	}
	tracing.InstrumentAWS(&cfg)
	awscalls.Instrument(&cfg)
	return cfg, nil
}

// NewRetryer returns the standard retryer with Lanyard's limits.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = MaxBackoff
	})
}

// CheckEndpointEnv refuses any AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_<SERVICE> entry of environ
// (KEY=value strings) whose value is not an absolute http or https URL. The error names the
// variable only: a misconfigured value may hold something that must not be logged.
func CheckEndpointEnv(environ []string) error {
	var bad []string
	for _, kv := range environ {
		key, value, _ := strings.Cut(kv, "=")
		if key != EndpointEnvPrefix && !strings.HasPrefix(key, EndpointEnvPrefix+"_") {
			continue
		}
		if value == "" || validEndpoint(value) {
			continue
		}
		bad = append(bad, key)
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("awsconfig: %s must be an absolute http(s) URL such as http://127.0.0.1:4566", strings.Join(bad, ", "))
}

func validEndpoint(v string) bool {
	u, err := url.Parse(v)
	if err != nil {
		return false
	}
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Hostname() != "" && u.User == nil
}
