package front

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

// headerSet is a request's headers as the proxy and authorizer events carry them.
type headerSet struct {
	single map[string]string   // the last value of each header
	multi  map[string][]string // every value, in order
}

// requestHeaders collects the request's headers as API Gateway passes them on: Host included,
// and the X-Forwarded-* headers API Gateway adds. Names arrive in Go's canonical form
// (net/http does not keep the client's spelling).
func requestHeaders(r *http.Request, sourceIP string) headerSet {
	multi := make(map[string][]string, len(r.Header)+4)
	for k, vs := range r.Header {
		multi[k] = append([]string(nil), vs...)
	}
	multi["Host"] = []string{r.Host}
	if prior := r.Header.Get("X-Forwarded-For"); prior != "" {
		multi["X-Forwarded-For"] = []string{prior + ", " + sourceIP}
	} else {
		multi["X-Forwarded-For"] = []string{sourceIP}
	}
	multi["X-Forwarded-Proto"] = []string{"http"}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			multi["X-Forwarded-Port"] = []string{port}
		}
	}
	single := make(map[string]string, len(multi))
	for k, vs := range multi {
		single[k] = vs[len(vs)-1]
	}
	return headerSet{single: single, multi: multi}
}

// queryParameters are the decoded query string parameters, last value and every value; both
// nil when there are none, as in API Gateway's events.
func queryParameters(r *http.Request) (map[string]string, map[string][]string) {
	q := r.URL.Query() // malformed pairs are dropped
	if len(q) == 0 {
		return nil, nil
	}
	single := make(map[string]string, len(q))
	for k, vs := range q {
		single[k] = vs[len(vs)-1]
	}
	return single, q
}

// encodeBody returns the body as the proxy event carries it: as text when it is text, else
// base64 with isBase64Encoded set. Text is a textual media type, or UTF-8 without one.
func encodeBody(contentType string, body []byte) (string, bool) {
	if len(body) == 0 {
		return "", false
	}
	if isText(contentType) && utf8.Valid(body) {
		return string(body), false
	}
	return base64.StdEncoding.EncodeToString(body), true
}

func isText(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/x-www-form-urlencoded",
		"application/javascript", "application/graphql", "application/x-ndjson", "application/yaml":
		return true
	}
	return false
}

// requestContextPath is requestContext.path: the path as the client sent it, stage included
// when the client named it.
func (f *Front) requestContextPath(c *call) string {
	if c.staged {
		if c.path == "/" {
			return "/" + f.cfg.Stage
		}
		return "/" + f.cfg.Stage + c.path
	}
	return c.path
}

func (f *Front) proxyEvent(c *call, a admission) lambdaevents.APIGatewayProxyRequest {
	query, multiQuery := queryParameters(c.r)
	body, b64 := encodeBody(c.r.Header.Get("Content-Type"), c.body)
	host := c.r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	prefix, _, _ := strings.Cut(host, ".")
	identity := lambdaevents.APIGatewayRequestIdentity{
		SourceIP:  c.sourceIP,
		UserAgent: c.r.UserAgent(),
	}
	if a.iam != nil {
		identity.AccessKey = a.iam.accessKey
		identity.AccountID = a.iam.accountID
		identity.Caller = a.iam.caller
		identity.User = a.iam.user
		identity.UserArn = a.iam.userArn
	}
	return lambdaevents.APIGatewayProxyRequest{
		Resource:                        c.route.Path,
		Path:                            c.path,
		HTTPMethod:                      c.r.Method,
		Headers:                         c.headers.single,
		MultiValueHeaders:               c.headers.multi,
		QueryStringParameters:           query,
		MultiValueQueryStringParameters: multiQuery,
		PathParameters:                  c.params,
		RequestContext: lambdaevents.APIGatewayProxyRequestContext{
			AccountID:        f.cfg.AccountID,
			ResourceID:       c.route.resourceID,
			Stage:            f.cfg.Stage,
			DomainName:       c.r.Host,
			DomainPrefix:     prefix,
			RequestID:        c.id,
			Protocol:         c.r.Proto,
			Identity:         identity,
			ResourcePath:     c.route.Path,
			Path:             f.requestContextPath(c),
			Authorizer:       a.authorizer,
			HTTPMethod:       c.r.Method,
			RequestTime:      c.start.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch: c.start.UnixMilli(),
			APIID:            f.cfg.APIID,
		},
		Body:            body,
		IsBase64Encoded: b64,
	}
}

// integrate invokes the route's function with the proxy event and writes its proxy response.
// It returns the status written, or the gateway error to answer with instead.
func (f *Front) integrate(ctx context.Context, w http.ResponseWriter, c *call, a admission) (int, *gatewayError) {
	payload, err := json.Marshal(f.proxyEvent(c, a))
	if err != nil {
		return 0, internalError(fmt.Errorf("encode proxy event: %w", err))
	}
	ictx, cancel := context.WithTimeout(ctx, f.cfg.IntegrationTimeout)
	defer cancel()
	f.stats.functionInvocations.Add(1)
	res, err := f.cfg.Invoker.Invoke(ictx, c.route.lambda, payload)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return 0, &gatewayError{
				responseType: respIntegrationTimeout, status: http.StatusGatewayTimeout,
				errorType: "InternalServerErrorException", detail: "Endpoint request timed out",
				cause: fmt.Errorf("invoke %s: %w", c.route.lambda, err),
			}
		}
		return 0, internalError(fmt.Errorf("invoke %s: %w", c.route.lambda, err))
	}
	if res.FunctionError != "" {
		return 0, badGateway(fmt.Errorf("function %s failed (%s, %s)", c.route.lambda, res.FunctionError, errorType(res.Payload)))
	}
	resp, err := parseProxyResponse(res.Payload)
	if err != nil {
		return 0, badGateway(fmt.Errorf("malformed Lambda proxy response from %s: %w", c.route.lambda, err))
	}
	writeProxyResponse(w, resp, c.id)
	return resp.status, nil
}

