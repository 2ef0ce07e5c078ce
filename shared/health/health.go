// Package health answers "is this deployment alive, and which build is it?".
package health

import (
	"context"
	"log/slog"
	"time"

	"github.com/lanyardhq/lanyard/shared/tracing"
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

// Handle is the Lambda entry point. It accepts any event.
func (h Handler) Handle(ctx context.Context) (Report, error) {
	ctx, span := tracing.Start(ctx, "healthcheck")
	defer span.End(nil)
	r := Report{Status: "ok", Version: h.Version, Region: h.Region, Time: h.Now().UTC()}
	slog.InfoContext(ctx, "healthcheck", "version", r.Version, "region", r.Region)
	return r, nil
}
