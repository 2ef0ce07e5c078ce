package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"slices"
	"strings"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/platform/problem"
)

// Keys of the context the REQUEST authorizer's Allow carries (API Gateway's
// $context.authorizer.<key>; every value a string). The authorizer writes them; the partner-key
// routes read them through CallerOf.
const (
	ContextPartnerID = "partnerId"
	ContextKeyID     = "keyId"
	ContextTier      = "tier"
	ContextScopes    = "scopes" // the key's scopes, sorted, space separated
)

// Caller is what the authorizer's context says of the key a request was made with. Each value
// is trimmed, and "" when the context lacks it or holds something other than a string.
type Caller struct {
	PartnerID string
	KeyID     string
	Tier      string
	// Scopes is the key's scopes, space separated.
	Scopes string
}

// CallerOf reads the authorizer's context of req.
func CallerOf(req lambdaevents.APIGatewayProxyRequest) Caller {
	auth := req.RequestContext.Authorizer
	return Caller{
		PartnerID: contextString(auth, ContextPartnerID),
		KeyID:     contextString(auth, ContextKeyID),
		Tier:      contextString(auth, ContextTier),
		Scopes:    contextString(auth, ContextScopes),
	}
}

// contextString returns a string value of the authorizer context, or "".
func contextString(auth map[string]any, key string) string {
	s, _ := auth[key].(string)
	return strings.TrimSpace(s)
}

// EmptyBodyMessage is the validation message for a body that is not empty, on an operation that
// takes none.
const EmptyBodyMessage = "must be empty or an empty JSON object: this operation takes no parameters"

// CheckEmptyBody accepts no body, or an empty JSON object (whitespace around it allowed),
// whatever the Content-Type: for an operation without parameters. Anything else is refused, so
// that a parameter added later cannot change what an old client's request means: a body that
// does not decode or is not JSON is bad-request, any other JSON a validation problem.
func CheckEmptyBody(req lambdaevents.APIGatewayProxyRequest) error {
	body, err := Body(req)
	if err != nil {
		return err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return problem.BadRequest.New("").WithCause(errors.New("request body is not JSON"))
	}
	if m, ok := v.(map[string]any); ok && len(m) == 0 {
		return nil
	}
	return problem.NewValidation(problem.FieldError{Pointer: "", Message: EmptyBodyMessage}).
		WithCause(errors.New("request body is not empty"))
}

// Body returns the request body's bytes, decoding it when API Gateway sent it base64-encoded;
// a body that does not decode is bad-request.
func Body(req lambdaevents.APIGatewayProxyRequest) ([]byte, error) {
	if !req.IsBase64Encoded {
		return []byte(req.Body), nil
	}
	b, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		return nil, problem.BadRequest.New("").WithCause(errors.New("base64-encoded body does not decode"))
	}
	return b, nil
}

// HeaderValues returns every value of the header name (case-insensitive), from the
// multi-value headers and then the single-value ones, each value once.
func HeaderValues(req lambdaevents.APIGatewayProxyRequest, name string) []string {
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

// Header returns the first value of the header name (case-insensitive), from the single-value
// headers first, or "".
func Header(req lambdaevents.APIGatewayProxyRequest, name string) string {
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, vs := range req.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// CheckJSON refuses (unsupported-media-type) a request that does not carry exactly one
// Content-Type header of media type application/json (parameters are not read).
func CheckJSON(req lambdaevents.APIGatewayProxyRequest) error {
	vs := HeaderValues(req, "Content-Type")
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

// CheckJSONUTF8 refuses (unsupported-media-type, no cause) a request whose first Content-Type
// (Header) is not application/json, or names a charset other than UTF-8.
func CheckJSONUTF8(req lambdaevents.APIGatewayProxyRequest) error {
	mt, params, err := mime.ParseMediaType(Header(req, "Content-Type"))
	if err != nil || mt != "application/json" {
		return problem.UnsupportedMediaType.New("")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return problem.UnsupportedMediaType.New("")
	}
	return nil
}

// The parameters of a token form: RFC 7009's revocation request and RFC 7662's introspection
// request share them.
const (
	FormParamToken         = "token"
	FormParamTokenTypeHint = "token_type_hint"
)

// FormContentType is the media type of a token form.
const FormContentType = "application/x-www-form-urlencoded"

// ReadTokenForm reads the token of a token form (RFC 7009 section 2.1, RFC 7662 section 2.1):
// a body of media type application/x-www-form-urlencoded of at most maxBytes, holding exactly
// one non-empty token parameter and at most one token_type_hint (read and ignored). Anything
// else is refused with the route's problem type invalid, whose cause names the rule broken and
// never quotes the body: it holds a key. A body that does not decode is bad-request (Body).
func ReadTokenForm(req lambdaevents.APIGatewayProxyRequest, maxBytes int, invalid problem.Type) (string, error) {
	refuse := func(cause string) error {
		return invalid.New("").WithCause(errors.New(cause))
	}
	cts := HeaderValues(req, "Content-Type")
	if len(cts) != 1 {
		return "", refuse(fmt.Sprintf("%d Content-Type headers", len(cts)))
	}
	if mt, _, err := mime.ParseMediaType(cts[0]); err != nil || mt != FormContentType {
		return "", refuse("Content-Type is not " + FormContentType)
	}
	body, err := Body(req)
	if err != nil {
		return "", err
	}
	if len(body) > maxBytes {
		return "", refuse(fmt.Sprintf("body of %d bytes, more than %d", len(body), maxBytes))
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", refuse("the body is not a form")
	}
	tokens := form[FormParamToken]
	switch {
	case len(tokens) == 0:
		return "", refuse("no token parameter")
	case len(tokens) > 1:
		return "", refuse(fmt.Sprintf("%d token parameters", len(tokens)))
	case tokens[0] == "":
		return "", refuse("an empty token parameter")
	case len(form[FormParamTokenTypeHint]) > 1:
		return "", refuse(fmt.Sprintf("%d token_type_hint parameters", len(form[FormParamTokenTypeHint])))
	}
	return tokens[0], nil
}
