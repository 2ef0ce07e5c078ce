// Package health answers "is this deployment alive, and which build is it?".
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
)

// Report is the healthcheck function's answer.
type Report struct {
	Status  string    `json:"status"`
	Version string    `json:"version"`
	Region  string    `json:"region"`
	Time    time.Time `json:"time"`
}

// Handler reports the build version and the region its AWS configuration resolved.
type Handler struct {
	Version string
	Region  string
	Now     func() time.Time
}

// Handle is the Lambda entry point behind GET /v1/health: a proxy request in, the Report as a
// JSON proxy response out.
func (h Handler) Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	return apigw.Route{Span: "healthcheck", Log: "health check"}.Serve(ctx, req, h.report)
}

func (h Handler) report(ctx context.Context, _ *tracing.Span, _ lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	r := Report{Status: "ok", Version: h.Version, Region: h.Region, Time: h.Now().UTC()}
	body, err := json.Marshal(r)
	if err != nil {
		return lambdaevents.APIGatewayProxyResponse{}, fmt.Errorf("encode health report: %w", err)
	}
	slog.InfoContext(ctx, "healthcheck", "version", r.Version, "region", r.Region)
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"},
		Body:       string(body),
	}, nil
}
