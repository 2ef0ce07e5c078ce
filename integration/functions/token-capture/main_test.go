package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

const assumeRoleAnswer = `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleResult><Credentials><AccessKeyId>ASIAFAKEACCESSKEYID0</AccessKeyId>
<SecretAccessKey>canary-secret-access-key</SecretAccessKey><SessionToken>canary-session-token</SessionToken>
<Expiration>2026-11-23T12:15:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::000000000000:assumed-role/r/partner-p-1</Arn><AssumedRoleId>AROAFAKE:partner-p-1</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></AssumeRoleResponse>`

// The middleware logs each AssumeRole input once, as one JSON line, and never the answer.
// (Not parallel: it swaps the process's default logger.)
func TestCaptureLogsTheAssumeRoleInput(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 { // one retry: the line is still logged once
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(assumeRoleAnswer))
	}))
	defer srv.Close()

	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(logging.NewJSON(&buf, slog.LevelInfo))
	defer slog.SetDefault(prev)

	client := sts.New(sts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
	}, withCapture)
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["execute-api:Invoke"],"Resource":["arn:aws:execute-api:us-east-1:000000000000:a/b/GET/v1/orders"]}]}`
	if _, err := client.AssumeRole(t.Context(), &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::000000000000:role/partner-access"),
		RoleSessionName: aws.String("partner-p-1"),
		DurationSeconds: aws.Int32(900),
		Policy:          aws.String(policy),
		Tags:            []ststypes.Tag{{Key: aws.String("partner"), Value: aws.String("p-1")}, {Key: aws.String("key"), Value: aws.String("k-1")}},
	}); err != nil {
		t.Fatalf("assume role: %v", err)
	}
	if _, err := client.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err == nil {
		t.Log("GetCallerIdentity answered") // the server answers AssumeRole XML; only the log matters
	}

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines logged, want 1:\n%s", len(lines), buf.String())
	}
	var got struct {
		Message           string `json:"message"`
		RoleArn           string `json:"roleArn"`
		RoleSessionName   string `json:"roleSessionName"`
		DurationSeconds   int32  `json:"durationSeconds"`
		Policy            string `json:"policy"`
		Tags              []tag  `json:"tags"`
		TransitiveTagKeys []any  `json:"transitiveTagKeys"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatalf("line is not JSON: %v", err)
	}
	if got.Message != CapturedMessage || got.RoleArn != "arn:aws:iam::000000000000:role/partner-access" || got.RoleSessionName != "partner-p-1" ||
		got.DurationSeconds != 900 || got.Policy != policy || got.TransitiveTagKeys == nil || len(got.TransitiveTagKeys) != 0 {
		t.Errorf("captured %+v", got)
	}
	if want := []tag{{"partner", "p-1"}, {"key", "k-1"}}; !reflect.DeepEqual(got.Tags, want) {
		t.Errorf("tags %v, want %v", got.Tags, want)
	}
	if strings.Contains(buf.String(), "canary-") {
		t.Error("the answer's credentials reached the log")
	}
}
