package problem

// Base is the base of every problem type URI Lanyard answers with: each type's URI is Base and
// its anchor in docs/problems.md.
const Base = "https://github.com/lanyardhq/lanyard/blob/main/docs/problems.md#"

// Type is one entry of the catalogue: a stable problem type, documented under its anchor in
// docs/problems.md, with the status and title every problem of that type carries. Types are
// comparable; the catalogue's values are the only ones a response ever names.
type Type struct {
	anchor string
	status int
	title  string
	// detail is what New("") puts in the problem.
	detail string
	// fixed types always carry detail, whatever the caller passes: their detail would
	// otherwise tell more than the client may know.
	fixed bool
}

// Anchor is the type's heading anchor in docs/problems.md ("validation").
func (t Type) Anchor() string { return t.anchor }

// URI is the type's "type" member: Base + the anchor.
func (t Type) URI() string { return Base + t.anchor }

// Status is the HTTP status a problem of this type is answered with.
func (t Type) Status() int { return t.status }

// Title is the type's title: the same for every occurrence (RFC 9457 §3.1.3).
func (t Type) Title() string { return t.title }

// DefaultDetail is the detail New("") gives a problem of this type.
func (t Type) DefaultDetail() string { return t.detail }

// Answered by API Gateway (and `lanyard local`'s front) before a function runs, and by
// functions where they mean the same thing. Titles and statuses match GatewayResponses.
var (
	// Unauthorized: no partner key, or the key was refused (401).
	Unauthorized = Type{anchor: "unauthorized", status: 401, title: "Unauthorized",
		detail: "Send a valid partner key as \"Authorization: Bearer <key>\"."}
	// AccessDenied: the caller is known but this route is not allowed to it (403).
	AccessDenied = Type{anchor: "access-denied", status: 403, title: "User is not authorized to access this resource",
		detail: "The credentials sent do not allow this request."}
	// MissingAuthenticationToken: no such route, or an admin route without a SigV4 signature (403).
	MissingAuthenticationToken = Type{anchor: "missing-authentication-token", status: 403, title: "Missing Authentication Token",
		detail: "No such route, or the route needs a signed request."}
	// Throttled: a rate limit was exceeded (429).
	Throttled = Type{anchor: "throttled", status: 429, title: "Too Many Requests",
		detail: "Slow down and retry later."}
	// BadRequest: a client error with nothing more specific to say; from a function, a body
	// that is not JSON (400).
	BadRequest = Type{anchor: "bad-request", status: 400, title: "Bad Request",
		detail: "The request body is not valid JSON."}
	// Internal: anything the client cannot act on (500). Its detail is fixed: the real error is
	// logged, never sent.
	Internal = Type{anchor: "internal", status: 500, title: "Internal Server Error",
		detail: "The request could not be completed. Retry later; if it keeps failing, contact Lanyard support with the time of the request.",
		fixed:  true}
)