// internalError is API Gateway's 500 for a failure of its own (here: the invocation).
func internalError(cause error) *gatewayError {
	return &gatewayError{
		responseType: respDefault5xx, status: http.StatusInternalServerError,
		errorType: "InternalServerErrorException", detail: "Internal server error", cause: cause,
	}
}

// badGateway is API Gateway's 502 for a function error or a malformed proxy response.
func badGateway(cause error) *gatewayError {
	return &gatewayError{
		responseType: respDefault5xx, status: http.StatusBadGateway,
		errorType: "InternalServerErrorException", detail: "Internal server error", cause: cause,
	}
}

// errorType is the errorType of a function's error document, for the log. The message is not
// logged: it is the function's to log, and it may quote its input.
func errorType(payload []byte) string {
	var doc struct {
		ErrorType string `json:"errorType"`
	}
	if json.Unmarshal(payload, &doc) != nil || doc.ErrorType == "" {
		return "unknown error type"
	}
	return doc.ErrorType
}

// proxyResponse is a well-formed Lambda proxy response.
type proxyResponse struct {
	status  int
	headers http.Header
	body    []byte
}

var proxyResponseKeys = map[string]bool{
	"statusCode": true, "headers": true, "multiValueHeaders": true, "body": true, "isBase64Encoded": true,
}

// parseProxyResponse reads a function's result as API Gateway does: a JSON object with only the
// proxy response's keys; scalars are accepted where a string is expected and numeric strings
// where a number is; objects and arrays in their place make the response malformed. Header
// values from headers and multiValueHeaders are merged, a pair given in both appearing once.
func parseProxyResponse(payload []byte) (proxyResponse, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return proxyResponse{}, errors.New("not a JSON object")
	}
	for k := range raw {
		if !proxyResponseKeys[k] {
			return proxyResponse{}, fmt.Errorf("unexpected key %q", k)
		}
	}

	status, err := statusCode(raw["statusCode"])
	if err != nil {
		return proxyResponse{}, err
	}
	resp := proxyResponse{status: status, headers: http.Header{}}

	var multi map[string][]json.RawMessage
	if err := unmarshalOptional(raw["multiValueHeaders"], &multi); err != nil {
		return proxyResponse{}, fmt.Errorf("multiValueHeaders: %w", err)
	}
	for k, vs := range multi {
		for _, v := range vs {
			s, ok, err := scalar(v)
			if err != nil {
				return proxyResponse{}, fmt.Errorf("multiValueHeaders %q: %w", k, err)
			}
			if ok {
				resp.headers.Add(k, s)
			}
		}
	}
	var single map[string]json.RawMessage
	if err := unmarshalOptional(raw["headers"], &single); err != nil {
		return proxyResponse{}, fmt.Errorf("headers: %w", err)
	}
	for k, v := range single {
		s, ok, err := scalar(v)
		if err != nil {
			return proxyResponse{}, fmt.Errorf("headers %q: %w", k, err)
		}
		if ok && !containsValue(resp.headers.Values(k), s) {
			resp.headers.Add(k, s)
		}
	}

	body, _, err := scalar(raw["body"])
	if err != nil {
		return proxyResponse{}, fmt.Errorf("body: %w", err)
	}
	b64, err := boolean(raw["isBase64Encoded"])
	if err != nil {
		return proxyResponse{}, fmt.Errorf("isBase64Encoded: %w", err)
	}
	if b64 {
		if resp.body, err = base64.StdEncoding.DecodeString(body); err != nil {
			return proxyResponse{}, errors.New("body is not valid base64")
		}
	} else {
		resp.body = []byte(body)
	}
	return resp, nil
}

func statusCode(v json.RawMessage) (int, error) {
	s, ok, err := scalar(v)
	if err != nil || !ok {
		return 0, errors.New("statusCode missing or not a number")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 200 || n > 599 {
		return 0, errors.New("statusCode is not an HTTP status from 200 to 599")
	}
	return n, nil
}

func unmarshalOptional(v json.RawMessage, into any) error {
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	if err := json.Unmarshal(v, into); err != nil {
		return errors.New("wrong shape")
	}
	return nil
}

// scalar renders a JSON string, number or boolean as a string; ok is false for null or absent.
func scalar(v json.RawMessage) (string, bool, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return "", false, nil
	}
	switch v[0] {
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", false, errors.New("invalid string")
		}
		return s, true, nil
	case '{', '[':
		return "", false, errors.New("an object or array where a string was expected")
	default: // number, true, false
		return string(v), true, nil
	}
}

func boolean(v json.RawMessage) (bool, error) {
	s, ok, err := scalar(v)
	if err != nil || !ok {
		return false, err
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, errors.New("not a boolean")
	}
	return b, nil
}

func containsValue(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// hopHeaders are managed by the HTTP server, not taken from the function.
var hopHeaders = []string{"Connection", "Content-Length", "Keep-Alive", "Transfer-Encoding", "Upgrade"}

func writeProxyResponse(w http.ResponseWriter, resp proxyResponse, requestID string) {
	h := w.Header()
	for k, vs := range resp.headers {
		h[k] = vs
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json") // API Gateway's default for proxy responses
	}
	h.Set("x-amzn-RequestId", requestID)
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}
