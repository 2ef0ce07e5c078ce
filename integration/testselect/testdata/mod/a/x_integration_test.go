//go:build integration && !never

package a_test

import "testing"

func TestFromTheExternalPackage(t *testing.T) {}

func Test(t *testing.T) {}
