package credential

import (
	"fmt"
	"strings"
)

// HeaderName is the header a partner sends its key in, as "Bearer <key>".
const HeaderName = "Authorization"

// FromAuthorizationHeader reads a key from an Authorization header value: "Bearer", one or more
// spaces, the key. The scheme is matched case-insensitively (RFC 9110 §11.1); spaces and tabs
// around the value are ignored, as HTTP ignores them. Anything else is refused with an error that
// matches ErrNoCredentials, ErrUnsupportedScheme or (from Parse) ErrMalformed and never contains h.
func FromAuthorizationHeader(h string) (Key, error) {
	h = strings.Trim(h, " \t")
	if h == "" {
		return Key{}, errEmptyHeader
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return Key{}, errScheme
	}
	token = strings.TrimLeft(token, " ")
	if token == "" {
		return Key{}, errEmptyBearer
	}
	k, err := Parse(token)
	if err != nil {
		return Key{}, fmt.Errorf("bearer token: %w", err)
	}
	return k, nil
}

// FromHeaders finds the Authorization header in headers whatever the case of its name (API
// Gateway passes names as the client sent them) and reads the key from it. Two names that differ
// only in case are refused with ErrDuplicateHeader rather than one picked at random.
//
// API Gateway keeps only the last value of a repeated header in headers; a REQUEST authorizer
// should prefer FromMultiValueHeaders when the event carries multiValueHeaders.
func FromHeaders(headers map[string]string) (Key, error) {
	var value string
	n := 0
	for name, v := range headers {
		if strings.EqualFold(name, HeaderName) {
			value = v
			n++
		}
	}
	switch n {
	case 0:
		return Key{}, errNoHeader
	case 1:
		return FromAuthorizationHeader(value)
	default:
		return Key{}, errDuplicate
	}
}

// FromMultiValueHeaders is FromHeaders for API Gateway's multiValueHeaders: it requires exactly
// one Authorization value across every spelling of the name, so a request that sends two keys
// is refused whichever of them API Gateway would have kept.
func FromMultiValueHeaders(headers map[string][]string) (Key, error) {
	var value string
	n := 0
	for name, vs := range headers {
		if strings.EqualFold(name, HeaderName) {
			for _, v := range vs {
				value = v
				n++
			}
		}
	}
	switch n {
	case 0:
		return Key{}, errNoHeader
	case 1:
		return FromAuthorizationHeader(value)
	default:
		return Key{}, errDuplicate
	}
}
