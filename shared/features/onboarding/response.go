package onboarding

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
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
	return jsonResponse(http.StatusCreated, string(b)), nil
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

// PickupTokenShownOnce is the detail of a replayed 202: the pick-up token is not in it.
const PickupTokenShownOnce = "The pick-up token was shown once, in the first answer to this request, and Lanyard keeps only its hash: it cannot be shown again. If it was lost, ask your Lanyard contact to deny this onboarding and issue a new invite." //nolint:gosec // G101: a sentence about the token, not a token

// pendingAnswer is the 202 answer (the OpenAPI schema PendingOnboarding). The idempotency
// record keeps it without the pick-up token; a replay shows it with Detail instead.
type pendingAnswer struct {
	OnboardingID string `json:"onboardingId"`
	Status       string `json:"status"`
	PickupToken  string `json:"pickupToken,omitempty"`
	// ExpiresAt is RFC 3339 in UTC (time.RFC3339Nano): the end of the wait and of the pick-up.
	ExpiresAt string `json:"expiresAt"`
	Detail    string `json:"detail,omitempty"`
}

// stored is the answer as the idempotency record keeps it: without the token.
func (p pendingAnswer) stored() (string, error) {
	p.PickupToken, p.Detail = "", ""
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("marshal the pending answer of onboarding %s: %w", p.OnboardingID, err)
	}
	return string(b), nil
}

// render is the 202 response showing token, the one time it is ever shown.
func (p pendingAnswer) render(token secret.Value) (lambdaevents.APIGatewayProxyResponse, error) {
	p.PickupToken = token.Reveal()
	b, err := json.Marshal(p) // the one answer that shows the pick-up token
	if err != nil {
		// Strings only: cannot happen. The error is not wrapped: it might quote a value.
		return lambdaevents.APIGatewayProxyResponse{}, errors.New("marshal the pending answer failed")
	}
	return jsonResponse(http.StatusAccepted, string(b)), nil
}

// replayPending renders a stored 202 again: without the token, saying why.
func replayPending(body string) (lambdaevents.APIGatewayProxyResponse, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	var p pendingAnswer
	if err := dec.Decode(&p); err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("stored pending answer does not decode: %w", err)
	}
	if p.OnboardingID == "" || p.PickupToken != "" {
		return lambdaevents.APIGatewayProxyResponse{}, errors.New("stored pending answer names no onboarding, or holds a token")
	}
	p.Detail = PickupTokenShownOnce
	b, err := json.Marshal(p)
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("marshal the replayed pending answer: %w", err)
	}
	return jsonResponse(http.StatusAccepted, string(b)), nil
}

// jsonResponse is a JSON answer that no cache keeps.
func jsonResponse(status int, body string) lambdaevents.APIGatewayProxyResponse {
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: status,
		Headers: map[string]string{
			"Content-Type":           "application/json",
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
		},
		Body: body,
	}
}

// formatTime renders a time as the answer and the tables do.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
