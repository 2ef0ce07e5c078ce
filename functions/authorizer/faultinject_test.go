//go:build faultinject

package main

import (
	"context"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
)

// The hooks arm the injector from the configuration's LANYARD_FAULT for the step "authorize",
// and wrap every invocation: a pause before the first AWS call holds the answer, which is the
// handler's own. Not parallel: the hooks share the injector.
func TestFaultHooks(t *testing.T) {
	const pause = 300 * time.Millisecond
	for _, tc := range []struct {
		name   string
		fault  string
		paused bool
	}{
		{name: "armed", fault: "step=authorize,after=0,pause=300ms", paused: true},
		{name: "unset"},
		{name: "another step", fault: "step=createSecret,after=0,pause=300ms"},
		{name: "malformed", fault: "step=authorize,after=0,pause=1h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg aws.Config
			configure(&cfg, config{Fault: tc.fault})
			if installed := len(cfg.APIOptions) > 0; installed != tc.paused {
				t.Errorf("middleware installed: %t, want %t", installed, tc.paused)
			}
			want := lambdaevents.APIGatewayCustomAuthorizerResponse{PrincipalID: "p"}
			h := wrap(func(context.Context, lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest) (lambdaevents.APIGatewayCustomAuthorizerResponse, error) {
				return want, nil
			})
			began := time.Now()
			got, err := h(t.Context(), lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest{})
			took := time.Since(began)
			if err != nil || got.PrincipalID != want.PrincipalID {
				t.Errorf("answered %+v, %v", got, err)
			}
			if paused := took >= pause; paused != tc.paused {
				t.Errorf("took %s: paused %t, want %t", took, paused, tc.paused)
			}
		})
	}
}
