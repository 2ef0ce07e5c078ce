//go:build faultinject

package faultinject_test

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/lanyardhq/lanyard/shared/platform/faultinject"
)

// A client whose calls APIFaults may answer, with the standard retryer (3 attempts, no
// backoff).
func faultyClient(fake *fakeAWS, f *faultinject.APIFaults) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "not-a-secret", ""),
		HTTPClient:   fake,
		BaseEndpoint: aws.String("http://aws.invalid"),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.RateLimiter = ratelimit.None
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
		APIOptions: []func(*middleware.Stack) error{f.Install},
	})
}

// The rule's calls fail, every attempt of them unsent and retried by the SDK as the error's
// kind says (a throttle and a 5xx are retried, a client fault is not); Once fails one call,
// an outage every call from At on until Clear; Match picks the calls counted.
func TestAPIFaults(t *testing.T) {
	t.Parallel()
	throttle := func(string, any) error {
		return faultinject.ResponseError(http.StatusBadRequest, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down", Fault: smithy.FaultServer})
	}
	internal := func(string, any) error {
		return faultinject.ResponseError(http.StatusInternalServerError, &smithy.GenericAPIError{Code: "InternalServerError", Message: "oops", Fault: smithy.FaultServer})
	}
	refused := func(string, any) error {
		return faultinject.ResponseError(http.StatusBadRequest, &smithy.GenericAPIError{Code: "ConditionalCheckFailedException", Message: "no", Fault: smithy.FaultClient})
	}
	onlyDescribe := func(op string, _ any) bool { return op == "DescribeSecret" }
	for _, tc := range []struct {
		name     string
		rule     faultinject.APIRule
		failed   []bool // per call of the sequence below
		sent     int    // requests that reached the service
		injected int    // attempts answered by the fault
	}{
		{name: "the second call throttled, once", rule: faultinject.APIRule{At: 2, Once: true, Err: throttle},
			failed: []bool{false, true, false, false}, sent: 3, injected: 3},
		{name: "an outage from the third call", rule: faultinject.APIRule{At: 3, Err: internal},
			failed: []bool{false, false, true, true}, sent: 2, injected: 6},
		{name: "a client fault is not retried", rule: faultinject.APIRule{At: 1, Once: true, Err: refused},
			failed: []bool{true, false, false, false}, sent: 3, injected: 1},
		{name: "only DescribeSecret counts", rule: faultinject.APIRule{At: 1, Once: true, Match: onlyDescribe, Err: internal},
			failed: []bool{false, true, false, false}, sent: 3, injected: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeAWS{}
			f := &faultinject.APIFaults{}
			sm := faultyClient(fake, f)
			f.Arm(tc.rule)
			for i, want := range tc.failed {
				var err error
				if i == 1 {
					_, err = sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
				} else {
					_, err = sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
				}
				var api smithy.APIError
				if (err != nil) != want || (err != nil && !errors.As(err, &api)) {
					t.Errorf("call %d: %v, want a failure %t (an API error)", i+1, err, want)
				}
			}
			if got := len(fake.sent()); got != tc.sent {
				t.Errorf("%d requests sent, want %d", got, tc.sent)
			}
			if got := f.Injected(); got != tc.injected {
				t.Errorf("%d attempts injected, want %d", got, tc.injected)
			}
			if want := []string{"GetSecretValue", "DescribeSecret", "GetSecretValue", "GetSecretValue"}; !slices.Equal(f.Calls(), want) {
				t.Errorf("calls %v, want %v", f.Calls(), want)
			}
			f.Clear()
			f.Reset()
			if _, err := sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}); err != nil || f.Injected() != 0 {
				t.Errorf("after Clear: %v, %d injected", err, f.Injected())
			}
		})
	}
}
