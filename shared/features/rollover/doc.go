// Package rollover is what follows a rotation (flow 4 of the design): the partner picks up its
// new key, confirms it switched, and the previous key retires.
//
// # The partner routes (Handler, function "credentials")
//
//   - GET /v1/credentials/current (partner key, any scope): the partner's current key — its
//     plaintext, read from the partner's secret in Secrets Manager, its key id and the end of
//     its validity window — whether the request was made with the current key or with the
//     previous one within its grace, and while a previous key is still accepted, that key's id,
//     grace deadline and (once acknowledged) retirement time. The answer is marked
//     Cache-Control: no-store. The pick-up of a rotated key is a decision recorded once per key:
//     the first GET made with the previous key commits Credential Picked Up (method "rotation")
//     with a pickedUpAt marker on the current key's registry entry, in one transaction, before
//     the key is answered (a commit that fails answers a 500 without the key). Every other GET
//     only reads: one made with the current key (the partner holds it already) and any after the
//     marker.
//   - POST /v1/credentials/ack (partner key, any scope): the partner confirms it switched to
//     the current key, and must say so with it: acknowledging with the previous key is refused
//     (409). The previous key's retirement time becomes min(now + the tier's drain window, its
//     grace deadline), stored on its registry entry (retireAt) together with acknowledgedAt, in
//     one transaction with the Credential Rotation Acknowledged event (outbox): the partner's
//     acknowledgement is a lifecycle decision, and every decision is committed with its
//     record. A second acknowledgement changes nothing and answers the same; with no previous
//     key still accepted there is nothing to do (200).
//
// The key is read by the version the registry names for the current key (its
// secretVersionId), not by the AWSCURRENT label: the two name the same version once a rotation
// is complete, and between finishSecret's commit and its move of AWSCURRENT only the registry
// is right (the authorizer already accepts the new key). Only a secret under the partner
// secrets' prefix is read, and the value read must be that key: its key id and its SHA-256
// must match the registry entry.
//
// # Retirement (Retirer, function "retirement", on a schedule)
//
// Every run scans the credentials table for previous keys and:
//
//   - retires each previous key whose retirement time (retireAt, once acknowledged) or grace
//     deadline has come: previous → retired, the partner item's previousKeyId cleared, and
//     Credential Retired (reason "acknowledged" or "grace-ended"), in one transaction per key,
//     each write conditioned on the state read; registry.Entry.Accepts already refuses the key
//     from that moment, so retirement records what the verify path does;
//   - warns ops, once per key, when an unacknowledged previous key's grace ends within the
//     tier's warnBeforeGraceEnds: Credential Grace Ending, committed with a marker on the entry
//     (graceWarnedAt) that the next run finds;
//   - after retiring keys, flushes API Gateway's authorizer cache
//     (FlushStageAuthorizersCache), so a cached Allow for a retired key goes at once. A key
//     retires with a flushPending marker, cleared once a flush succeeded: a run that retired
//     keys and then failed to flush leaves the markers, and the next run flushes for them. A
//     flush is called only when a key retired since the last successful one.
//
// A Scan is right at these volumes: one item per key ever issued (partners × rotations), read
// once a minute and paged through; the filter keeps active and retired keys' items off the
// wire, not off the read capacity. At a scale where that matters, a sparse index on the
// previous keys would replace it. Every write is conditioned on what the scan read, so a stale
// read, a concurrent rotation or a second run cancels a write instead of doubling it: runs are
// idempotent and may overlap.
//
// Keys never reach a log, an error, a trace or an event: keys are credential.Key (rendered
// [redacted]), and errors are built from ids and the SDK's errors.
package rollover
