// Command healthcheck is the Lambda function that reports the deployed build version.
package main

import (
	"context"
	"time"

	"github.com/lanyardhq/lanyard/shared/features/health"
	"github.com/lanyardhq/lanyard/shared/platform/buildinfo"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

type config struct{}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		h := health.Handler{Version: buildinfo.Version, Region: s.AWS.Region, Now: time.Now}
		return h.Handle, nil
	})
}
