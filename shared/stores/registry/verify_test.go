package registry_test

import (
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	store := &registry.Store{DB: db, Table: table}
	register := func(status registry.Status, grace time.Time) credential.Key {
		e, k := newEntry(t)
		e.Status, e.GraceUntil = status, grace
		if err := putNew(t, db, e); err != nil {
			t.Fatal(err)
		}
		return k
	}
	active := register(registry.StatusActive, time.Time{})
	pending := register(registry.StatusPending, time.Time{})
	previous := register(registry.StatusPrevious, t0.Add(time.Hour))
	retired := register(registry.StatusRetired, time.Time{})
	revoked := register(registry.StatusRevoked, time.Time{})
	unknown, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		t.Fatal(err)
	}
	inside := t0.Add(time.Minute)
	afterLifetime := t0.Add(91 * 24 * time.Hour)
	for _, tc := range []struct {
		name          string
		key           credential.Key
		now           time.Time
		acceptPending bool
		accepted      bool
		reason        string
		err           error
	}{
		{"active", active, inside, false, true, registry.ReasonActive, nil},
		{"active, pending accepted too", active, inside, true, true, registry.ReasonActive, nil},
		{"active past its lifetime", active, afterLifetime, true, false, registry.ReasonExpired, nil},
		{"pending, as the authorizer sees it", pending, inside, false, false, registry.ReasonPending, nil},
		{"pending, as testSecret sees it", pending, inside, true, true, registry.ReasonPending, nil},
		{"pending before its window", pending, t0.Add(-time.Second), true, false, registry.ReasonNotYetValid, nil},
		{"pending past its window", pending, afterLifetime, true, false, registry.ReasonExpired, nil},
		{"previous within grace", previous, inside, false, true, registry.ReasonGrace, nil},
		{"previous past grace", previous, t0.Add(time.Hour), true, false, registry.ReasonGraceEnded, nil},
		{"retired", retired, inside, true, false, registry.ReasonRetired, nil},
		{"revoked", revoked, inside, true, false, registry.ReasonRevoked, nil},
		{"unknown key id", unknown, inside, true, false, "", registry.ErrNotFound},
		{"forged secret", forgeSecret(t, active), inside, true, false, "", registry.ErrMismatch},
		{"no key", credential.Key{}, inside, true, false, "", registry.ErrMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := registry.Verify(t.Context(), store, tc.key, tc.now, tc.acceptPending)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Verify: %v, want %v", err, tc.err)
				}
				if msg := err.Error(); !tc.key.IsZero() && strings.Contains(msg, tc.key.Plaintext().Reveal()) {
					t.Fatal("the error contains the key") // never print msg: it holds it
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if v.Accepted != tc.accepted || v.Reason != tc.reason || v.Entry.KeyID != tc.key.ID() {
				t.Errorf("Verify = accepted %v, reason %q, key %s; want %v, %q, %s", v.Accepted, v.Reason, v.Entry.KeyID, tc.accepted, tc.reason, tc.key.ID())
			}
		})
	}
}

// A failed registry read is Verify's error, neither ErrNotFound nor ErrMismatch.
func TestVerifyLookupFailure(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	boom := errors.New("throttled")
	db.Intercept = func(string, any) error { return boom }
	_, k := newEntry(t)
	_, err := registry.Verify(t.Context(), &registry.Store{DB: db, Table: table}, k, t0, true)
	if !errors.Is(err, boom) || errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrMismatch) {
		t.Fatalf("Verify when DynamoDB fails: %v", err)
	}
}

// forgeSecret returns a well-formed key with k's id and another secret: its checksum is right,
// so only the verifier can tell.
func forgeSecret(t *testing.T, k credential.Key) credential.Key {
	t.Helper()
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	other, err := credential.Generate(k.Env(), nil)
	if err != nil {
		t.Fatal(err)
	}
	body := k.Plaintext().Reveal()[:32] + other.Plaintext().Reveal()[32:64]
	crc := crc32.ChecksumIEEE([]byte(body))
	sum := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		sum[i] = base62[crc%62]
		crc /= 62
	}
	forged, err := credential.Parse(body + string(sum))
	if err != nil || forged.ID() != k.ID() {
		t.Fatalf("forged key does not parse as key %s: %v", k.ID(), err)
	}
	return forged
}

// VerifyToken parses the token before any read, and then is Verify: a token that is not a
// key is ErrMalformed; the other refusals name the key id; no error holds the token.
func TestVerifyToken(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	store := &registry.Store{DB: db, Table: table}
	e, active := newEntry(t)
	if err := putNew(t, db, e); err != nil {
		t.Fatal(err)
	}
	unknown, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	db.Intercept = func(string, any) error { reads++; return nil }
	if _, err := registry.VerifyToken(t.Context(), store, "not-a-key", t0); !errors.Is(err, registry.ErrMalformed) || reads != 0 {
		t.Errorf("a malformed token: error %v after %d reads, want ErrMalformed before any", err, reads)
	}
	db.Intercept = nil
	genuine := active.Plaintext().Reveal()
	for _, tc := range []struct {
		name     string
		token    string
		accepted bool
		keyID    credential.KeyID
		err      error
	}{
		{"the active key", genuine, true, active.ID(), nil},
		{"a key unknown to the registry", unknown.Plaintext().Reveal(), false, unknown.ID(), registry.ErrNotFound},
		{"the key id's secret forged", forgeSecret(t, active).Plaintext().Reveal(), false, active.ID(), registry.ErrMismatch},
		{"a wrong checksum", genuine[:len(genuine)-1] + otherThan(genuine[len(genuine)-1:]), false, "", registry.ErrMalformed},
		{"not a key at all", "hello", false, "", registry.ErrMalformed},
		{"the key id alone", string(active.ID()), false, "", registry.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := registry.VerifyToken(t.Context(), store, tc.token, t0.Add(time.Minute))
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("VerifyToken: error %v, want %v", err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), tc.token) {
				t.Fatal("the error contains the token") // never print it
			}
			if v.Accepted != tc.accepted || v.Entry.KeyID != tc.keyID {
				t.Errorf("VerifyToken = accepted %v, key %q; want %v, %q", v.Accepted, v.Entry.KeyID, tc.accepted, tc.keyID)
			}
		})
	}
}

// otherThan is a one-character string that is not c: a key's last character changed for sure.
func otherThan(c string) string {
	if c == "x" {
		return "y"
	}
	return "x"
}
