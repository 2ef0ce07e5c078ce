// Command openapi is the Lambda function behind GET /v1/openapi.json.
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/lanyardhq/lanyard/api"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

func main() {
	slog.SetDefault(logging.New())
	lambda.Start(api.Handle)
}
