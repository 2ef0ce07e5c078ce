package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args       []string
		code       int
		out, errst string
	}{
		{[]string{"version"}, 0, "lanyard dev\n", ""},
		{[]string{"--help"}, 0, "Usage:", ""},
		{nil, 2, "", "Usage:"},
		{[]string{"frobnicate"}, 2, "", "lanyard: unknown command \"frobnicate\" (see lanyard help)\n"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != c.code {
			t.Errorf("%v: exit %d, want %d", c.args, code, c.code)
		}
		if !strings.Contains(out.String(), c.out) || !strings.Contains(errb.String(), c.errst) {
			t.Errorf("%v: stdout %q stderr %q", c.args, out.String(), errb.String())
		}
	}
}
