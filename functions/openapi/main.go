// Command openapi is the Lambda function behind GET /v1/openapi.json. It reads no
// configuration and calls no AWS service.
package main

import (
	"github.com/lanyardhq/lanyard/api"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

func main() {
	lambdastart.StartPlain(api.Handle)
}
