// Package infra builds Lanyard's AWS deployment with the CDK, from the one declaration of the
// wiring (topology): the foundation stack (the customer-managed KMS key, the event bus and its
// archive), the tables stack (the declared DynamoDB tables, retained and deletion-protected)
// and the services stack (the functions with their own roles and log groups, the REST API and
// its authorizer, usage plans, the partner-access role, the bus and stream consumers and the
// schedules). Each stack and each reusable construct sits in a file of its own, with its
// assertion tests beside it.
//
// The CDK app is infra/cmd/lanyard-cdk, which `make synth` runs through the CDK CLI
// (cdk.json): its main calls Synth with topology.Lanyard() and prints the error Synth returns,
// one line naming the bad declaration, prop or missing function package. A bad declaration or
// prop is an error returned by the constructor that meets it (NewStacks, NewServicesStack,
// NewAPI, …), never a panic; what the CDK itself throws while NewStacks or Synth builds the
// app (a construct id a declared name already takes, say) is returned as an error too.
package infra
