package authorizer_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/fakes/tracingtest"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// No key — genuine, forged or mangled — nor its verifier reaches a log line, an error, a trace
// segment or the response, whatever the outcome. (Not parallel: Plant swaps the process's
// logger and tracer.)
func TestNoKeyInLogsErrorsOrTraces(t *testing.T) {
	c := secrettest.Plant(t)
	f := newFixture(testRoutes)
	f.a.Logger = nil // slog.Default, which Plant captures

	k := generate(t, credential.EnvLocal)
	plain := k.Plaintext().Reveal()
	revoked := generate(t, credential.EnvLocal)
	unknown := generate(t, credential.EnvLocal)
	live := generate(t, credential.EnvLive)
	forged := forge(t, k)
	for label, v := range map[string]string{
		"partner key":       plain,
		"its secret part":   plain[32:64],
		"its verifier":      credential.NewVerifier(k).Encode(),
		"revoked key":       revoked.Plaintext().Reveal(),
		"unknown key":       unknown.Plaintext().Reveal(),
		"live key":          live.Plaintext().Reveal(),
		"forged key":        forged,
		"corrupted key":     corrupt(plain),
		"truncated key":     plain[:60],
		"basic credentials": "dXNlcjpwYXNzd29yZC1jYW5hcnktMTIzNDU2Nzg5",
	} {
		c.Add(label, v)
	}
	f.lookup.put(entryFor(k, "orders:read"))
	e := entryFor(revoked)
	e.Status = registry.StatusRevoked
	f.lookup.put(e)

	for _, h := range []string{
		"Bearer " + plain, // allow
		"Bearer " + plain, // allow, cached
		"Bearer " + revoked.Plaintext().Reveal(),
		"Bearer " + unknown.Plaintext().Reveal(),
		"Bearer " + live.Plaintext().Reveal(),
		"Bearer " + forged,
		"Bearer " + corrupt(plain),
		"Bearer " + plain[:60],
		"Basic dXNlcjpwYXNzd29yZC1jYW5hcnktMTIzNDU2Nzg5",
		plain, // no scheme
	} {
		resp, err := f.a.Authorize(t.Context(), request(map[string]string{"Authorization": h}))
		c.CheckError(err)
		b, merr := json.Marshal(resp)
		if merr != nil {
			t.Fatal(merr)
		}
		c.CheckText("response", string(b))
	}

	// A registry failure is logged with its error: the error is the registry's, never the key.
	f.lookup.mu.Lock()
	f.lookup.err = errors.New("registry down")
	f.lookup.mu.Unlock()
	_, err := f.a.Authorize(t.Context(), request(bearer(unknown)))
	c.CheckError(err)
}

type segment struct {
	Name        string            `json:"name"`
	Fault       bool              `json:"fault"`
	Annotations map[string]string `json:"annotations"`
}

// Each decision is one "authorize" span, annotated with its outcome and, once the key's
// secret matched, the partner; a failed registry read is a fault, a refusal is not.
func TestTraces(t *testing.T) {
	rec := tracingtest.Install(t)
	f := newFixture(testRoutes)
	k := generate(t, credential.EnvLocal)
	f.lookup.put(entryFor(k))
	unknown := generate(t, credential.EnvLocal)

	if _, err := f.a.Authorize(t.Context(), request(bearer(k))); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.Authorize(t.Context(), request(bearer(unknown))); !isUnauthorized(err) {
		t.Fatal(err)
	}
	f.lookup.err = errors.New("registry down")
	if _, err := f.a.Authorize(t.Context(), request(bearer(unknown))); err == nil {
		t.Fatal("a failed read answered")
	}

	var got []segment
	for _, doc := range rec.Documents() {
		var s segment
		if err := json.Unmarshal([]byte(doc), &s); err != nil {
			t.Fatalf("segment is not JSON: %v", err)
		}
		if s.Name == "authorize" {
			got = append(got, s)
		}
	}
	want := []segment{
		{Name: "authorize", Annotations: map[string]string{"partner": partnerID, "outcome": "allow"}},
		{Name: "authorize", Annotations: map[string]string{"outcome": "unauthorized"}},
		{Name: "authorize", Fault: true, Annotations: map[string]string{"outcome": "error"}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d authorize segments, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Fault != want[i].Fault || len(got[i].Annotations) != len(want[i].Annotations) {
			t.Errorf("segment %d: %+v, want %+v", i, got[i], want[i])
			continue
		}
		for key, v := range want[i].Annotations {
			if got[i].Annotations[key] != v {
				t.Errorf("segment %d: annotation %s = %q, want %q", i, key, got[i].Annotations[key], v)
			}
		}
	}
}
