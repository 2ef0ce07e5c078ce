package onboarding

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// RequestDigest is what the X-Lanyard-Request-SHA256 header of an onboarding's identity
// request must carry (stsproof.RequestDigestHeader), so that a captured proof cannot serve
// another onboarding: the lowercase hex SHA-256 of the UTF-8 text
//
//	POST /v1/partners
//	scopes=<the scopes, sorted by their bytes, joined by ",">
//	partnerName=<the partner name>
//
// three lines joined by a line feed (0x0A), no line feed at the end. The values are the body's
// as JSON decodes them — the partner name exactly as sent, before any normalisation, the
// scopes whatever their order in the body. Scopes hold neither "," nor a line feed and the
// partner name comes last, so two different requests never share the text. For partnerName
// "Acme Logistics" and scopes ["orders:read", "inventory:read"] the text is
//
//	"POST /v1/partners\nscopes=inventory:read,orders:read\npartnerName=Acme Logistics"
func RequestDigest(partnerName string, scopes []string) string {
	sorted := slices.Sorted(slices.Values(scopes))
	text := "POST " + OnboardResource + "\nscopes=" + strings.Join(sorted, ",") + "\npartnerName=" + partnerName
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}
