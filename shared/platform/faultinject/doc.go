// Package faultinject crashes a deployed function's invocation right after its Nth AWS call, so
// the integration tests can show that every state a crash leaves is one the next attempt
// converges from (issue 8: rotation).
//
// Everything but this file is compiled only with the faultinject build tag: `scripts/build.sh
// local` builds with it, so the zips `lanyard local` and the integration tests deploy carry the
// injector, switched off; the Lambda build does not, and a check in that build (and a test
// here) fails if a function links this package without the tag.
//
// # Switching it on
//
// The environment variable LANYARD_FAULT, set with UpdateFunctionConfiguration (which starts a
// new execution environment, where the injector reads it once):
//
//	LANYARD_FAULT=step=finishSecret,after=2
//
// Unset or empty: no fault. Malformed: no fault, and the function logs one error at its cold
// start.
//
// # What "a crash after the Nth AWS call" means
//
// During every invocation whose step (for rotation, the event's Step) is the one named, the
// first `after` AWS calls go through and complete — their effects land, whatever they answer —
// and from then on the invocation is crashed: every later AWS call it makes fails at once with
// an error matching ErrCrashed without being sent, and the invocation fails with an error
// matching ErrCrashed even when the handler returns nil (a crash after the last call of a step
// still fails the invocation). So what AWS holds afterwards is exactly what a process killed
// right after the Nth call returned would leave: nothing the handler does after that point
// reaches AWS, not even its failure bookkeeping. after=0 crashes before the first call.
//
// A call is one operation as the handler makes it: the middleware sits at the front of the
// Initialize step, outside the SDK's retry loop, so the SDK's retries of a call are one call,
// and a refused call is never signed, traced or sent.
//
// # Wiring
//
// The SDK middleware goes into the function's aws.Config (Injector.Install) before its clients
// are built, and the handler is wrapped (Wrap) so each invocation carries its own count and
// step in its context.
package faultinject
