// Package onboarding is POST /v1/partners: a partner proves its identity with the one-time invite
// code ops issued, asks for scopes within its tier, and gets its partner id and API key — shown
// this once, and again only to a replay of the same request.
//
// # One request
//
// Handler.Handle answers, in order:
//
//  1. the Idempotency-Key header (1–128 visible ASCII characters; 400 missing-idempotency-key),
//     the Content-Type (application/json; 415) and the body (api.ValidateBody; 400). These
//     refusals are not remembered under the key: nothing was done, and the client corrects the
//     request;
//  2. the claim of the key (below): a replay is answered from the record, a key used with
//     another body gets 422, a request still in flight under the key 409;
//  3. the invite (invite.Store.Lookup; its partner name must be the request's), the scopes
//     (policy.Decide against the invite's tier) and the tier's ops approval (approval.go). A
//     refusal here is a decision about the request, so the record keeps it: a replay gets the
//     same 403;
//  4. the key (credential.Generate) and its secret, SECRET_PREFIX + partner id, created with
//     the claim's secretVersionId as ClientRequestToken, so the version holding the key is known
//     before it exists;
//  5. one DynamoDB transaction (outbox.Store.CommitAll): the Partner Onboarded and Credential
//     Issued records, the invite's redemption, the partner, the registry entry, and the
//     completion of the idempotency record. All of it happens or none of it does.
//
// The key lives in memory and in Secrets Manager only: never in DynamoDB (the registry holds its
// SHA-256, the idempotency record the answer without it), a log, an error or a trace.
//
// # The idempotency record
//
// Table "idempotency", one item per key, partition key idempotencyKey = "createPartner#" + the
// header, purged by TTL (purgeAt) 24 hours after its creation:
//
//	idempotencyKey  S  "createPartner#" + Idempotency-Key
//	requestHash     S  SHA-256 (hex) of the canonical request: the parsed body marshalled again,
//	                   scopes sorted, so the same request hashes alike however it was spelled
//	state           S  "in-flight" | "completed"
//	leaseUntil      N  unix ms: an in-flight claim past it may be taken over
//	partnerId       S  the partner id chosen at claim time
//	secretVersionId S  the CreateSecret ClientRequestToken chosen at claim time (a UUID)
//	statusCode      N  the answer's status, once completed
//	responseBody    S  the answer's body, once completed; a 201's without apiKey
//	secretArn       S  the secret, once completed with 201
//	createdAt       S  RFC 3339, UTC
//	purgeAt         N  unix seconds, createdAt + 24 h (TTL)
//
// A claim is one conditional PutItem: it succeeds when no record exists (or the one there is past
// purgeAt, which DynamoDB's TTL deletes only lazily) and otherwise returns the record. A
// completed record is replayed: a 201 by reading the key back from Secrets Manager by the
// recorded version id, a refusal as it was answered. An in-flight record whose lease has run
// out — its attempt crashed, timed out or gave up with a 5xx — is taken over with an UpdateItem
// conditioned on the lease seen, and the new attempt goes on with the recorded partner id and
// secret version id: it finds the secret the earlier attempt may have created and uses that key,
// so a crashed attempt converges on one partner and one secret instead of leaving two.
//
// Every later write of the record is conditioned on the lease this attempt holds. The
// transaction's completion item carries that condition too, so an attempt whose lease was taken
// over cannot commit (it answers 409 and leaves everything to the attempt that holds the lease),
// and two attempts can never both commit. An attempt that fails with a 5xx releases its claim
// (leaseUntil = 0) so that the client's retry takes it over at once.
//
// # Secrets that lose
//
// Two requests with different keys and one invite both create a secret; the invite's Redeem
// condition lets one transaction commit. The other force-deletes its secret (no partner names
// it) and completes its record with 403 invite-invalid. A refusal after a takeover deletes the
// secret an earlier attempt may have left the same way.
package onboarding
