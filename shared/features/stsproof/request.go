package stsproof

// Request is a signed STS GetCallerIdentity request as the partner's SDK produced it, carried in
// the onboarding body (the "identityRequest" member of CreatePartnerRequest). Lanyard checks it
// and sends it, to the STS endpoint it is configured with and nowhere else, to learn which AWS
// principal signed it.
type Request struct {
	// Method is the HTTP method the request was signed with: POST.
	Method string `json:"method"`
	// URL is the URL it was signed for. Lanyard never sends anything to it: it only checks the
	// host is the configured endpoint's.
	URL string `json:"url"`
	// Headers are the signed request's headers, the Authorization header and
	// X-Lanyard-Server-ID among them. A secret: never logged.
	Headers map[string][]string `json:"headers"`
	// Body is the form-encoded body: Action=GetCallerIdentity&Version=2011-06-15.
	Body string `json:"body"`
}

// Identity is the AWS principal STS says signed the request.
type Identity struct {
	AccountID string
	ARN       string
	UserID    string
}
