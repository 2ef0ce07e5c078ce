package api

import (
	"context"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/domain/openapi"
)

// Handle is the Lambda entry point behind GET /v1/openapi.json: the embedded document, open to
// anyone (it describes the API, it holds no secret).
func Handle(_ context.Context, _ lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: 200,
		Headers: map[string]string{
			"Content-Type":  "application/json",
			"Cache-Control": "public, max-age=300",
		},
		Body: string(openapi.Document()),
	}, nil
}
