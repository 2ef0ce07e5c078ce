package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
)

const (
	revokePartner = "p-d4xq7m2kf5hb3nz6w2yr7tcvae"
	revokeKey     = "ku36uznzhc225sgjotcsh"
	revokedBody   = `{"revocationId":"rev-019a8f4e-7c2b-7d31-9a4e-5b6c7d8e9f01","partnerId":"p-d4xq7m2kf5hb3nz6w2yr7tcvae","keyIds":["kq2w3e4r5t6y7u2i3o4pa","ku36uznzhc225sgjotcsh"],"alreadyEnded":[],"reason":"compromised","revokedAt":"2026-11-24T09:30:00Z"}`
	replacedBody  = `{"revocationId":"rev-019a8f4e-7c2b-7d31-9a4e-5b6c7d8e9f02","partnerId":"p-d4xq7m2kf5hb3nz6w2yr7tcvae","keyIds":["ku36uznzhc225sgjotcsh"],"alreadyEnded":[],"reason":"compromised","revokedAt":"2026-11-24T09:30:00Z","replacement":{"replacementId":"rpl-5m3k7q2s4u6w3y5a7c2e4g6i3k","keyId":"kr4t6y2u3i4o5p6a7s2db","pickupToken":"lnyd_pku_ExampleOnlyNotARealPickupToken0000000000000","expiresAt":"2026-11-27T09:30:00Z"}}`
	nothingBody   = `{"partnerId":"p-d4xq7m2kf5hb3nz6w2yr7tcvae","keyIds":[],"alreadyEnded":["ku36uznzhc225sgjotcsh"],"reason":"requested"}`
)

// `lanyard revoke` POSTs the partner's revoke route, SigV4-signed, with the flags as its JSON
// body, and prints the revocation.
func TestRevoke(t *testing.T) {
	awsEnv(t)
	for _, tc := range []struct {
		name     string
		args     []string
		answer   string
		sent     map[string]any
		outLines []string
	}{
		{"one key, compromised", []string{"--key", revokeKey, "--reason", "compromised", "--note", "found in a gist — rotated"}, revokedBody,
			map[string]any{"keyId": revokeKey, "reason": "compromised", "note": "found in a gist — rotated"},
			[]string{
				"Partner        p-d4xq7m2kf5hb3nz6w2yr7tcvae\n",
				"Reason         compromised\n",
				"Revocation     rev-019a8f4e-7c2b-7d31-9a4e-5b6c7d8e9f01\n",
				"Revoked at     2026-11-24T09:30:00Z\n",
				"Revoked        kq2w3e4r5t6y7u2i3o4pa, ku36uznzhc225sgjotcsh\n",
				"Already ended  none\n",
			}},
		{"every key, with a replacement", []string{"--all", "--reason", "compromised", "--reissue"}, replacedBody,
			map[string]any{"all": true, "reason": "compromised", "reissue": true},
			[]string{
				"Replacement key  kr4t6y2u3i4o5p6a7s2db\n",
				"Replacement      rpl-5m3k7q2s4u6w3y5a7c2e4g6i3k\n",
				"Pick-up token    lnyd_pku_ExampleOnlyNotARealPickupToken0000000000000",
				"Pick up before   2026-11-27T09:30:00Z\n",
			}},
		{"every key, nothing left", []string{"--all", "--reason", "requested"}, nothingBody,
			map[string]any{"all": true, "reason": "requested"},
			[]string{
				"Revocation     none: nothing left to revoke\n",
				"Revoked        none\n",
				"Already ended  ku36uznzhc225sgjotcsh\n",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t, 200, "application/json", tc.answer)
			code, out, errOut := runCLI(append([]string{"revoke", revokePartner, "--endpoint", api.srv.URL}, tc.args...)...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			for _, line := range tc.outLines {
				if !strings.Contains(out, line) {
					t.Errorf("stdout %q lacks %q", out, line)
				}
			}
			reqs := api.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			if r.sigErr != nil || r.path != "/v1/admin/partners/"+revokePartner+"/revoke" || fmt.Sprint(r.body) != fmt.Sprint(tc.sent) {
				t.Errorf("request %+v, want body %v", r, tc.sent)
			}
		})
	}
}

