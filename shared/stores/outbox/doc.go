// Package outbox commits every decision together with its audit record, and keeps the records
// in hash chains: a partner's lifecycle chain, its token exchange lanes and the ops chain
// (chain.go says which decision goes where).
//
// # No decision without its record
//
// A decision (onboard, issue, rotate, revoke …) is one DynamoDB TransactWriteItems call: the
// caller's state changes plus the two items Append builds — the Put of the outbox record and
// the Update of the chain's head. The transaction commits all of them or none, so a
// state change never lands without its record and a record never lands without its state
// change. Store.Commit does the whole round: read the head, append, write, retry on a head
// conflict. A decision that records several events (onboarding: Partner Onboarded, then
// Credential Issued) gives them consecutive seqs in its one transaction (Store.CommitAll).
//
// # The table
//
// The outbox table (topology name "outbox") is keyed by chain (S, partition key: the chain id)
// and seq (N, sort key). It streams NEW_IMAGE to the relay (package relay), which publishes each
// record's event to the bus, telling consumers where the record sits (events.RecordRef).
//
//   - seq ≥ 1 is a record: chain, seq, eventId, detailType, detail (the event's JSON exactly
//     as events.Marshal produced it), time, prevHash, hash. Records are written once
//     (attribute_not_exists) and never rewritten; the hash does not cover what is added later:
//     publishedAt and busEventId (the relay), auditedAt (the audit writer, MarkAudited), nor
//     auditPending and committedAt, which key the audit-pending index until the record is in
//     the audit log.
//   - seq 0 is the chain's head, never a record: headSeq (N, the seq of the latest record),
//     headHash (S, its hash) and owner (S, ChainOwner), which the chains index lists; and the
//     audit exporter's cursor, exportedSeq and exportedHash (the last record exported to the
//     audit bucket), and exportPending (the chain's shard, set by every Append, removed once
//     the cursor reaches the head), which keys the export-pending index (Exports). It lives
//     in the chain's own partition so a consistent GetItem reads it, and so a Query for seq ≥ 1
//     reads the records alone.
//
// The head makes concurrent decisions on one chain safe: Append guards the head's Update
// with the head it read (attribute_not_exists for a chain's first record, otherwise headSeq
// and headHash equal to what was read), and the record's Put with attribute_not_exists. Of two
// decisions that read the same head, exactly one commits; the other's transaction is cancelled
// with ConditionalCheckFailed (or TransactionConflict while the first is in flight) and
// Store.Commit reads the head again and retries, a bounded number of times.
//
// # The chain
//
// Each chain's records run seq 1, 2, 3 … without gaps; each record's prevHash
// is the hash of the record before it, and the first record's prevHash is GenesisHash (64
// zeros, so prevHash always has the same shape); each record's hash is the SHA-256 of its
// canonical encoding. Verify checks a chain and names the first broken seq; the head, which
// Store.VerifyPartner compares with the last record, also exposes a chain cut short at the end.
//
// # Canonical encoding (version 1)
//
// A record's hash is the lowercase hex SHA-256 of the concatenation of eight netstrings, in
// this order:
//
//	"lanyard.outbox.v1", chain, seq, eventId, detailType, time, prevHash, detail
//
// (For a lifecycle chain the chain id is the partner id, as it was when this field was named
// partnerId: the encoding and every hash are unchanged.)
//
// A netstring is the byte length of the value in ASCII decimal, ":", the value's bytes, ","
// — so "p-1" is encoded as 3:p-1, (with the trailing comma). Values are UTF-8 and taken as
// stored in the table:
//
//   - seq in decimal with no sign and no leading zeros ("1", "42");
//   - time in RFC 3339 in UTC as Go's time.RFC3339Nano prints it: "Z", and a fraction of one
//     to nine digits without trailing zeros, left out when zero ("2026-11-23T12:00:00Z",
//     "2026-11-23T12:00:00.1234Z");
//   - prevHash as 64 lowercase hex digits;
//   - detail, the event's JSON byte for byte as stored (never re-encoded: a verifier hashes
//     the stored string, not a re-serialisation of it).
//
// The first netstring names the encoding, so a later version cannot be mistaken for this one.
// TestCanonicalEncodingVector pins an example record and its hash, computed independently.
package outbox
