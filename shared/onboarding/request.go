package onboarding

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/api"
	"github.com/lanyardhq/lanyard/shared/problem"
	"github.com/lanyardhq/lanyard/shared/secret"
)

// IdempotencyKeyHeader is the header that makes a POST /v1/partners safe to retry.
const IdempotencyKeyHeader = "Idempotency-Key"

// MaxIdempotencyKeyLength is the longest Idempotency-Key accepted.
const MaxIdempotencyKeyLength = 128

// createRequest is a validated POST /v1/partners body.
type createRequest struct {
	PartnerName string
	InviteCode  secret.Value
	// Scopes are sorted; the schema has already refused repeats.
	Scopes []string
}

// headerValues returns every value of the header name in req, matched without regard to case,
// from Headers and MultiValueHeaders (API Gateway fills both; a test or a local front may fill
// one), without repeating a value both hold.
func headerValues(req lambdaevents.APIGatewayProxyRequest, name string) []string {
	var out []string
	for k, vs := range req.MultiValueHeaders {
		if strings.EqualFold(k, name) {
			out = append(out, vs...)
		}
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// idempotencyKey reads the Idempotency-Key header: exactly one value of 1 to 128 visible ASCII
// characters (0x21–0x7E). Its refusal never repeats what was sent.
func idempotencyKey(req lambdaevents.APIGatewayProxyRequest) (string, error) {
	vs := headerValues(req, IdempotencyKeyHeader)
	refuse := func(why string) error {
		return problem.MissingIdempotencyKey.New("").WithCause(errors.New(why))
	}
	switch {
	case len(vs) == 0:
		return "", refuse("no Idempotency-Key header")
	case len(vs) > 1:
		return "", refuse(fmt.Sprintf("%d Idempotency-Key headers", len(vs)))
	}
	k := vs[0]
	if k == "" || len(k) > MaxIdempotencyKeyLength {
		return "", refuse(fmt.Sprintf("Idempotency-Key of %d bytes, want 1 to %d", len(k), MaxIdempotencyKeyLength))
	}
	for i := range len(k) {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "", refuse(fmt.Sprintf("Idempotency-Key byte %d is not visible ASCII", i))
		}
	}
	return k, nil
}

// checkContentType refuses a body that is not sent as application/json (parameters such as
// charset are accepted).
func checkContentType(req lambdaevents.APIGatewayProxyRequest) error {
	vs := headerValues(req, "Content-Type")
	if len(vs) != 1 {
		return problem.UnsupportedMediaType.New("").WithCause(fmt.Errorf("%d Content-Type headers", len(vs)))
	}
	mt, _, err := mime.ParseMediaType(vs[0])
	if err != nil {
		return problem.UnsupportedMediaType.New("").WithCause(errors.New("Content-Type is not a media type"))
	}
	if mt != "application/json" {
		return problem.UnsupportedMediaType.New("").WithCause(errors.New("Content-Type is not application/json"))
	}
	return nil
}

// requestBody returns the body's bytes, decoding it when API Gateway sent it base64-encoded.
func requestBody(req lambdaevents.APIGatewayProxyRequest) ([]byte, error) {
	if !req.IsBase64Encoded {
		return []byte(req.Body), nil
	}
	b, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		return nil, problem.BadRequest.New("").WithCause(errors.New("base64-encoded body does not decode"))
	}
	return b, nil
}

// parseRequest validates body against the createPartner schema and reads it. The invite code
// goes straight into a secret.Value.
func parseRequest(body []byte) (createRequest, error) {
	if err := api.ValidateBody(api.OpCreatePartner, body); err != nil {
		return createRequest{}, fmt.Errorf("validate request body: %w", err)
	}
	var wire struct {
		PartnerName string   `json:"partnerName"`
		InviteCode  string   `json:"inviteCode"`
		Scopes      []string `json:"scopes"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		// The schema accepted it, so this cannot happen; the error names no value.
		return createRequest{}, problem.BadRequest.New("").WithCause(errors.New("validated body does not decode"))
	}
	r := createRequest{
		PartnerName: wire.PartnerName,
		InviteCode:  secret.New(wire.InviteCode),
		Scopes:      slices.Sorted(slices.Values(wire.Scopes)),
	}
	return r, nil
}

// hash is the SHA-256 (hex) of the canonical request: the parsed body marshalled again, fields
// in a fixed order and scopes sorted, so two spellings of one request (white space, member
// order, scope order) are the same request.
func (r createRequest) hash() string {
	canonical, _ := json.Marshal(struct { // strings only: cannot fail
		PartnerName string   `json:"partnerName"`
		InviteCode  string   `json:"inviteCode"`
		Scopes      []string `json:"scopes"`
	}{r.PartnerName, r.InviteCode.Reveal(), r.Scopes})
	sum := sha256.Sum256(canonical)
	clear(canonical)
	return hex.EncodeToString(sum[:])
}
