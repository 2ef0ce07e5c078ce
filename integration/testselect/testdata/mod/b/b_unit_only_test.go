//go:build !integration

package b

import "testing"

func TestNotWithTheTag(t *testing.T) {}
