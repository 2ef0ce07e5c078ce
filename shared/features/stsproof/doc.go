// Package stsproof proves a partner's AWS identity the way Vault's AWS auth method does: the
// partner signs an STS GetCallerIdentity request with its own credentials and hands it to
// Lanyard unsent; Lanyard checks the request, sends it to the STS endpoint it is configured
// with — never to a URL the partner chose — and learns from STS's answer which account and
// principal signed it.
//
// What makes a request acceptable (Verifier.Verify checks all of it before any I/O):
//   - a POST whose form body is exactly Action=GetCallerIdentity and Version=2011-06-15, so the
//     only thing STS can do with it is say who signed it;
//   - a SigV4 signature (AWS4-HMAC-SHA256, service sts) covering host, x-amz-date,
//     X-Lanyard-Server-ID and X-Lanyard-Request-SHA256: the first header carrying this
//     deployment's id, so a request signed for another service that uses the same trick
//     (Vault's X-Vault-AWS-IAM-Server-ID, another Lanyard) cannot be replayed here, nor ours
//     there; the second the digest of the request the proof is sent with (Verify's
//     requestDigest), so a captured proof cannot serve another request;
//   - signed for the configured STS endpoint's host, within MaxSkew (15 minutes) of now — STS
//     itself refuses older signatures too.
//
// Only an allow-list of headers is forwarded (Authorization, X-Amz-Date,
// X-Amz-Security-Token, X-Lanyard-Server-ID, X-Lanyard-Request-SHA256, Content-Type; Host and
// Content-Length follow from the endpoint and the body), so a signature may cover nothing
// else.
//
// Who signed is STS's answer; whether that principal may onboard is the policy's
// (policy.Account.Admits), not this package's.
//
// A Request carries a live signature and, for temporary credentials, a session token: it is
// a secret for as long as it is valid. Nothing here logs it, and refusals never quote it.
package stsproof
