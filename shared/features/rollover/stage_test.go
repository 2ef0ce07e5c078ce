package rollover_test

import (
	"testing"

	"github.com/lanyardhq/lanyard/shared/features/rollover"
)

func TestParseStageARN(t *testing.T) {
	t.Parallel()
	api, stage, err := rollover.ParseStageARN("arn:aws:execute-api:us-east-1:000000000000:lanyard/local")
	if err != nil || api != "lanyard" || stage != "local" {
		t.Errorf("got %q %q %v", api, stage, err)
	}
	for _, bad := range []string{"", "arn:aws:lambda:us-east-1:0:function:x", "arn:aws:execute-api:us-east-1:0:lanyard", "arn:aws:execute-api:us-east-1:0:lanyard/local/GET/x"} {
		if _, _, err := rollover.ParseStageARN(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
