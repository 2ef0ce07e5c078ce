// Package credential is the partner API key: its format, how it is minted and parsed, the
// verifier the registry stores in its place, and how a key is read from an Authorization header.
//
// # The key
//
// A key is 70 characters of [A-Za-z0-9_], safe in URLs, headers and shell arguments:
//
//	lnyd_test_ku36uznzhc225sgjotcsh_Rq0Uc9KVvjwnRaQxFIOmPi2nguxZxYg44SOoFY
//	^    ^    ^                     ^                               ^
//	pfx  env  key id                secret                          checksum
//
// (an example: it is in no registry). The grammar, every part of fixed width:
//
//	key      = "lnyd" "_" env "_" key-id "_" secret checksum   ; 70 characters
//	env      = "live" / "test" / "locl"                        ; 4
//	key-id   = "k" 20base32                                    ; 21, lowercase RFC 4648 alphabet a-z 2-7
//	secret   = 32base62                                        ; 32, alphabet 0-9 A-Z a-z, ~190 bits
//	checksum = 6base62                                         ; CRC-32 (IEEE) of everything before it,
//	                                                           ; big-endian base62, left-padded with "0"
//
// Why this shape:
//
//   - The prefix and environment let secret scanners (ours, GitHub's, a CloudWatch Logs data
//     protection policy) find a leaked key and tell a live key from a test one: ScannerPattern is
//     the regular expression to give them. The checksum lets them, and Parse, tell a real key
//     from a string of the same shape without asking anyone.
//   - Every environment code has four letters ("locl", not "local") so that every key has the same
//     length, as Stripe's sk_live_/sk_test_ do: the first check Parse makes is one length
//     comparison, and a scanner's pattern has no alternatives of different lengths.
//   - The key id is public: it names the key in the registry, in logs and in audit records, and it
//     is lowercase base32 (no digits 0 or 1 to mistake for o or l) so ops can read it aloud or
//     type it. Its 100 random bits make collisions negligible; the registry's conditional write
//     catches one anyway.
//   - The secret is 32 characters drawn uniformly from 62 (rejection sampling over crypto/rand
//     bytes), about 190 bits, well beyond the 128 the design asks for.
//   - The checksum is CRC-32 as GitHub's tokens use it: it catches every error confined to 32
//     consecutive bits, so every single-character change and every swap of neighbours. Six
//     base62 digits hold 62^6 > 2^32 values, so the encoding has a fixed width. It is not a
//     MAC and protects nothing against someone who forges keys; it exists so that malformed keys
//     are refused before the registry is read.
//
// # Parsing and errors
//
// Parse checks length, prefix, environment, separators, the alphabet of each part and the
// checksum, in that order, with no I/O and one small allocation (a copy of the key id, so a cache
// keyed by it does not keep the plaintext alive). Its errors match ErrMalformed with errors.Is,
// the more specific ones ErrUnknownEnvironment or ErrChecksum too, and they are fixed messages:
// no refusal from this package (Parse, the header readers, ParseKeyID, ParseEnvironment,
// ParseVerifier) ever contains its input or any part of a key. The reasons are for
// our logs; a partner gets 401 and nothing more.
//
// Parse accepts keys of every environment; a function compares Key.Env with the environment it
// serves before it looks the key id up.
//
// # The verifier
//
// The registry never holds a key. It holds a Verifier: the SHA-256 of the whole key string (what
// `printf %s "$KEY" | sha256sum` prints), stored with Encode as "sha256:<64 hex digits>".
// Hashing the whole key rather than the secret part alone binds the environment and the key id
// into the digest at no cost, and lets ops check a verifier by hand. A fast hash is right here:
// bcrypt, scrypt and argon2 exist to slow down guessing of low-entropy passwords, and a
// 190-bit secret cannot be guessed at any speed, so a slow hash would only cost every request
// its latency. Matches compares digests with crypto/subtle in constant time.
//
// A verifier is not a secret (it cannot be turned back into a key), but it is kept out of logs
// anyway: it would let anyone who reads logs tie a leaked key to a partner without access to the
// registry, and a 64-digit hex string in a log looks like a secret to every scanner. So every
// rendering of a Verifier (fmt, slog, JSON) shows [redacted]; Encode is the one way out, for the
// registry write.
//
// # Rendering a key
//
// A Key formats (fmt, every verb) as lnyd_<env>_<key id>_[redacted], logs (slog) as the group
// {env, id}, and marshals to JSON as {"env":…,"id":…}. Only Key.Plaintext().Reveal() gives the
// key itself: for the response that shows it once, and the Secrets Manager write.
package credential
