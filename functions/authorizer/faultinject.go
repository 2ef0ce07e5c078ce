//go:build faultinject

// This file is compiled only with the faultinject build tag (`scripts/build.sh local`): it
// sets main.go's hooks so LANYARD_FAULT can crash or pause an invocation of the authorizer
// after its Nth AWS call (shared/platform/faultinject). Every invocation is of the one step
// "authorize". Lambda builds have no such tag and no such code.

package main

import (
	"log/slog"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lanyardhq/lanyard/shared/platform/faultinject"
)

// faultStep is the step every invocation of the authorizer is, as LANYARD_FAULT names it:
// step=authorize,after=1,pause=3s holds the answer of each invocation's registry read for 3s.
const faultStep = "authorize"

func init() {
	// Read at the cold start, from the configuration's LANYARD_FAULT, after logging is set up;
	// nil (no fault) when unset or malformed.
	var injector *faultinject.Injector
	configure = func(cfg *aws.Config, c config) {
		inj, err := faultinject.FromEnv(func(string) string { return c.Fault }, faultStep)
		injector = inj
		if err != nil {
			slog.Error("fault injection: malformed, no fault injected", "variable", faultinject.EnvVar, "error", err.Error())
			return
		}
		if inj != nil {
			slog.Warn("fault injection armed", "variable", faultinject.EnvVar, "step", inj.Fault.Step, "after", inj.Fault.After, "pause", inj.Fault.Pause.String())
		}
		inj.Install(cfg)
	}
	wrap = func(h handler) handler {
		return faultinject.WrapResult(injector, func(lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest) string { return faultStep }, h)
	}
}
