package api

import (
	"context"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/domain/openapi"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
)

// Handle is the Lambda entry point behind GET /v1/openapi.json: the embedded document, open to
// anyone (it describes the API, it holds no secret).
func Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	return apigw.Route{Span: "getOpenAPIDocument", Log: "OpenAPI document"}.Serve(ctx, req, serve)
}

func serve(context.Context, *tracing.Span, lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: 200,
		Headers: map[string]string{
			"Content-Type":  "application/json",
			"Cache-Control": "public, max-age=300",
		},
		Body: string(openapi.Document()),
	}, nil
}
