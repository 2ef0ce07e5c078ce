package suite_test

import (
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/local/suite"
)

func TestLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		want string // "" means accepted
	}{
		{"127.0.0.1:4510", ""},
		{"127.0.0.2:0", ""},
		{"[::1]:4510", ""},
		{"localhost:4510", ""},
		{":4510", "not a loopback address"},
		{"0.0.0.0:4510", "not a loopback address"},
		{"[::]:4510", "not a loopback address"},
		{"192.0.2.2:4510", "not a loopback address"},
		{"example.internal:4510", "not a loopback address"},
		{"127.0.0.1", "missing port"},
	} {
		err := suite.LoopbackOnly(tc.addr)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.addr, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.addr, err, tc.want)
		}
	}
}
