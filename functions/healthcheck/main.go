// Command healthcheck is the Lambda function that reports the deployed build version.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/lanyardhq/lanyard/shared/awsconfig"
	"github.com/lanyardhq/lanyard/shared/buildinfo"
	"github.com/lanyardhq/lanyard/shared/health"
	"github.com/lanyardhq/lanyard/shared/logging"
)

func main() {
	slog.SetDefault(logging.New())
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		slog.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	h := health.Handler{Version: buildinfo.Version, Region: cfg.Region, Now: time.Now}
	lambda.Start(h.Handle)
}
