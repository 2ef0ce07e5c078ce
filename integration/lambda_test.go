//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/lanyardhq/lanyard/integration/harness"
)

type probeResponse struct {
	PID         int               `json:"pid"`
	Invocations int               `json:"invocations"`
	RequestID   string            `json:"requestId"`
	Env         map[string]string `json:"env"`
}

func invoke(t *testing.T, fn string, payload string) *lambda.InvokeOutput {
	t.Helper()
	out, err := env.Lambda.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("invoke %s: %v", fn, err)
	}
	return out
}

func TestLambdaInvokeRunsOurFunctionWithItsEnvironment(t *testing.T) {
	t.Parallel()
	fn, _ := env.DeployFunction(t, "probe", harness.FunctionOptions{Environment: map[string]string{"LANYARD_PROBE": "yes"}})

	out := invoke(t, fn, `{}`)
	if out.FunctionError != nil {
		t.Fatalf("unexpected function error %s: %s", aws.ToString(out.FunctionError), out.Payload)
	}
	var first probeResponse
	if err := json.Unmarshal(out.Payload, &first); err != nil {
		t.Fatalf("payload %s: %v", out.Payload, err)
	}
	for k, want := range map[string]string{
		"AWS_ENDPOINT_URL":                  env.LocalStackURL,
		"AWS_ENDPOINT_URL_DYNAMODB":         env.DynamoDBURL,
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS": env.DynamoDBURL,
		"AWS_LAMBDA_FUNCTION_NAME":          fn,
		"AWS_REGION":                        harness.Region,
		"LANYARD_PROBE":                     "yes",
	} {
		if got := first.Env[k]; got != want {
			t.Errorf("function saw %s=%q, want %q", k, got, want)
		}
	}
	if first.RequestID == "" {
		t.Error("no request id in the Lambda context")
	}

	// The same execution environment serves the next invocation.
	var second probeResponse
	if err := json.Unmarshal(invoke(t, fn, `{}`).Payload, &second); err != nil {
		t.Fatal(err)
	}
	if second.PID != first.PID || second.Invocations != first.Invocations+1 {
		t.Errorf("environment not reused: first pid %d/%d, second pid %d/%d", first.PID, first.Invocations, second.PID, second.Invocations)
	}
}

func TestLambdaReturnedErrorIsAFunctionError(t *testing.T) {
	t.Parallel()
	fn, _ := env.DeployFunction(t, "probe", harness.FunctionOptions{})
	out := invoke(t, fn, `{"fail":"partner p-1 not found"}`)
	if aws.ToString(out.FunctionError) != "Unhandled" {
		t.Fatalf("FunctionError = %q, want Unhandled (payload %s)", aws.ToString(out.FunctionError), out.Payload)
	}
	var body struct{ ErrorMessage, ErrorType string }
	if err := json.Unmarshal(out.Payload, &body); err != nil || body.ErrorMessage != "partner p-1 not found" {
		t.Fatalf("error payload %s", out.Payload)
	}
}

func TestLambdaTimeoutAndCrash(t *testing.T) {
	t.Parallel()
	fn, _ := env.DeployFunction(t, "probe", harness.FunctionOptions{Timeout: 2})

	start := time.Now()
	out := invoke(t, fn, `{"sleepMs":20000}`)
	if out.FunctionError == nil || !strings.Contains(string(out.Payload), "Task timed out after 2.00 seconds") {
		t.Fatalf("timeout: FunctionError %v payload %s", aws.ToString(out.FunctionError), out.Payload)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the timed-out invocation took %s: the process was not killed at the timeout", took)
	}

	out = invoke(t, fn, `{"exit":3}`)
	if out.FunctionError == nil || !strings.Contains(string(out.Payload), "exit status 3") {
		t.Fatalf("crash: FunctionError %v payload %s", aws.ToString(out.FunctionError), out.Payload)
	}

	// The function recovers: the next invocation starts a new process.
	if out := invoke(t, fn, `{}`); out.FunctionError != nil {
		t.Fatalf("after a crash: %s", out.Payload)
	}
}

func TestLambdaConcurrentInvocationsUseSeparateProcesses(t *testing.T) {
	t.Parallel()
	fn, _ := env.DeployFunction(t, "probe", harness.FunctionOptions{})
	var mu sync.Mutex
	pids := map[int]bool{}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := env.Lambda.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"sleepMs":1500}`)})
			if err != nil || out.FunctionError != nil {
				t.Errorf("invoke: %v", err)
				return
			}
			var r probeResponse
			_ = json.Unmarshal(out.Payload, &r)
			mu.Lock()
			pids[r.PID] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(pids) != 3 {
		t.Errorf("3 overlapping invocations ran in %d processes, want 3", len(pids))
	}
}

func TestLambdaLogsReachCloudWatchLogs(t *testing.T) {
	t.Parallel()
	fn, _ := env.DeployFunction(t, "probe", harness.FunctionOptions{})
	marker := harness.Name("marker")
	if out := invoke(t, fn, `{"marker":"`+marker+`"}`); out.FunctionError != nil {
		t.Fatalf("invoke: %s", out.Payload)
	}
	group := "/aws/lambda/" + fn
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		out, err := env.Logs.FilterLogEvents(context.Background(), &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)})
		if err != nil {
			return false, "filter log events: " + err.Error()
		}
		for _, ev := range out.Events {
			if strings.Contains(aws.ToString(ev.Message), "probe marker "+marker) {
				return true, ""
			}
		}
		return false, "marker not yet in " + group
	})
}

// The production healthcheck function, as `make build-local` builds it, runs in LocalStack and
// reports the stamped build version and the region its shared config resolved.
func TestHealthcheckFunctionReportsBuildVersion(t *testing.T) {
	t.Parallel()
	fn, _ := env.DeployFunction(t, "healthcheck", harness.FunctionOptions{})
	out := invoke(t, fn, `{}`)
	if out.FunctionError != nil {
		t.Fatalf("healthcheck failed: %s", out.Payload)
	}
	var resp struct {
		StatusCode int
		Body       string
	}
	var report struct {
		Status, Version, Region string
	}
	if err := json.Unmarshal(out.Payload, &resp); err != nil || resp.StatusCode != 200 {
		t.Fatalf("payload %s: %v", out.Payload, err)
	}
	if err := json.Unmarshal([]byte(resp.Body), &report); err != nil {
		t.Fatalf("body %s: %v", resp.Body, err)
	}
	if report.Status != "ok" || report.Region != harness.Region || report.Version == "" || report.Version == "dev" {
		t.Fatalf("unexpected report %+v (the build must stamp a version)", report)
	}
}
