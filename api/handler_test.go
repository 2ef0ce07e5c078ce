package api_test

import (
	"context"
	"encoding/json"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/api"
)

func TestHandleServesTheDocument(t *testing.T) {
	t.Parallel()
	resp, err := api.Handle(context.Background(), lambdaevents.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/v1/openapi.json"})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if resp.StatusCode != 200 || resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("response %d %v", resp.StatusCode, resp.Headers)
	}
	if resp.Body != string(api.Document()) {
		t.Fatal("the body is not the embedded document")
	}
	var d struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &d); err != nil || d.OpenAPI == "" {
		t.Fatalf("not an OpenAPI document: %v", err)
	}
}
