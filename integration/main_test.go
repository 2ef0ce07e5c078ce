//go:build integration

// Package integration holds the smoke suite that proves, against the real local servers, what
// Lanyard's later pieces rely on.
package integration

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/lanyardhq/lanyard/integration/harness"
)

var env *harness.Env

func TestMain(m *testing.M) {
	var err error
	env, err = harness.Connect(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
