//go:build faultinject

// This file is compiled only with the faultinject build tag (`scripts/build.sh local`): it
// sets main.go's hooks so LANYARD_FAULT can crash an invocation of one rotation step after
// its Nth AWS call (shared/platform/faultinject). Lambda builds have no such tag and no such code.

package main

import (
	"log/slog"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/platform/faultinject"
)

func init() {
	// Read at the cold start, from the configuration's LANYARD_FAULT, after logging is set up; nil (no fault) when unset or
	// malformed.
	var injector *faultinject.Injector
	configure = func(cfg *aws.Config, c config) {
		inj, err := faultinject.FromEnv(func(string) string { return c.Fault }, events.StepCreateSecret, events.StepSetSecret, events.StepTestSecret, events.StepFinishSecret)
		if err != nil {
			slog.Error("fault injection: malformed, no fault injected", "variable", faultinject.EnvVar, "error", err.Error())
			return
		}
		if inj != nil {
			slog.Warn("fault injection armed", "variable", faultinject.EnvVar, "step", inj.Fault.Step, "after", inj.Fault.After)
		}
		inj.Install(cfg)
		injector = inj
	}
	wrap = func(h handler) handler {
		return faultinject.Wrap(injector, func(ev lambdaevents.SecretsManagerSecretRotationEvent) string { return ev.Step }, h)
	}
}
