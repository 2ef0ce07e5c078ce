package front

import (
	"context"
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// managementRoots are the first path segments of API Gateway's management API (the apigateway
// service the SDK's client calls). The functions reach the front as their API Gateway endpoint,
// so the front takes these calls: FlushStageAuthorizersCache for its own API and stage it
// answers itself, everything else goes to LocalStack.
var managementRoots = map[string]bool{
	"restapis": true, "apikeys": true, "usageplans": true, "domainnames": true, "account": true,
	"clientcertificates": true, "vpclinks": true, "tags": true, "sdktypes": true,
}

var errPassthroughUnset = errors.New("management call, but no passthrough endpoint configured")

// callKey carries a management call's *call to the passthrough's error handler.
type callKey struct{}

func isManagement(path string) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return managementRoots[first]
}

// serveManagement answers an API Gateway management call. As LocalStack does, it checks no
// IAM permission: the functions call with the credentials LocalStack gives them.
func (f *Front) serveManagement(w http.ResponseWriter, r *http.Request, c *call) {
	if f.isFlush(r) {
		f.FlushAuthorizerCache()
		w.Header().Set("x-amzn-RequestId", c.id)
		w.WriteHeader(http.StatusAccepted)
		f.logger().InfoContext(r.Context(), "authorizer cache flushed", "requestId", c.id, "stage", f.cfg.Stage)
		return
	}
	if f.proxy == nil {
		f.fail(r.Context(), w, c, &gatewayError{
			responseType: respDefault5xx, status: http.StatusBadGateway, errorType: "InternalServerErrorException",
			detail: "No API Gateway management endpoint is configured", cause: errPassthroughUnset,
		})
		return
	}
	f.stats.passthroughs.Add(1)
	f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
}

// isFlush matches FlushStageAuthorizersCache for this API and stage:
// DELETE /restapis/{restapi_id}/stages/{stage_name}/cache/authorizers.
func (f *Front) isFlush(r *http.Request) bool {
	if r.Method != http.MethodDelete {
		return false
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return len(segs) == 6 && segs[0] == "restapis" && segs[1] == f.cfg.APIID && segs[2] == "stages" &&
		segs[3] == f.cfg.Stage && segs[4] == "cache" && segs[5] == "authorizers"
}

// newPassthrough proxies management calls to LocalStack unchanged: same method, path, query,
// headers (Host and the caller's signature included) and body.
func (f *Front) newPassthrough(target *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			c, ok := r.Context().Value(callKey{}).(*call)
			if !ok {
				c = &call{r: r, start: f.cfg.Now()}
			}
			f.fail(r.Context(), w, c, &gatewayError{
				responseType: respDefault5xx, status: http.StatusBadGateway, errorType: "InternalServerErrorException",
				detail: "The API Gateway management endpoint is unreachable", cause: err,
			})
		},
	}
}
