package front_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/lanyardhq/lanyard/local/front"
)

type upstreamCall struct {
	method, path, query, host, authorization string
	body                                     string
}

// upstream fakes LocalStack's API Gateway management API and records what reached it.
type upstream struct {
	mu    sync.Mutex
	calls []upstreamCall
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.calls = append(u.calls, upstreamCall{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header.Get("Authorization"), string(b)})
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", "upstream-1")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{"id":"from-localstack"}`)
}

func TestManagementPassthrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path, query, body string
	}{
		{name: "another management call", method: http.MethodGet, path: "/restapis/" + testAPI + "/stages", query: "limit=5"},
		{name: "a flush for another API", method: http.MethodDelete, path: "/restapis/otherapi/stages/local/cache/authorizers"},
		{name: "a flush for another stage", method: http.MethodDelete, path: "/restapis/" + testAPI + "/stages/prod/cache/authorizers"},
		{name: "an API key call", method: http.MethodPost, path: "/apikeys", body: `{"name":"partner-7","enabled":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := &upstream{}
			ls := httptest.NewServer(up)
			defer ls.Close()
			target, err := url.Parse(ls.URL)
			if err != nil {
				t.Fatal(err)
			}
			fx := newFixture(t, func(c *front.Config) { c.Passthrough = target })
			srv := httptest.NewServer(fx.front)
			defer srv.Close()

			u := srv.URL + tt.path
			if tt.query != "" {
				u += "?" + tt.query
			}
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			req := newRequest(t, tt.method, u, body)
			sign(t, req, body, functionCreds, "apigateway", epoch)
			res := do(t, srv.Client(), req)

			if res.status != http.StatusCreated || string(res.body) != `{"id":"from-localstack"}` || res.header.Get("x-amzn-RequestId") != "upstream-1" {
				t.Fatalf("answer %d %s (request id %q), want LocalStack's", res.status, res.body, res.header.Get("x-amzn-RequestId"))
			}
			up.mu.Lock()
			defer up.mu.Unlock()
			if len(up.calls) != 1 {
				t.Fatalf("upstream got %d calls", len(up.calls))
			}
			got := up.calls[0]
			want := upstreamCall{tt.method, tt.path, tt.query, req.Host, req.Header.Get("Authorization"), tt.body}
			if got != want {
				t.Errorf("upstream saw %+v, want %+v", got, want)
			}
			if s := fx.front.Stats(); s.Passthroughs != 1 || s.CacheFlushes != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestManagementWithoutUpstream(t *testing.T) {
	t.Parallel()
	t.Run("not configured", func(t *testing.T) {
		t.Parallel()
		fx := newFixture(t)
		res := serve(fx.front, request(http.MethodGet, "/restapis", "", nil))
		wantProblem(t, res, http.StatusBadGateway, "DEFAULT_5XX")
	})
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		ls := httptest.NewServer(http.NotFoundHandler())
		target, _ := url.Parse(ls.URL)
		ls.Close()
		fx := newFixture(t, func(c *front.Config) { c.Passthrough = target })
		res := serve(fx.front, request(http.MethodGet, "/restapis", "", nil))
		wantProblem(t, res, http.StatusBadGateway, "DEFAULT_5XX")
	})
}
