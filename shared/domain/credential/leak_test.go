package credential_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
)

// TestNoRenderingShowsTheSecret plants a key, its secret part and its verifier as canaries and
// renders them every way code might: fmt verbs, JSON, slog (JSON and text), and the errors from
// refusing the key in every malformed variant. No test here may run in parallel (Plant).
func TestNoRenderingShowsTheSecret(t *testing.T) {
	c := secrettest.Plant(t)
	k := generate(t, credential.EnvLive)
	s := k.Plaintext().Reveal()
	v := credential.NewVerifier(k)
	c.Add("key", s)
	c.Add("secret part", s[credential.SecretStart:credential.SecretEnd])
	c.Add("verifier", strings.TrimPrefix(v.Encode(), "sha256:"))

	type record struct {
		Partner  string
		Key      credential.Key
		Ptr      *credential.Key
		Verifier credential.Verifier
	}
	r := record{Partner: "p-1", Key: k, Ptr: &k, Verifier: v}

	shown := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%-8v"} {
		shown["key "+verb] = fmt.Sprintf(verb, k)
		shown["pointer "+verb] = fmt.Sprintf(verb, &k)
		shown["record "+verb] = fmt.Sprintf(verb, r)
		shown["verifier "+verb] = fmt.Sprintf(verb, v)
	}
	shown["String"] = k.String()
	shown["Sprint"] = fmt.Sprint(k, r, &r)
	shown["Sprintln"] = fmt.Sprintln(k, v)
	shown["wrapped error"] = fmt.Errorf("issue %v for %s: %w", k, k, errors.New("boom")).Error()
	for name, x := range map[string]any{"key": k, "record": r, "verifier": v, "slice": []credential.Key{k}} {
		js, err := json.Marshal(x)
		if err != nil {
			t.Fatalf("marshal %s: %v", name, err)
		}
		shown["JSON "+name] = string(js)
	}
	for name, text := range shown {
		c.CheckText(name, text)
	}

	// slog.Default is Plant's JSON capture; the text handler writes there too.
	slog.Info("key issued", "key", k, "record", r, "verifier", v, slog.Any("ptr", &k))
	slog.New(slog.NewTextHandler(c.Writer(), nil)).Info("key issued", "key", k, "record", r, "verifier", v)
	c.Logger().Info("key issued", "key", k)

	// Every refusal of a variant of the key, and of the key in the wrong place.
	for i := range s {
		_, err := credential.Parse(changed(s, i))
		c.CheckError(err)
		_, err = credential.FromAuthorizationHeader("Bearer " + changed(s, i))
		c.CheckError(err)
	}
	for _, h := range []string{s, "Basic " + s, "Bearer " + s + " x", "Bearer\t" + s, "Bearer " + s[1:], s + s} {
		_, err := credential.FromAuthorizationHeader(h)
		c.CheckError(err)
	}
	_, err := credential.FromHeaders(map[string]string{"Authorization": "Bearer " + s, "authorization": s})
	c.CheckError(err)
	_, err = credential.ParseKeyID(s)
	c.CheckError(err)
	_, err = credential.ParseEnvironment(s)
	c.CheckError(err)
	_, err = credential.ParseVerifier(v.Encode() + "0")
	c.CheckError(err)

	// The renderings are not empty: they show the public parts and the redaction.
	for _, name := range []string{"key %v", "key %+v", "key %#v", "record %+v"} {
		if !strings.Contains(shown[name], string(k.ID())) || !strings.Contains(shown[name], "[redacted]") {
			t.Errorf("%s rendering lacks the key id or [redacted]", name) // the rendering itself may hold the secret
		}
	}
	if want := fmt.Sprintf(`{"env":"live","id":%q}`, k.ID()); shown["JSON key"] != want {
		t.Errorf("JSON of a key is not %s", want)
	}
	if shown["JSON verifier"] != `"[redacted]"` {
		t.Errorf("JSON of a verifier is not \"[redacted]\"")
	}
}

// TestRefusalsNeverEchoCanaries hands every reader in the package canaries that are not keys.
func TestRefusalsNeverEchoCanaries(t *testing.T) {
	c := secrettest.Plant(t)
	canary := c.New("not-a-key").Reveal()
	var errs []error
	keep := func(_ any, err error) { errs = append(errs, err) }
	keep(credential.Parse(canary))
	keep(credential.FromAuthorizationHeader(canary))
	keep(credential.FromAuthorizationHeader("Bearer " + canary))
	keep(credential.FromAuthorizationHeader("Basic " + canary))
	keep(credential.FromHeaders(map[string]string{"authorization": "Bearer " + canary}))
	keep(credential.FromMultiValueHeaders(map[string][]string{"Authorization": {"Bearer " + canary}}))
	keep(credential.ParseKeyID(canary))
	keep(credential.ParseEnvironment(canary))
	keep(credential.ParseVerifier(canary))
	for i, err := range errs {
		if err == nil {
			t.Fatalf("call %d accepted a canary", i)
		}
		c.CheckError(err)
		slog.Info("refused", "err", err)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %+v", errs, errs)
	c.CheckText("errors", buf.String())
}
