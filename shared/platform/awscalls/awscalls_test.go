package awscalls_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/platform/awscalls"
)

// server answers every request with status (and an empty JSON body), counting the requests.
func server(t *testing.T, status int) (*httptest.Server, *int) {
	t.Helper()
	var n int
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n++
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(s.Close)
	return s, &n
}

var getItem = &dynamodb.GetItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k"}}}

func config(url string, maxAttempts int) aws.Config {
	cfg := aws.Config{
		Region:       "eu-west-1",
		Credentials:  aws.AnonymousCredentials{},
		BaseEndpoint: aws.String(url),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	}
	awscalls.Instrument(&cfg)
	return cfg
}

// The middleware counts each call a client built from the instrumented config makes, by
// service and operation, once however many attempts the retryer makes, failed calls included;
// a context without a Tally counts nothing.
func TestInstrumentCountsCallsByOperation(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		attempts int // the server's requests per call
	}{
		{"answered", http.StatusOK, 1},
		{"failed and retried", http.StatusInternalServerError, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, requests := server(t, tc.status)
			cfg := config(srv.URL, 3)
			db, sm := dynamodb.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg)

			_, _ = db.GetItem(t.Context(), getItem) // no Tally: not counted
			ctx, tally := awscalls.WithTally(t.Context())
			_, _ = db.GetItem(ctx, getItem)
			_, _ = sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
			_, _ = db.GetItem(ctx, getItem)

			if *requests != 4*tc.attempts {
				t.Fatalf("the server had %d requests, want %d", *requests, 4*tc.attempts)
			}
			want := []string{"DynamoDB.GetItem", "Secrets Manager.DescribeSecret", "DynamoDB.GetItem"}
			if got := tally.Sequence(); !slices.Equal(got, want) {
				t.Errorf("sequence %v, want %v", got, want)
			}
			if got := tally.ByOperation(); len(got) != 2 || got["DynamoDB.GetItem"] != 2 || got["Secrets Manager.DescribeSecret"] != 1 {
				t.Errorf("by operation %v", got)
			}
			if tally.Total() != 3 {
				t.Errorf("total %d, want 3", tally.Total())
			}
		})
	}
}

// Handler gives each invocation its own Tally and logs one line with its calls.
func TestHandlerLogsEachInvocationsCalls(t *testing.T) {
	srv, _ := server(t, http.StatusOK)
	db := dynamodb.NewFromConfig(config(srv.URL, 1))
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	h := awscalls.Handler(lambda.NewHandler(func(ctx context.Context, n int) (int, error) {
		for range n {
			if _, err := db.GetItem(ctx, getItem); err != nil {
				return 0, err
			}
		}
		return n, nil
	}), logger)

	for _, n := range []int{2, 0} {
		buf.Reset()
		if _, err := h.Invoke(t.Context(), []byte(jsonInt(n))); err != nil {
			t.Fatal(err)
		}
		var line struct {
			Msg   string         `json:"msg"`
			Total int            `json:"awsCalls"`
			By    map[string]int `json:"awsCallsByOperation"`
			Seq   []string       `json:"awsCallSequence"`
		}
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("the line %q: %v", buf.String(), err)
		}
		if line.Msg != awscalls.Message || line.Total != n || line.By["DynamoDB.GetItem"] != n || len(line.Seq) != n {
			t.Errorf("invocation making %d calls logged %s", n, buf.String())
		}
	}
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
