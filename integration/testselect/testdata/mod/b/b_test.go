package b

import "testing"

func TestOnlyUnit(t *testing.T) {}
