package onboarding

import (
	"fmt"
	"strings"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		single map[string]string
		multi  map[string][]string
		want   string // "" means refused
	}{
		{name: "canonical case", single: map[string]string{"Idempotency-Key": "abc"}, want: "abc"},
		{name: "lower case", single: map[string]string{"idempotency-key": "5f1c2a9e-8d4b"}, want: "5f1c2a9e-8d4b"},
		{name: "upper case", single: map[string]string{"IDEMPOTENCY-KEY": "k"}, want: "k"},
		{name: "multi-value only", multi: map[string][]string{"idempotency-key": {"m"}}, want: "m"},
		{name: "both maps agree", single: map[string]string{"Idempotency-Key": "x"}, multi: map[string][]string{"Idempotency-Key": {"x"}}, want: "x"},
		{name: "every visible character", single: map[string]string{"Idempotency-Key": visibleASCII()}, want: visibleASCII()},
		{name: "128 characters", single: map[string]string{"Idempotency-Key": strings.Repeat("a", 128)}, want: strings.Repeat("a", 128)},
		{name: "absent", single: map[string]string{"Content-Type": "application/json"}},
		{name: "empty", single: map[string]string{"Idempotency-Key": ""}},
		{name: "129 characters", single: map[string]string{"Idempotency-Key": strings.Repeat("a", 129)}},
		{name: "space", single: map[string]string{"Idempotency-Key": "a b"}},
		{name: "tab", single: map[string]string{"Idempotency-Key": "a\tb"}},
		{name: "DEL", single: map[string]string{"Idempotency-Key": "a\x7f"}},
		{name: "non-ASCII", single: map[string]string{"Idempotency-Key": "clé"}},
		{name: "two values", multi: map[string][]string{"Idempotency-Key": {"a", "b"}}},
		{name: "two spellings", single: map[string]string{"Idempotency-Key": "a", "idempotency-key": "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := idempotencyKey(lambdaevents.APIGatewayProxyRequest{Headers: tt.single, MultiValueHeaders: tt.multi})
			if tt.want == "" {
				if typ, ok := problem.Of(err); !ok || typ != problem.MissingIdempotencyKey {
					t.Fatalf("idempotencyKey: error %v, want missing-idempotency-key", err)
				}
				return
			}
			if err != nil || got.Reveal() != tt.want {
				t.Fatalf("idempotencyKey = %q, %v; want %q", got.Reveal(), err, tt.want)
			}
		})
	}
}

func visibleASCII() string {
	var b strings.Builder
	for c := byte(0x21); c <= 0x7e; c++ {
		b.WriteByte(c)
	}
	return b.String()
}

func TestCheckContentType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		headers map[string]string
		ok      bool
	}{
		{map[string]string{"Content-Type": "application/json"}, true},
		{map[string]string{"content-type": "application/json; charset=utf-8"}, true},
		{map[string]string{"Content-Type": "Application/JSON"}, true},
		{map[string]string{}, false},
		{map[string]string{"Content-Type": "text/plain"}, false},
		{map[string]string{"Content-Type": "application/problem+json"}, false},
		{map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, false},
		{map[string]string{"Content-Type": ";;"}, false},
	}
	for _, tt := range tests {
		err := checkContentType(lambdaevents.APIGatewayProxyRequest{Headers: tt.headers})
		if tt.ok != (err == nil) {
			t.Errorf("checkContentType(%v) = %v, want ok %v", tt.headers, err, tt.ok)
		}
		if err != nil {
			if typ, _ := problem.Of(err); typ != problem.UnsupportedMediaType {
				t.Errorf("checkContentType(%v): problem %v, want unsupported-media-type", tt.headers, typ.Anchor())
			}
		}
	}
}

// The canonical request hash ignores how the body was spelled, and nothing else.
func TestRequestHash(t *testing.T) {
	t.Parallel()
	const code = "lnyd_inv_0123456789012345678901234567890123456789abc"
	parse := func(body string) createRequest {
		t.Helper()
		r, err := parseRequest([]byte(body))
		if err != nil {
			t.Fatalf("parseRequest(%s): %v", body, err)
		}
		return r
	}
	base := parse(`{"partnerName":"Acme","inviteCode":"` + code + `","scopes":["orders:read","inventory:read"]}`)
	same := []string{
		`{"scopes":["inventory:read","orders:read"],"inviteCode":"` + code + `","partnerName":"Acme"}`,
		"{\n  \"partnerName\": \"Acme\",\n  \"inviteCode\": \"" + code + "\",\n  \"scopes\": [\"orders:read\", \"inventory:read\"]\n}",
		`{"partnerName":"\u0041cme","inviteCode":"` + code + `","scopes":["orders:read","inventory:read"]}`,
	}
	for _, body := range same {
		if got := parse(body).hash(); got != base.hash() {
			t.Errorf("hash of %s differs from the same request spelled otherwise", body)
		}
	}
	different := []createRequest{
		{PartnerName: "Acme ", InviteCode: base.InviteCode, Scopes: base.Scopes},
		{PartnerName: "Acme", InviteCode: secret.New(code + "x"), Scopes: base.Scopes},
		{PartnerName: "Acme", InviteCode: base.InviteCode, Scopes: []string{"inventory:read"}},
	}
	for i, r := range different {
		if r.hash() == base.hash() {
			t.Errorf("different request %d hashes like the base request", i)
		}
	}
	if base.Scopes[0] != "inventory:read" {
		t.Errorf("parsed scopes %v, want sorted", base.Scopes)
	}
}

// An identity request hashes by its content, however its JSON was spelled; its signature is
// part of it.
func TestIdentityRequestHash(t *testing.T) {
	t.Parallel()
	parse := func(body string) createRequest {
		t.Helper()
		r, err := parseRequest([]byte(body))
		if err != nil {
			t.Fatalf("parseRequest: %v", err)
		}
		return r
	}
	base := parse(stsBody("Acme", "AWS4-HMAC-SHA256 sig-1", "orders:read"))
	if base.IdentityRequest == nil || !base.InviteCode.IsZero() {
		t.Fatal("an identity request parsed as an invite")
	}
	respelled := parse(`{"scopes":["orders:read"],"identityRequest":{"body":"Action=GetCallerIdentity&Version=2011-06-15","headers":{"X-Lanyard-Request-SHA256":["` + RequestDigest("Acme", []string{"orders:read"}) + `"],"X-Lanyard-Server-ID":["lanyard-test"],"X-Amz-Date":["20261123T120000Z"],"Host":["sts.us-east-1.amazonaws.com"],"Content-Type":["application/x-www-form-urlencoded; charset=utf-8"],"Authorization":["AWS4-HMAC-SHA256 sig-1"]},"url":"https://sts.us-east-1.amazonaws.com/","method":"POST"},"partnerName":"Acme"}`)
	if respelled.hash() != base.hash() {
		t.Error("the same identity request spelled otherwise hashes differently")
	}
	if parse(stsBody("Acme", "AWS4-HMAC-SHA256 sig-2", "orders:read")).hash() == base.hash() {
		t.Error("another signature hashes alike")
	}
	if fmt.Sprint(base.IdentityRequest) != secret.Redacted || fmt.Sprintf("%+v", base) == "" || strings.Contains(fmt.Sprintf("%+v %#v", base, base), "sig-1") {
		t.Error("a parsed identity request prints its signature")
	}
}