// Answered by functions.
var (
	// Validation: the body is JSON but does not match the operation's schema; the errors
	// member names each failing field by JSON pointer (400). Build it with NewValidation.
	Validation = Type{anchor: "validation", status: 400, title: "Invalid Request Body",
		detail: "The request body does not match the schema of this operation; see errors."}
	// UnsupportedMediaType: the body is not sent as application/json (415).
	UnsupportedMediaType = Type{anchor: "unsupported-media-type", status: 415, title: "Unsupported Media Type",
		detail: "Send the request body as application/json."}
	// MissingIdempotencyKey: the operation needs an Idempotency-Key header of 1–128 visible
	// ASCII characters, and none (or a malformed one) was sent (400).
	MissingIdempotencyKey = Type{anchor: "missing-idempotency-key", status: 400, title: "Idempotency Key Required",
		detail: "Send an Idempotency-Key header of 1 to 128 visible ASCII characters, unique to this request."}
	// IdempotencyKeyReused: the key was used before with a different request body (422).
	IdempotencyKeyReused = Type{anchor: "idempotency-key-reused", status: 422, title: "Idempotency Key Reused",
		detail: "This Idempotency-Key was used with a different request body. Use a new key for a new request."}
	// IdempotencyInFlight: the first request with this key is still being processed (409).
	IdempotencyInFlight = Type{anchor: "idempotency-in-flight", status: 409, title: "Request Already In Progress",
		detail: "A request with this Idempotency-Key is still being processed. Retry with the same key and body shortly."}
	// ReplayWindowClosed: a replay of a request that was answered with an API key, after the
	// policy's replay window (onboarding.replayWindow): the key is not shown again (409).
	ReplayWindowClosed = Type{anchor: "replay-window-closed", status: 409, title: "Replay Window Closed",
		detail: "This request was answered with an API key, which is shown again only to a replay within minutes of that answer. That time has passed: the key is not shown again. If it was lost, ask your Lanyard contact for a new one.",
		fixed:  true}
	// InviteInvalid: the invite code is unknown, already used or expired — one problem for all
	// three, with one fixed detail, so the answer tells nothing about which (403).
	InviteInvalid = Type{anchor: "invite-invalid", status: 403, title: "Invalid Invite",
		detail: "The invite code is not valid. Ask your Lanyard contact for a new invite.",
		fixed:  true}
	// IdentityProofInvalid: the signed STS GetCallerIdentity request (identityRequest) was
	// refused, by Lanyard's checks or by STS — one problem for every reason, with one fixed
	// detail; the reason goes to the log only (403).
	IdentityProofInvalid = Type{anchor: "identity-proof-invalid", status: 403, title: "Invalid Identity Proof",
		detail: "The signed GetCallerIdentity request could not be verified. Run `lanyard identity-request --help` to see how to produce one.",
		fixed:  true}
	// AccountNotAllowed: the identity proof is valid but its AWS account is not on the policy's
	// allow-list of accounts, or is the account Lanyard itself runs in (403).
	AccountNotAllowed = Type{anchor: "account-not-allowed", status: 403, title: "Account Not Allowed",
		detail: "The AWS account that signed the identity request is not allowed to onboard. Ask your Lanyard contact to allow it.",
		fixed:  true}
	// PrincipalNotAllowed: the identity proof is valid and its AWS account is on the allow-list,
	// but the principal that signed it is not one the account's entry admits — the account's
	// root user never is (403).
	PrincipalNotAllowed = Type{anchor: "principal-not-allowed", status: 403, title: "Principal Not Allowed",
		detail: "The AWS principal that signed the identity request may not onboard for its account. Sign it as the role your Lanyard contact agreed with you, never as the account's root user.",
		fixed:  true}
	// PickupInvalid: an onboarding pick-up with an unknown onboarding or pick-up token, or of
	// an onboarding that was denied, has expired or was collected already — one problem for
	// all, with one fixed detail (403). An onboarding still pending approval is answered
	// Conflict instead.
	PickupInvalid = Type{anchor: "pickup-invalid", status: 403, title: "Invalid Pick-up",
		detail: "The pick-up token is not valid for this onboarding, or there is nothing to pick up. Ask your Lanyard contact.",
		fixed:  true}
	// ReplacementPickupInvalid: a replacement pick-up with an unknown replacement or pick-up
	// token, or of a replacement collected already, expired, or whose key is no longer live —
	// one problem for all, with one fixed detail (403).
	ReplacementPickupInvalid = Type{anchor: "replacement-pickup-invalid", status: 403, title: "Invalid Replacement Pick-up",
		detail: "The pick-up token is not valid for this replacement key, or there is nothing to pick up. Ask your Lanyard contact.",
		fixed:  true}
	// ScopesNotAllowed: some requested scopes are outside the tier's allowance; the
	// deniedScopes member lists them (403). Build it with NewScopesNotAllowed.
	ScopesNotAllowed = Type{anchor: "scopes-not-allowed", status: 403, title: "Scopes Not Allowed",
		detail: "Some requested scopes are not allowed for the partner's tier; see deniedScopes."}
	// RevocationRequestInvalid: a POST /v1/revoke whose body is not a form
	// (application/x-www-form-urlencoded) holding the key to revoke as its one token parameter,
	// as RFC 7009's invalid_request (400). Its detail is fixed: it never echoes the body.
	RevocationRequestInvalid = Type{anchor: "revocation-request-invalid", status: 400, title: "Invalid Revocation Request",
		detail: "Send the key to revoke as the token parameter of an application/x-www-form-urlencoded body, once (RFC 7009); token_type_hint is optional.",
		fixed:  true}
	// IntrospectionRequestInvalid: a POST /v1/introspect whose body is not a form
	// (application/x-www-form-urlencoded) holding the key to introspect as its one token
	// parameter, as RFC 7662's invalid_request (400). Its detail is fixed: it never echoes the
	// body.
	IntrospectionRequestInvalid = Type{anchor: "introspection-request-invalid", status: 400, title: "Invalid Introspection Request",
		detail: "Send the key to introspect as the token parameter of an application/x-www-form-urlencoded body, once (RFC 7662); token_type_hint is optional.",
		fixed:  true}
	// AdminRevocationInvalid: a POST /v1/admin/partners/{partnerId}/revoke whose JSON body does
	// not name one key (keyId) or every key of the partner ("all": true), a reason from the
	// fixed list, and at most a note of bounded printable text (400). The detail says which rule
	// failed; it never echoes the body.
	AdminRevocationInvalid = Type{anchor: "admin-revocation-invalid", status: 400, title: "Invalid Admin Revocation",
		detail: "Send a JSON object naming one key as keyId or every key of the partner as \"all\": true, a reason (compromised, leaked, offboarded, requested or other) and, optionally, a note of at most 1000 characters without control characters, and \"reissue\": true for a replacement key when every key is revoked."}
	// NotFound: the resource does not exist, or is not the caller's (404).
	NotFound = Type{anchor: "not-found", status: 404, title: "Not Found",
		detail: "The resource does not exist."}
	// Conflict: the request conflicts with the resource's current state (409).
	Conflict = Type{anchor: "conflict", status: 409, title: "Conflict",
		detail: "The request conflicts with the current state of the resource."}
	// Unavailable: the decision's audit record could not be committed (DynamoDB throttled,
	// failed or cancelled the transaction), so the decision was not carried out and nothing was
	// handed out; retrying is safe (503). Its detail is fixed.
	Unavailable = Type{anchor: "unavailable", status: 503, title: "Service Unavailable",
		detail: "The request could not be recorded, so it was not carried out and nothing was issued. Retry shortly.",
		fixed:  true}
)

