package problem

import (
	"encoding/json"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

// Response renders p as an API Gateway proxy response: the status, Content-Type
// application/problem+json, Cache-Control no-store, and the problem as the body.
//
// It renders only what the catalogue allows: a problem whose type is not in the catalogue, or
// whose status is not 4xx or 5xx, is answered as Internal; a 5xx problem always carries the
// fixed Internal detail and no extension members; a type with a fixed detail (InviteInvalid)
// always carries it; extension members appear only on the type they belong to; a missing status
// or title is the type's; a status that is not the type's is the type's, except that
// bad-request keeps any 4xx and internal any 5xx (the classes API Gateway answers with).
func Response(p Problem) lambdaevents.APIGatewayProxyResponse {
	p = normalize(p)
	body, err := json.Marshal(p)
	if err != nil { // strings and ints only: cannot happen, but never answer without a body
		p = Internal.New("").p
		body, _ = json.Marshal(p)
	}
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: p.Status,
		Headers: map[string]string{
			"Content-Type":           ContentType,
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
		},
		Body: string(body),
	}
}

// normalize makes p something the catalogue allows (see Response).
func normalize(p Problem) Problem {
	t, ok := Lookup(p.Type)
	if !ok || p.Status < 0 || p.Status > 599 || (p.Status != 0 && p.Status < 400) {
		t, p.Status = Internal, Internal.status
	}
	switch {
	case p.Status == 0:
		p.Status = t.status
	case t == BadRequest && p.Status < 500, t == Internal && p.Status >= 500:
		// the status classes API Gateway's DEFAULT_4XX and DEFAULT_5XX answer with
	case t.status >= 500 && p.Status == t.status:
		// a 5xx type of its own (Unavailable), answered with its status
	case p.Status >= 500:
		t = Internal
	default:
		p.Status = t.status
	}
	if t == Internal {
		return Problem{Type: t.URI(), Title: t.title, Status: p.Status, Detail: t.detail, Instance: p.Instance}
	}
	out := Problem{Type: t.URI(), Title: t.title, Status: p.Status, Detail: p.Detail, Instance: p.Instance}
	if t.fixed || out.Detail == "" {
		out.Detail = t.detail
	}
	switch t {
	case Validation:
		out.Errors = NewValidation(p.Errors...).p.Errors
	case ScopesNotAllowed:
		out.DeniedScopes = NewScopesNotAllowed("", p.DeniedScopes).p.DeniedScopes
	}
	return out
}
