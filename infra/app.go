package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/topology"
)

// stacks are the Lanyard stacks built from one topology.
type stacks struct {
	Foundation *FoundationStack
	Tables     *TablesStack // nil when the topology declares no table
	Services   *ServicesStack
}

// newStacks defines the app's stacks: the foundation (key, bus), the tables when there are
// any, and the services built from top, each function's package given by code.
func newStacks(app awscdk.App, top *topology.Topology, env *awscdk.Environment, code func(topology.Function) awslambda.Code) stacks {
	var s stacks
	s.Foundation = NewFoundationStack(app, "LanyardFoundation", &FoundationStackProps{
		StackProps: awscdk.StackProps{Env: env, Description: jsii.String("Lanyard: event bus, archive and customer-managed KMS key")},
	})
	tables := map[string]awsdynamodb.ITable{}
	if len(top.Tables) > 0 {
		s.Tables = NewTablesStack(app, "LanyardTables", &TablesStackProps{
			StackProps: awscdk.StackProps{
				Env:                   env,
				Description:           jsii.String("Lanyard: DynamoDB tables"),
				TerminationProtection: jsii.Bool(true),
			},
			Tables: top.Tables,
			Key:    s.Foundation.Key,
		})
		for name, t := range s.Tables.Tables {
			tables[name] = t
		}
	}
	s.Services = NewServicesStack(app, "LanyardServices", &ServicesStackProps{
		StackProps: awscdk.StackProps{Env: env, Description: jsii.String("Lanyard: functions, REST API, consumers and schedules")},
		Topology:   top,
		Key:        s.Foundation.Key,
		Bus:        s.Foundation.Bus,
		Tables:     tables,
		Code:       code,
	})
	return s
}
