package a

import "testing"

func TestUnit(t *testing.T) {}
