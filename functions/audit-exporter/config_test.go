package main

import (
	"testing"

	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

func TestConfigMatchesTopology(t *testing.T) {
	t.Parallel()
	topologytest.CheckConfig(t, topology.Lanyard(), "audit-exporter", config{})
}
