// Package onboarding is POST /v1/partners: a partner proves its identity — with the one-time
// invite code ops issued, or with a signed STS GetCallerIdentity request — asks for scopes
// within its tier, and gets its partner id and API key, shown this once and again only to a
// replay of the same request within the policy's replay window (minutes). For a tier that
// needs an ops approval it gets a pending onboarding and a one-time pick-up token instead; ops
// approve or deny it (AdminHandler), and the partner collects its key once, with the token
// (POST /v1/onboardings/{onboardingId}/pickup).
//
// # One onboarding
//
// Handler.Handle answers, in order:
//
//  1. the Idempotency-Key header (1–128 visible ASCII characters; 400 missing-idempotency-key),
//     the Content-Type (application/json; 415) and the body (openapi.ValidateBody; 400; exactly one
//     of inviteCode and identityRequest). These refusals are not remembered under the key:
//     nothing was done, and the client corrects the request;
//  2. for an identity request, its verification: checked and sent to STS by the
//     IdentityVerifier (stsproof.Verifier), which also checks it was signed over this request's
//     RequestDigest (digest.go: its partner name and scopes) — refused with one fixed 403
//     identity-proof-invalid whatever the reason, not remembered either — so that the record can
//     be kept under the verified AWS account, and a replay proves the identity again before it
//     is answered;
//  3. the claim of the key within the proof's scope (below): a replay is answered from the
//     record (its key only within the replay window: after it 409 replay-window-closed), a key
//     used with another body gets 422, a request still in flight under the key 409;
//  4. the identity proof (identity.go): the invite (invite.Store.Lookup; its partner name must
//     be the request's; its tier is the partner's), or the verified principal's account: 403
//     account-not-allowed for the account this deployment runs in (the invoked function's
//     ARN's) or an account not on the policy's allow-list (which gives the tier), 403
//     principal-not-allowed for a principal the account's entry does not admit
//     (policy.Account.Admits: never root), 409 conflict for an account that has a partner or a
//     pending onboarding already (one partner per AWS account: account.go); then
//     the scopes (policy.Decide against the tier). A refusal here is a decision about the
//     request, so the record keeps it: a replay gets the same answer;
//  5. a tier without approvalRequired: the key (credential.Generate) and its secret,
//     SECRET_PREFIX + partner id, created with the claim's secretVersionId as
//     ClientRequestToken, so the version holding the key is known before it exists; then one
//     DynamoDB transaction (outbox.Store.CommitAll): the Partner Onboarded and Credential Issued
//     records, the proof used up (the invite's redemption, or the AWS account's claim), the
//     partner, the registry entry, and the completion of the idempotency record (issue.go —
//     the same path the pick-up takes). All of it happens or none of it does;
//  6. a tier with approvalRequired: nothing is issued. One transaction records the Onboarding
//     Pending event (for the partner id the claim reserved), the proof used up, the pending
//     onboarding (below) and the completion of the idempotency record with the 202 answer:
//     {onboardingId, status: pending, pickupToken, expiresAt}.
//
// Every request refused after step 1 (and, for a pick-up, after the same checks of its header,
// content type, body and onboarding id's form) — an answer with a 4xx problem, a replayed
// refusal included — adds 1 to its window's count under its problem type's anchor
// (Handler.Refusals: one UpdateItem to the refusals table, shared/stores/refusals), which the
// audit-refusals function writes to the audit log once the window has closed. A count that
// fails or times out is logged and changes nothing of the answer.
//
// The key lives in memory and in Secrets Manager only: never in DynamoDB (the registry holds its
// SHA-256, the idempotency record the answer without it), a log, an error or a trace. The same
// holds for the invite code, the pick-up token and the identity request (its Authorization
// header and session token), which only ever meet the tables as hashes.
//
// # The idempotency record
//
// Table "idempotency", one item per request, purged by TTL (purgeAt) 24 hours after its
// creation. A record is scoped to the request's identity proof: its partition key names the
// operation, the proof and the SHA-256 of the Idempotency-Key — never the header itself, which
// is read into a secret.Value and otherwise only hashed:
//
//	"createPartner#invite#"  + the invite's hash (invite.Hash: the invites table's key)
//	"createPartner#account#" + the AWS account STS verified
//	"pickup#token#"          + the pick-up token's hash (the onboarding's pickupTokenHash)
//	                         + "#sha256:" + hex SHA-256 of the Idempotency-Key
//
// So the same header with another proof is another request: whoever copies or guesses a
// partner's Idempotency-Key and sends it with another invite, account or token gets an answer
// of their own, and can neither take the partner's record first nor read its answer.
//
//	idempotencyKey  S  the key above
//	requestHash     S  SHA-256 (hex) of the canonical request: the parsed body marshalled again,
//	                   scopes sorted (a pick-up's: the onboarding id and the token), so the same
//	                   request hashes alike however it was spelled
//	state           S  "in-flight" | "completed"
//	leaseUntil      N  unix ms: an in-flight claim past it may be taken over
//	partnerId       S  the partner id chosen at claim time (a pick-up's: the onboarding's)
//	secretVersionId S  the CreateSecret ClientRequestToken chosen at claim time (a UUID; a
//	                   pick-up's: the onboarding's)
//	statusCode      N  the answer's status, once completed
//	responseBody    S  the answer's body, once completed; a 201's without apiKey, a 202's
//	                   without pickupToken
//	secretArn       S  the secret, once completed with 201
//	createdAt       S  RFC 3339, UTC
//	completedAt     N  unix ms, the time of the attempt that answered, once completed
//	purgeAt         N  unix seconds, createdAt + 24 h (TTL)
//
// A claim is one conditional PutItem: it succeeds when no record exists (or the one there is past
// purgeAt, which DynamoDB's TTL deletes only lazily) and otherwise returns the record. A
// completed record is replayed: a 201 by reading the key back from Secrets Manager by the
// recorded version id — only within the policy's onboarding.replayWindow from completedAt;
// after it the replay is 409 replay-window-closed, without the key, and the record stays until
// its purge so that a late replay runs nothing again — a 202 without its pick-up token (the
// token is kept nowhere, not even encrypted: the replay says, in its detail member, that it
// was shown once), a refusal as it was answered (neither holds a secret: both replay for the
// record's lifetime). An in-flight record whose lease has run out — its attempt crashed, timed
// out or gave up with a 5xx — is taken over with an UpdateItem conditioned on the lease seen, and
// the new attempt goes on with the recorded partner id and secret version id: it finds the
// secret the earlier attempt may have created and uses that key, so a crashed attempt
// converges on one partner and one secret instead of leaving two.
//
// Every later write of the record is conditioned on the lease this attempt holds. The
// transaction's completion item carries that condition too, so an attempt whose lease was taken
// over cannot commit (it answers 409 and leaves everything to the attempt that holds the lease),
// and two attempts can never both commit. An attempt that fails with a 5xx releases its claim
// (leaseUntil = 0) so that the client's retry takes it over at once.
//
// # Secrets that lose
//
// Two requests with different keys and one invite (or one AWS account) both create a secret;
// the invite's Redeem condition (the account claim's) lets one transaction commit. The other
// force-deletes its secret (no partner names it) and completes its record with the refusal.
// A refusal after a takeover deletes the secret an earlier attempt may have left the same way.
//
// # Pending onboardings
//
// Table "onboardings", one item per onboarding of a tier that needs an approval, partition key
// onboardingId ("onb-" + 26 base32 characters), purged by TTL (purgeAt) 30 days after its
// expiry (onboardings.go):
//
//	onboardingId     S  the key
//	partnerId        S  the partner id reserved for the pick-up (the claim's)
//	secretVersionId  S  the ClientRequestToken reserved for the pick-up's secret
//	partnerName, tier, scopes (L of S, sorted), justification, policyRevision (N): the decision
//	identityMethod   S  "invite" (with inviteId) | "sts" (with accountId and arn)
//	pickupTokenHash  S  "sha256:" + hex SHA-256 of the token; never the token
//	status           S  pending | approved | denied | collected | expired (stored only when a
//	                    refused pick-up seals an approved onboarding past its expiry)
//	createdAt        S  RFC 3339, UTC
//	expiresAt        S  createdAt + PendingLifetime (7 days: a constant, not a policy setting);
//	                    it ends the wait for ops and the pick-up alike
//	expiresAtMs      N  the same instant in unix ms, for conditions
//	decidedBy, decidedAt, reason   the approval or denial (decidedBy: the caller's IAM ARN)
//	collectedAt      S  the pick-up
//	purgeAt          N  unix seconds, expiresAt + 30 days (TTL)
//
// Ops approve or deny a pending onboarding that has not expired (AdminHandler), the status
// change and its event (Onboarding Approved / Denied, actor the caller's IAM ARN) in one
// transaction, the condition re-checked by DynamoDB; a denial also frees the AWS account the
// onboarding claimed. The list (GET /v1/admin/onboardings) scans the table: onboardings that
// need an approval come at ops volumes, and TTL bounds the table.
//
// # The pick-up
//
// POST /v1/onboardings/{onboardingId}/pickup with {"pickupToken"} and an Idempotency-Key
// (pickup.go). Before the claim, nothing recorded: the onboarding must exist and hold the
// token's hash (else 403 pickup-invalid, one fixed answer), and ops must have decided (else
// 409 conflict: retry later). Under the claim (scoped to the token's hash, with the
// onboarding's partner id and secret version id): only an approved onboarding that has not expired is collected —
// denied, expired and collected ones are 403 pickup-invalid, recorded — by exactly what an
// onboarding without approval creates (issue.go) plus, in the same transaction, the
// onboarding's move to collected, conditioned on it being approved, unexpired and holding the
// token's hash (and, for an STS proof, the account claim made the partner's). Two pick-ups
// with different keys converge on one secret (same name, same version id) and one commits; the
// other is refused and leaves the secret alone. A pick-up refused after making a secret
// deletes it only once it has sealed the onboarding expired, so no other pick-up can still
// collect it.
package onboarding
