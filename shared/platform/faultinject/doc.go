// Package faultinject crashes a deployed function's invocation right after its Nth AWS call, so
// the integration tests can show that every state a crash leaves is one the next attempt
// converges from (rotation); or pauses it there, so they can make another change land between
// what the invocation read and what it answers (the authorizer reading a key's registry entry
// before a revocation commits and answering after the revoke's cache flush). Neither LocalStack
// nor DynamoDB Local can delay one call of one invocation: the fault is SDK middleware in the
// function, not a fake of the service.
//
// Everything but this file and apierror.go is compiled only with the faultinject build tag: `scripts/build.sh
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
//	LANYARD_FAULT=step=authorize,after=1,pause=3s
//
// Unset or empty: no fault. Malformed (an unknown key or step, a key given twice, a pause that
// is not a Go duration above 0s and at most 10s): no fault, and the function logs one error at
// its cold start.
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
// # What "a pause after the Nth AWS call" means
//
// With pause set, the fault pauses instead of crashing (a fault does one or the other). During
// every invocation of the step named, the After-th AWS call is sent and completes, and its
// result (answer or error) is handed back to the handler only once the pause has passed; the
// invocation then goes on normally, every later call sent, and answers what the handler
// answers. after=0 waits the pause before the handler runs. The pause ends early when the
// invocation's context does (its deadline). The function logs PauseMessage as the pause
// begins; CloudWatch gets an invocation's lines when it ends, so a test cannot watch for it
// while the invocation is held.
//
// # AWS API errors in-process (APIFaults)
//
// APIFaults is the other half, for tests that drive handler code in their own process against
// DynamoDB Local: SDK middleware on a client that answers chosen calls (the Nth call an
// APIRule matches, once or from then on) with an AWS API error — a throttle, a 500, a
// cancelled transaction — unsent, every attempt of the call, so the client's retryer sees it as
// it would the service's answer. It is compiled with the faultinject or the integration tag
// (apierror.go); no function wires it.
//
// # Wiring
//
// The SDK middleware goes into the function's aws.Config (Injector.Install) before its clients
// are built, and the handler is wrapped (Wrap, or WrapResult for a handler answering a result
// and an error) so each invocation carries its own count and step in its context.
package faultinject
