// Package rotation is the Secrets Manager rotation function of partner keys (flow 4 of the
// design): Secrets Manager calls Handler.Handle with createSecret, setSecret, testSecret and
// finishSecret for one ClientRequestToken, the version id of the new key's secret version.
//
// # The steps
//
//   - createSecret mints a new key (credential.Generate) and puts it as the token's version of
//     the partner's secret, staged AWSPENDING. When that version already holds a value — an
//     earlier attempt with the token put it — it keeps that value, so every attempt converges
//     on one key.
//   - setSecret registers the pending key's verifier in the registry as pending (valid from
//     now for the tier's key lifetime, with the current key's scopes and tier) and records it
//     as the partner's pending key (pendingKeyId). A pending key an earlier, abandoned
//     rotation registered is retired in the same transaction.
//   - testSecret proves the pending key verifies through registry.Verify, the verify path's
//     check (lookup by key id, SHA-256 compared in constant time, status and validity window),
//     accepting it as pending. Secrets Manager's test of the rotation configuration — when
//     RotateSecret does not rotate immediately (onboarding, `lanyard rotation enable`), it runs
//     only testSecret, on a temporary AWSPENDING version holding a copy of the AWSCURRENT value
//     — passes without a write or an event when the pending value is byte for byte the
//     AWSCURRENT value and is the partner's current key: its registry entry, read by the
//     guards, is this partner's and active, and the key verifies against it. Any other pending
//     value that is not a pending key of this rotation, a copy of another partner's key or of
//     a previous or retired key included, is refused.
//   - finishSecret commits, in one transaction with the Credential Rotated event (outbox): the
//     new key pending → active, the old key active → previous with its grace deadline (now +
//     the tier's rotation.graceWindow), the partner's older previous key, if one is still
//     previous, → retired (one previous key at a time, as there is one AWSPREVIOUS), and the
//     partner's keyId moved to the new key (previousKeyId to the old one). Then it moves
//     AWSCURRENT to the token's version (Secrets Manager moves AWSPREVIOUS to the old one).
//     AWSPENDING stays on that version, as AWS's rotation templates leave it: RotateSecret
//     documents AWSPENDING on the AWSCURRENT version as an end state of a successful rotation,
//     and every reader here (the step guards, `lanyard rotation` status, RotateSecret itself)
//     takes a rotation to be in progress only while AWSPENDING is on a version that is not
//     AWSCURRENT.
//
// # Guards
//
// Every step first does what AWS's rotation templates do: DescribeSecret; rotation must be
// enabled; the token must be a version of the secret; a version already AWSCURRENT means the
// rotation is complete and the step does nothing; a version that is not AWSPENDING is refused.
// Then it finds the partner — the secret's lanyard:partner tag, else its name after the
// secret prefix — and checks the partner is active, the secret is the partner's, and the
// partner's current key is registered and active.
//
// Each step reads what it checks once. createSecret and testSecret read the partner's item,
// then the registry entries they look at in one consistent BatchGetItem. setSecret and
// finishSecret read the pending key first, then the partner's item (finishSecret: with its
// outbox head) and the pending key's entry in one consistent BatchGetItem; the current key's
// entry, which only their transaction depends on, they do not read: that it is active, the
// partner's, and of the tier (setSecret: and the scopes) they take from what they read is a
// condition of the transaction (registry.CheckCurrent, registry.SupersedeCurrent). A
// transaction those conditions cancel sends the step back to read the entries and run as it
// does with them read, so it refuses with the same reason (or, when only the assumption was
// wrong, does the same work). finishSecret puts the older previous key's retirement in its
// commit conditioned on that key being previous, and takes it out again when that condition
// alone cancels the commit.
//
// # Failures and retries
//
// Every step is idempotent on the token, and every state a failed step leaves is one from
// which the next attempt with the same token converges (Secrets Manager retries the whole
// rotation with the same token; LocalStack runs it again on the next RotateSecret):
//
//   - createSecret crashed after its put: the version holds the key, which the retry keeps; a
//     put that meets a version another attempt filled (ResourceExistsException) reads it back;
//   - setSecret crashed after its transaction: the entry is there with the same verifier, so
//     the retry does nothing (another verifier under the key id is an error);
//   - finishSecret crashed after its transaction but before the staging labels moved: the
//     partner's keyId already names the new key, which tells the retry the transaction
//     landed (its conditions would fail), so it only moves the labels; crashed after the move:
//     the version is AWSCURRENT and the guard ends the retry.
//
// A stale AWSPENDING — a rotation that failed on every retry and left AWSPENDING on its
// version — is handled as AWS documents it: RotateSecret refuses to start another rotation
// while AWSPENDING is on a version that is not AWSCURRENT ("assumes that a previous rotation
// request is still in progress"), so the stranded rotation is the one retried, with its own
// token, and converges on its own key. When an operator instead abandons it by taking
// AWSPENDING off the stale version (UpdateSecretVersionStage RemoveFromVersionId, as
// CancelRotateSecret's documentation directs), the next rotation mints a new key on its own
// version and its setSecret retires the stale version's pending registry entry, so the
// abandoned key can never become valid.
//
// A failing step returns an error, so Secrets Manager (or LocalStack) sees the rotation fail,
// and commits Credential Rotation Failed with the step and one of the Reason constants —
// never an error string — through the outbox, once per token and step: the commit carries a
// conditional marker on the partner's item (rotationFailure_<step> = token) that a second
// failure of the same step and token finds already set.
//
// # The partner item
//
// Besides shared/features/partner's keyId, rotation keeps two attributes on the partner's item:
// previousKeyId (the key the last rotation replaced; finishSecret retires it when the next
// rotation finishes, if it is still previous) and pendingKeyId (the key setSecret registered,
// removed by finishSecret), and the failure markers rotationFailure_<step>. The credentials
// table's by-partner index would find the same keys, but the DynamoDB fake the unit tests use
// does not query indexes, and one consistent read of the partner's item is cheaper.
//
// Key material never reaches a log, an error, a trace or an event: keys are credential.Key
// (which renders as [redacted]) and every error is built from ids, ARNs and the SDK's errors,
// which carry no secret values.
package rotation