func TestRevokeJSON(t *testing.T) {
	awsEnv(t)
	api := newFakeAPI(t, 200, "application/json", revokedBody)
	code, out, errOut := runCLI("revoke", revokePartner, "--key", revokeKey, "--reason", "leaked", "--endpoint", api.srv.URL, "-o", "json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var printed, sent map[string]any
	if err := json.Unmarshal([]byte(out), &printed); err != nil {
		t.Fatalf("stdout is not JSON: %q", out)
	}
	_ = json.Unmarshal([]byte(revokedBody), &sent)
	if fmt.Sprint(printed) != fmt.Sprint(sent) {
		t.Errorf("printed %v, want the body %v", printed, sent)
	}
}

func TestRevokeRefused(t *testing.T) {
	awsEnv(t)
	for _, c := range []struct {
		name, ct, body string
		status         int
		want           string
	}{
		{"unknown partner", "application/problem+json", `{"type":"https://github.com/lanyardhq/lanyard/blob/main/docs/problems.md#not-found","title":"Not Found","status":404,"detail":"The resource does not exist."}`, 404,
			"lanyard: Not Found: The resource does not exist.\n"},
		{"bad request", "application/problem+json", `{"type":"https://github.com/lanyardhq/lanyard/blob/main/docs/problems.md#admin-revocation-invalid","title":"Invalid Admin Revocation","status":400,"detail":"Name one key as keyId, or every key with \"all\": true, not both."}`, 400,
			"lanyard: Invalid Admin Revocation: Name one key as keyId, or every key with \"all\": true, not both.\n"},
		{"not a problem", "text/html", "<html>bad gateway</html>", 502, ""},
		{"200 without a revocation", "application/json", `{}`, 200, ""},
		{"202 instead of 200", "application/json", revokedBody, 202, ""},
	} {
		api := newFakeAPI(t, c.status, c.ct, c.body)
		code, out, errOut := runCLI("revoke", revokePartner, "--all", "--reason", "offboarded", "--endpoint", api.srv.URL)
		if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "lanyard: ") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and one line", c.name, code, out, errOut)
		}
		if c.want != "" && errOut != c.want {
			t.Errorf("%s: stderr %q, want %q", c.name, errOut, c.want)
		}
	}
}

// A bad command line is one line on stderr, exit 2, and sends nothing; a whole key given as
// --key or inside --note is never repeated.
func TestRevokeUsage(t *testing.T) {
	awsEnv(t)
	api := newFakeAPI(t, 200, "application/json", revokedBody)
	k, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		t.Fatal(err)
	}
	whole := k.Plaintext().Reveal()
	ep := []string{"--endpoint", api.srv.URL}
	for name, args := range map[string][]string{
		"no partner":           {"revoke", "--all", "--reason", "other"},
		"two partners":         {"revoke", revokePartner, revokePartner, "--all", "--reason", "other"},
		"not a partner id":     {"revoke", "acme", "--all", "--reason", "other"},
		"neither key nor all":  {"revoke", revokePartner, "--reason", "other"},
		"key and all":          {"revoke", revokePartner, "--key", revokeKey, "--all", "--reason", "other"},
		"no reason":            {"revoke", revokePartner, "--all"},
		"unknown reason":       {"revoke", revokePartner, "--all", "--reason", "bored"},
		"not a key id":         {"revoke", revokePartner, "--key", "k123", "--reason", "requested"},
		"a whole key as --key": {"revoke", revokePartner, "--key", whole, "--reason", "leaked"},
		"a key in the note":    {"revoke", revokePartner, "--all", "--reason", "leaked", "--note", "it was " + whole},
		"a multi-line note":    {"revoke", revokePartner, "--all", "--reason", "other", "--note", "one\ntwo"},
		"a note too long":      {"revoke", revokePartner, "--all", "--reason", "other", "--note", strings.Repeat("x", 1001)},
		"bad endpoint":         {"revoke", revokePartner, "--all", "--reason", "other", "--endpoint", "ftp://example.com"},
		"reissue of one key":   {"revoke", revokePartner, "--key", revokeKey, "--reason", "requested", "--reissue"},
	} {
		if name != "bad endpoint" {
			args = append(args, ep...)
		}
		code, out, errOut := runCLI(args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and one line", name, code, out, errOut)
		}
		if strings.Contains(errOut, whole) || strings.Contains(errOut, k.Plaintext().Reveal()[10:40]) {
			t.Errorf("%s: stderr repeats the key", name)
		}
	}
	if n := len(api.requests()); n != 0 {
		t.Errorf("%d requests sent for bad command lines", n)
	}
}