// GatewayResponse is a problem API Gateway (and `lanyard local`'s front) answers with when a
// request never reaches a function: topology/ declares these bodies from GatewayResponses.
type GatewayResponse struct {
	// Type is API Gateway's response type: UNAUTHORIZED, ACCESS_DENIED, INVALID_API_KEY,
	// MISSING_AUTHENTICATION_TOKEN, THROTTLED, DEFAULT_4XX, DEFAULT_5XX.
	Type string
	// Status is the status answered; 0 keeps the status API Gateway chose.
	Status int
	// Problem is the catalogue type of the body; its title says what API Gateway says.
	Problem Type
}

// GatewayResponses are the problem+json bodies API Gateway answers with when a request never
// reaches a function.
var GatewayResponses = []GatewayResponse{
	{Type: "UNAUTHORIZED", Status: 401, Problem: Unauthorized},
	{Type: "ACCESS_DENIED", Status: 403, Problem: AccessDenied},
	// The partner's API key is disabled (every key of the partner revoked): the routes require
	// an API key, and the authorizer names the partner's.
	{Type: "INVALID_API_KEY", Status: 403, Problem: AccessDenied},
	{Type: "MISSING_AUTHENTICATION_TOKEN", Status: 403, Problem: MissingAuthenticationToken},
	{Type: "THROTTLED", Status: 429, Problem: Throttled},
	{Type: "DEFAULT_4XX", Status: 0, Problem: BadRequest},
	{Type: "DEFAULT_5XX", Status: 0, Problem: Internal},
}

// Types is the whole catalogue, in the order docs/problems.md lists it.
func Types() []Type {
	return []Type{
		Unauthorized, AccessDenied, MissingAuthenticationToken, Throttled, BadRequest, Internal,
		Validation, UnsupportedMediaType, MissingIdempotencyKey, IdempotencyKeyReused,
		IdempotencyInFlight, ReplayWindowClosed, InviteInvalid, IdentityProofInvalid, AccountNotAllowed, PrincipalNotAllowed, PickupInvalid,
		ReplacementPickupInvalid, ScopesNotAllowed, RevocationRequestInvalid, AdminRevocationInvalid, IntrospectionRequestInvalid, NotFound, Conflict,
		Unavailable,
	}
}

// Lookup returns the catalogue type whose URI is uri.
func Lookup(uri string) (Type, bool) {
	for _, t := range Types() {
		if t.URI() == uri {
			return t, true
		}
	}
	return Type{}, false
}
