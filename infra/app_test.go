package infra

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// testApp is a CDK app with the feature flags of cdk.json, so the assertion tests check the
// templates `make synth` writes.
func testApp(t *testing.T) awscdk.App {
	t.Helper()
	raw, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatalf("read cdk.json: %v", err)
	}
	var cfg struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("parse cdk.json: %v", err)
	}
	return awscdk.NewApp(&awscdk.AppProps{Context: &cfg.Context})
}
