//go:build integration

package suite_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/lanyardhq/lanyard/api"
	"github.com/lanyardhq/lanyard/topology"
)

// The production declaration runs locally as declared: its open routes answer through the front
// with the production functions.
func TestProductionOpenRoutesAnswer(t *testing.T) {
	t.Parallel()
	s, _ := shared(t, "lanyard", topology.Lanyard, nil)

	get := func(path string) (int, string, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.APIURL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), body
	}

	status, ctype, body := get("/v1/openapi.json")
	if status != http.StatusOK || ctype != "application/json" || !bytes.Equal(body, api.Document()) {
		t.Errorf("GET /v1/openapi.json: %d %s, document served: %v", status, ctype, bytes.Equal(body, api.Document()))
	}
	status, _, body = get("/v1/health")
	var report struct{ Status, Version string }
	if err := json.Unmarshal(body, &report); status != http.StatusOK || err != nil || report.Status != "ok" || report.Version == "" {
		t.Errorf("GET /v1/health: %d %s", status, body)
	}
}
