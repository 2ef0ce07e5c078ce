//go:build integration

package a

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(m.Run()) }

func TestAgainstServers(t *testing.T) {}

func Testlowercase(t *testing.T) {}

func helper() {}

func ExampleServers() {}

func FuzzServers(f *testing.F) {}
