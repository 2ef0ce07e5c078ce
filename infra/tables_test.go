package infra

import (
	"testing"

	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

// Tables outlive their stack and cannot be deleted by accident.
func TestTablesAreRetainedAndProtected(t *testing.T) {
	for _, d := range declarations {
		t.Run(d.name, func(t *testing.T) {
			top := d.topology()
			tpl := synthesize(t, d.name, top).tables
			if len(top.Tables) == 0 {
				if tpl != nil {
					t.Error("a tables stack without tables")
				}
				return
			}
			check(t, func() {
				tpl.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(len(top.Tables)))
				tpl.AllResources(jsii.String("AWS::DynamoDB::Table"), map[string]any{
					"DeletionPolicy":      "Retain",
					"UpdateReplacePolicy": "Retain",
					"Properties":          map[string]any{"DeletionProtectionEnabled": true},
				})
			})
		})
	}
}

// The tables stack exists only where there are tables, and is termination-protected.
func TestTablesStackIsTerminationProtected(t *testing.T) {
	code := dummyCode(t)
	if st := mustStacks(t, topology.Lanyard(), nil, code); (st.Tables != nil) != (len(topology.Lanyard().Tables) > 0) {
		t.Error("a tables stack exists exactly when tables are declared")
	}
	st := mustStacks(t, topologytest.Sample(), nil, code)
	if st.Tables == nil || st.Tables.TerminationProtection() == nil || !*st.Tables.TerminationProtection() {
		t.Error("the tables stack is not termination-protected")
	}
}

// The stack holds the tables and nothing that grants access to them.
func TestTablesStackHoldsOnlyTables(t *testing.T) {
	tpl := synthesize(t, "sample", topologytest.Sample()).tables
	for _, typ := range []string{"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::Lambda::Function", "AWS::SQS::Queue"} {
		check(t, func() { tpl.ResourceCountIs(jsii.String(typ), jsii.Number(0)) })
	}
}
