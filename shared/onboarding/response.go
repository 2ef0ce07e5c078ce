package onboarding

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/credential"
)

// onboarded is the 201 answer (the OpenAPI schema OnboardedPartner) without its key: what the
// idempotency record keeps. render adds the key.
type onboarded struct {
	PartnerID string   `json:"partnerId"`
	KeyID     string   `json:"keyId"`
	Scopes    []string `json:"scopes"` // sorted
	Tier      string   `json:"tier"`
	// ExpiresAt is RFC 3339 in UTC (time.RFC3339Nano), the registry entry's notAfter.
	ExpiresAt string `json:"expiresAt"`
}

// stored is the answer as the idempotency record keeps it: without the key.
func (o onboarded) stored() (string, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return "", fmt.Errorf("marshal the answer for partner %s: %w", o.PartnerID, err)
	}
	return string(b), nil
}

// render is the 201 response showing key, which must be the key the answer names.
func (o onboarded) render(key credential.Key) (lambdaevents.APIGatewayProxyResponse, error) {
	if key.IsZero() || string(key.ID()) != o.KeyID {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("answer for partner %s names key %s, not the key at hand (%s)", o.PartnerID, o.KeyID, key.ID())
	}
	shown := struct {
		PartnerID string   `json:"partnerId"`
		KeyID     string   `json:"keyId"`
		APIKey    string   `json:"apiKey"`
		Scopes    []string `json:"scopes"`
		Tier      string   `json:"tier"`
		ExpiresAt string   `json:"expiresAt"`
	}{o.PartnerID, o.KeyID, key.Plaintext().Reveal(), o.Scopes, o.Tier, o.ExpiresAt}
	b, err := json.Marshal(shown) //nolint:gosec // G117: the one answer that shows the key (once, and to replays)
	if err != nil {
		// Strings only: cannot happen. The error is not wrapped: it might quote a value.
		return lambdaevents.APIGatewayProxyResponse{}, errors.New("marshal the answer failed")
	}
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: http.StatusCreated,
		Headers: map[string]string{
			"Content-Type":           "application/json",
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
		},
		Body: string(b),
	}, nil
}

// storedAnswer reads the answer an idempotency record keeps for a 201.
func storedAnswer(body string) (onboarded, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	var o onboarded
	if err := dec.Decode(&o); err != nil {
		return onboarded{}, fmt.Errorf("stored answer does not decode: %w", err)
	}
	if o.PartnerID == "" || o.KeyID == "" {
		return onboarded{}, errors.New("stored answer names no partner or key")
	}
	return o, nil
}

// formatTime renders a time as the answer and the tables do.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
