package authorizer

import (
	"context"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

// CacheLen is the number of entries a's key cache holds.
func CacheLen(a *Authorizer) int {
	a.init()
	return a.cache.len()
}

// Decide is Authorize without its span and log line: the decision alone.
func Decide(ctx context.Context, a *Authorizer, req lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest) (lambdaevents.APIGatewayCustomAuthorizerResponse, error) {
	resp, _, err := a.decide(ctx, req)
	return resp, err
}
