package stsproof

import (
	"fmt"
	"log/slog"
	"net/url"
)

// A Request holds a live signature and maybe a session token. These keep it out of logs and
// formatted text by accident: only the method and the URL's host show. (JSON, which the
// onboarding body and `lanyard identity-request` need, is unaffected.)

// LogValue logs the method and the URL's host only.
func (r Request) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", r.method()), slog.String("host", r.host()), slog.String("headers", "[redacted]"))
}

// String prints the method and the URL's host only.
func (r Request) String() string {
	return fmt.Sprintf("stsproof.Request{%s %s, headers and body redacted}", r.method(), r.host())
}

// GoString is String, for %#v.
func (r Request) GoString() string { return r.String() }

// method is the request's method if it is a short token, else "?".
func (r Request) method() string {
	if len(r.Method) > 10 || !isToken(r.Method) {
		return "?"
	}
	return r.Method
}

func (r Request) host() string {
	u, err := url.Parse(r.URL)
	if err != nil || len(r.URL) > MaxURLBytes {
		return "?"
	}
	return u.Host
}
