package onboarding

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/domain/openapi"
	"github.com/lanyardhq/lanyard/shared/domain/partnername"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// IdempotencyKeyHeader is the header that makes a POST /v1/partners safe to retry.
const IdempotencyKeyHeader = "Idempotency-Key"

// MaxIdempotencyKeyLength is the longest Idempotency-Key accepted.
const MaxIdempotencyKeyLength = 128

// createRequest is a validated POST /v1/partners body: exactly one of InviteCode and
// IdentityRequest is set.
type createRequest struct {
	PartnerName string
	InviteCode  secret.Value
	// IdentityRequest is the signed STS GetCallerIdentity request, nil with an invite code.
	IdentityRequest *signedRequest
	// Scopes are sorted; the schema has already refused repeats.
	Scopes []string
}

// signedRequest holds a signed STS request. It is a secret while its signature is fresh (its
// Authorization header, its session token): it prints, logs and marshals as [redacted], like
// a secret.Value. digest is the RequestDigest of the body it came in, which the request's
// X-Lanyard-Request-SHA256 header must carry.
type signedRequest struct {
	req    stsproof.Request
	digest string
}

func (*signedRequest) String() string               { return secret.Redacted }
func (*signedRequest) GoString() string             { return secret.Redacted }
func (*signedRequest) LogValue() slog.Value         { return slog.StringValue(secret.Redacted) }
func (*signedRequest) MarshalJSON() ([]byte, error) { return []byte(`"` + secret.Redacted + `"`), nil }
func (*signedRequest) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, secret.Redacted) }
func (s *signedRequest) reveal() stsproof.Request   { return s.req }

// idempotencyKey reads the Idempotency-Key header: exactly one value of 1 to 128 visible ASCII
// characters (0x21–0x7E). The value is kept as a secret.Value: only its hash is ever stored or
// named (recordKey), so whoever reads the logs or the table cannot replay with it. Its refusal
// never repeats what was sent.
func idempotencyKey(req lambdaevents.APIGatewayProxyRequest) (secret.Value, error) {
	vs := apigw.HeaderValues(req, IdempotencyKeyHeader)
	refuse := func(why string) error {
		return problem.MissingIdempotencyKey.New("").WithCause(errors.New(why))
	}
	switch {
	case len(vs) == 0:
		return secret.Value{}, refuse("no Idempotency-Key header")
	case len(vs) > 1:
		return secret.Value{}, refuse(fmt.Sprintf("%d Idempotency-Key headers", len(vs)))
	}
	k := vs[0]
	if k == "" || len(k) > MaxIdempotencyKeyLength {
		return secret.Value{}, refuse(fmt.Sprintf("Idempotency-Key of %d bytes, want 1 to %d", len(k), MaxIdempotencyKeyLength))
	}
	for i := range len(k) {
		if k[i] < 0x21 || k[i] > 0x7e {
			return secret.Value{}, refuse(fmt.Sprintf("Idempotency-Key byte %d is not visible ASCII", i))
		}
	}
	return secret.New(k), nil
}

// The envelope's checks, under the names this package's handlers use: exactly one Content-Type,
// application/json (parameters such as charset accepted), and the body's bytes, base64-decoded
// when API Gateway sent it so.
var (
	checkContentType = apigw.CheckJSON
	requestBody      = apigw.Body
)

// parseRequest validates body against the createPartner schema and reads it. The partner name
// is normalized (partnername.Normalize: NFC, and refused with a validation problem naming
// /partnerName when it holds a control, format, private-use or unassigned character), so two
// spellings of one name are one request. The invite code goes straight into a secret.Value,
// the identity request into a signedRequest.
func parseRequest(body []byte) (createRequest, error) {
	if err := openapi.ValidateBody(openapi.OpCreatePartner, body); err != nil {
		return createRequest{}, fmt.Errorf("validate request body: %w", err)
	}
	var wire struct {
		PartnerName     string            `json:"partnerName"`
		InviteCode      *string           `json:"inviteCode"`
		IdentityRequest *stsproof.Request `json:"identityRequest"`
		Scopes          []string          `json:"scopes"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		// The schema accepted it, so this cannot happen; the error names no value.
		return createRequest{}, problem.BadRequest.New("").WithCause(errors.New("validated body does not decode"))
	}
	name, err := partnername.Normalize(wire.PartnerName)
	if err != nil {
		return createRequest{}, fmt.Errorf("partner name refused: %w",
			problem.NewValidation(problem.FieldError{Pointer: "/partnerName", Message: err.Error()}))
	}
	r := createRequest{
		PartnerName: name,
		Scopes:      slices.Sorted(slices.Values(wire.Scopes)),
	}
	switch {
	case wire.InviteCode != nil && wire.IdentityRequest == nil:
		r.InviteCode = secret.New(*wire.InviteCode)
	case wire.InviteCode == nil && wire.IdentityRequest != nil:
		// The digest is of the values as decoded, before anything normalises them.
		r.IdentityRequest = &signedRequest{req: *wire.IdentityRequest, digest: RequestDigest(wire.PartnerName, wire.Scopes)}
	default: // the schema's oneOf refuses both and neither
		return createRequest{}, problem.BadRequest.New("").WithCause(errors.New("validated body holds not exactly one identity proof"))
	}
	return r, nil
}

// hash is the SHA-256 (hex) of the canonical request: the parsed body marshalled again, fields
// in a fixed order, scopes sorted and headers by name, so two spellings of one request (white
// space, member order, scope order) are the same request. A request with an invite code hashes
// as it always has.
func (r createRequest) hash() string {
	var canonical []byte
	if r.IdentityRequest != nil {
		canonical, _ = json.Marshal(struct { // strings, and a map of string slices: cannot fail
			PartnerName     string           `json:"partnerName"`
			IdentityRequest stsproof.Request `json:"identityRequest"`
			Scopes          []string         `json:"scopes"`
		}{r.PartnerName, r.IdentityRequest.reveal(), r.Scopes})
	} else {
		canonical, _ = json.Marshal(struct { // strings only: cannot fail
			PartnerName string   `json:"partnerName"`
			InviteCode  string   `json:"inviteCode"`
			Scopes      []string `json:"scopes"`
		}{r.PartnerName, r.InviteCode.Reveal(), r.Scopes})
	}
	sum := sha256.Sum256(canonical)
	clear(canonical)
	return hex.EncodeToString(sum[:])
}
