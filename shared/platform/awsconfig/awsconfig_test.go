package awsconfig_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
)

// isolate points the SDK away from the developer's own AWS files and instance metadata.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:1") // nothing listens: tracing must stay harmless
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB",
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_EVENTBRIDGE"} {
		t.Setenv(k, "")
	}
}

// recorder is an HTTP server that remembers which X-Amz-Target / Action it was asked for.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	hits []string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.hits = append(r.hits, req.Header.Get("X-Amz-Target")+req.URL.RawQuery)
		r.mu.Unlock()
		http.Error(w, `{"__type":"ServiceUnavailable"}`, http.StatusBadRequest)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.hits)
}

func TestLoadHonoursEndpointVariables(t *testing.T) {
	isolate(t)
	general := newRecorder(t)
	perService := map[string]*recorder{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER":  newRecorder(t),
		"AWS_ENDPOINT_URL_DYNAMODB":         newRecorder(t),
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS": newRecorder(t),
	}
	t.Setenv("AWS_ENDPOINT_URL", general.URL)
	for k, r := range perService {
		t.Setenv(k, r.URL)
	}

	ctx := context.Background()
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Region != "eu-west-1" {
		t.Errorf("region = %q, want eu-west-1", cfg.Region)
	}

	calls := []struct {
		name string
		call func() error
		want *recorder
	}{
		{"secretsmanager", func() error {
			_, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
			return err
		}, perService["AWS_ENDPOINT_URL_SECRETS_MANAGER"]},
		{"dynamodb", func() error {
			_, err := dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{})
			return err
		}, perService["AWS_ENDPOINT_URL_DYNAMODB"]},
		{"dynamodbstreams", func() error {
			_, err := dynamodbstreams.NewFromConfig(cfg).ListStreams(ctx, &dynamodbstreams.ListStreamsInput{})
			return err
		}, perService["AWS_ENDPOINT_URL_DYNAMODB_STREAMS"]},
		{"sts falls back to AWS_ENDPOINT_URL", func() error {
			_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		}, general},
		{"eventbridge falls back to AWS_ENDPOINT_URL", func() error {
			_, err := eventbridge.NewFromConfig(cfg).ListEventBuses(ctx, &eventbridge.ListEventBusesInput{})
			return err
		}, general},
	}
	for _, c := range calls {
		before := c.want.count()
		if err := c.call(); err == nil {
			t.Errorf("%s: the recorder answers 400, so the call should fail", c.name)
		}
		if got := c.want.count() - before; got != 1 {
			t.Errorf("%s: expected endpoint got %d requests, want 1 (400 is not retried)", c.name, got)
		}
	}
}

func TestLoadRetriesWithStatedLimits(t *testing.T) {
	isolate(t)
	var mu sync.Mutex
	attempts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		attempts++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"__type":"ServiceUnavailableException","message":"try later"}`))
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)

	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := cfg.Retryer().MaxAttempts(); got != awsconfig.MaxAttempts {
		t.Errorf("MaxAttempts = %d, want %d", got, awsconfig.MaxAttempts)
	}
	_, err = secretsmanager.NewFromConfig(cfg).GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	if err == nil {
		t.Fatal("a 503 on every attempt should fail the call")
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts != awsconfig.MaxAttempts {
		t.Errorf("server saw %d attempts, want %d", attempts, awsconfig.MaxAttempts)
	}
}

func TestLoadRefusesMalformedEndpointNamingTheVariable(t *testing.T) {
	isolate(t)
	const value = "not a url with s3cr3t-token"
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", value)
	_, err := awsconfig.Load(context.Background())
	if err == nil {
		t.Fatal("Load accepted a malformed endpoint")
	}
	msg := err.Error()
	if !strings.Contains(msg, "AWS_ENDPOINT_URL_DYNAMODB") {
		t.Errorf("error does not name the variable: %s", msg)
	}
	if strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "\n") {
		t.Errorf("error must be one line without the value: %s", msg)
	}
}

func TestLoadRequiresRegion(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	_, err := awsconfig.Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("want an error naming AWS_REGION, got %v", err)
	}
}

func TestCheckEndpointEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env     []string
		wantErr string
	}{
		{[]string{"AWS_ENDPOINT_URL=http://127.0.0.1:4566", "AWS_ENDPOINT_URL_DYNAMODB=https://db.local:8000/"}, ""},
		{[]string{"AWS_ENDPOINT_URL=", "PATH=/bin", "AWS_ENDPOINT_URLX=garbage"}, ""},
		{[]string{"AWS_ENDPOINT_URL=127.0.0.1:4566"}, "AWS_ENDPOINT_URL must"},
		{[]string{"AWS_ENDPOINT_URL_STS=ftp://x"}, "AWS_ENDPOINT_URL_STS must"},
		{[]string{"AWS_ENDPOINT_URL_S3=http://"}, "AWS_ENDPOINT_URL_S3 must"},
		{[]string{"AWS_ENDPOINT_URL_SQS=http://user:pw@host"}, "AWS_ENDPOINT_URL_SQS must"},
		{[]string{"AWS_ENDPOINT_URL_SQS=%zz", "AWS_ENDPOINT_URL_KMS=::"}, "AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL_SQS must"},
	}
	for _, c := range cases {
		err := awsconfig.CheckEndpointEnv(c.env)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%v: unexpected error %v", c.env, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%v: error %v, want it to contain %q", c.env, err, c.wantErr)
		}
	}
}
