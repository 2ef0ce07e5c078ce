//go:build integration

package c

import "testing"

// Only a helper: no test of its own.
func helper(t *testing.T) {}
