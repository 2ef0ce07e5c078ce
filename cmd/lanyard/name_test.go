package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode"
)

// hostileName is a partner name a server that does not hold to the rule (or a record from
// before it) might answer with: a right-to-left override, an ESC colour sequence and a C1 CSI.
const hostileName = "Acme \u202eexe.GPJ \x1b[31mRed\x1b[0m \u009b2J"

// hostileNameJSON is hostileName as JSON writes it.
var hostileNameJSON = func() string { b, _ := json.Marshal(hostileName); return string(b) }()

// printable fails when out holds a character a terminal acts on or hides: a control character
// other than the line and tab layout, or a format, private-use or separator character.
func printable(t *testing.T, what, out string) {
	t.Helper()
	for i, r := range out {
		if r == '\n' || r == '\t' {
			continue
		}
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Co, unicode.Zl, unicode.Zp) {
			t.Errorf("%s: U+%04X at byte %d reaches the terminal", what, r, i)
		}
	}
}

// Wherever the CLI prints a partner name — invite create, onboarding list, approve and deny,
// as a table or as JSON — a hostile name is printed escaped, never as it is.
func TestPartnerNamesPrintedEscaped(t *testing.T) {
	awsEnv(t)
	const escaped = `"Acme \u202eexe.GPJ \x1b[31mRed\x1b[0m \u009b2J"`
	withName := func(body, name string) string {
		return strings.Replace(body, `"partnerName":"`+name+`"`, `"partnerName":`+hostileNameJSON, 1)
	}
	cases := []struct {
		name string
		body string
		args []string
	}{
		{"invite create", withName(issuedBody, "Acme Logistics"), []string{"invite", "create", "--partner-name", "Acme Logistics", "--tier", "standard"}},
		{"onboarding list", withName(listBody, "Globex Freight"), []string{"onboarding", "list"}},
		{"onboarding approve", withName(decidedBody, "Initech Shipping"), []string{"onboarding", "approve", onbID}},
		{"onboarding deny", withName(decidedBody, "Initech Shipping"), []string{"onboarding", "deny", onbID}},
	}
	for _, c := range cases {
		status := 200
		if c.name == "invite create" {
			status = 201
		}
		api := newFakeAdminAPI(t, status, "application/json", c.body)
		code, out, errOut := runCLI(append(c.args, "--endpoint", api.srv.URL)...)
		if code != 0 || errOut != "" {
			t.Fatalf("%s: exit %d, stderr %q", c.name, code, errOut)
		}
		printable(t, c.name, out)
		if !strings.Contains(out, escaped) {
			t.Errorf("%s: stdout %+q does not show the name escaped as %s", c.name, out, escaped)
		}

		// JSON: the same document, with the name's unprintable characters as JSON escapes.
		code, out, errOut = runCLI(append(c.args, "--endpoint", api.srv.URL, "-o", "json")...)
		if code != 0 || errOut != "" {
			t.Fatalf("%s -o json: exit %d, stderr %q", c.name, code, errOut)
		}
		printable(t, c.name+" -o json", out)
		var printed, sent any
		_ = json.Unmarshal([]byte(c.body), &sent)
		if err := json.Unmarshal([]byte(out), &printed); err != nil || fmt.Sprint(printed) != fmt.Sprint(sent) {
			t.Errorf("%s -o json: %v, printed %+q", c.name, err, out)
		}
	}
}

// A plain name prints as it is.
func TestPlainPartnerNamePrintedAsIs(t *testing.T) {
	awsEnv(t)
	body := strings.Replace(decidedBody, `"Initech Shipping"`, `"Café Ünïcode Ltd"`, 1)
	api := newFakeAdminAPI(t, 200, "application/json", body)
	code, out, _ := runCLI("onboarding", "approve", onbID, "--endpoint", api.srv.URL)
	if code != 0 || !strings.Contains(out, "Partner     Café Ünïcode Ltd\n") {
		t.Errorf("exit %d, stdout %q", code, out)
	}
}

// `lanyard invite create` refuses a hostile --partner-name with one line, before sending
// anything, and sends a name in NFC.
func TestInviteCreatePartnerNameRule(t *testing.T) {
	awsEnv(t)
	api := newFakeAPI(t, 201, "application/json", issuedBody)
	for _, name := range []string{"Acme \u202eGPJ.exe", "Ac\u200bme", "Acme\x1b[31m", "Acme\u00a0", "\ue000"} {
		code, out, errOut := runCLI("invite", "create", "--partner-name", name, "--tier", "standard", "--endpoint", api.srv.URL)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "lanyard: --partner-name must ") {
			t.Errorf("%+q: exit %d, stdout %q, stderr %q; want exit 2 and one line about --partner-name", name, code, out, errOut)
		}
		printable(t, "refusal", errOut)
	}
	if n := len(api.requests()); n != 0 {
		t.Fatalf("%d requests sent for hostile names", n)
	}
	code, _, errOut := runCLI("invite", "create", "--partner-name", "Cafe\u0301 Ltd", "--tier", "standard", "--endpoint", api.srv.URL)
	if r := api.requests(); code != 0 || len(r) != 1 || r[0].body["partnerName"] != "Caf\u00e9 Ltd" {
		t.Errorf("exit %d (%q), sent %v; want the name in NFC", code, errOut, r)
	}
}

// escapeJSON keeps the document's meaning and escapes what a terminal would act on.
func TestEscapeJSON(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`{"a": "Acme"}`, `{"a": "Acme"}`},
		{"{\"a\": \"Caf\u00e9 \U0001f69a \u0634\"}", "{\"a\": \"Caf\u00e9 \U0001f69a \u0634\"}"},
		{"{\"a\": \"x\u202ey\"}", `{"a": "x\u202ey"}`},
		{"{\"a\": \"\u009b2J \u2028 \ufeff\"}", `{"a": "\u009b2J \u2028 \ufeff"}`},
		{"{\"a\": \"\U000f0000\"}", `{"a": "\udb80\udc00"}`},
		{"{\"a\": \"\xff\"}", `{"a": "\ufffd"}`},
		{"{\n  \"a\": \"\\u001b\"\n}\n", "{\n  \"a\": \"\\u001b\"\n}\n"},
	}
	for _, tt := range tests {
		got := string(escapeJSON([]byte(tt.in)))
		if got != tt.want {
			t.Errorf("escapeJSON(%+q) = %+q, want %+q", tt.in, got, tt.want)
		}
		var a, b any
		if json.Unmarshal([]byte(got), &a) != nil || json.Unmarshal([]byte(tt.in), &b) != nil || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("escapeJSON(%+q) changed the document: %v, was %v", tt.in, a, b)
		}
	}
}
