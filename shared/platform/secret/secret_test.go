package secret_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

const plaintext = "lnyd_test_s3cr3t-material"

func TestValueNeverRendersPlaintext(t *testing.T) {
	t.Parallel()
	v := secret.New(plaintext)
	type holder struct {
		Name string
		Key  secret.Value
		Ptr  *secret.Value
	}
	h := holder{Name: "p1", Key: v, Ptr: &v}

	renderings := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10s", "%-8v"} {
		renderings["value "+verb] = fmt.Sprintf(verb, v)
		renderings["holder "+verb] = fmt.Sprintf(verb, h)
		renderings["pointer "+verb] = fmt.Sprintf(verb, &v)
	}
	renderings["String"] = v.String()
	renderings["GoString"] = v.GoString()
	renderings["Sprint"] = fmt.Sprint(v, h)
	renderings["Sprintln"] = fmt.Sprintln(v, &h)
	renderings["error"] = fmt.Errorf("use key %v: %w", v, errSentinel).Error()

	js, err := json.Marshal(h)
	if err != nil {
		t.Fatalf("marshal holder: %v", err)
	}
	renderings["json"] = string(js)
	mk, err := json.Marshal(map[secret.Value]int{v: 1})
	if err != nil {
		t.Fatalf("marshal map: %v", err)
	}
	renderings["json map key"] = string(mk)

	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("issued", "key", v, "holder", h, slog.Any("ptr", &v))
	text := slog.New(slog.NewTextHandler(&buf, nil))
	text.Info("issued", "key", v, "holder", h)
	renderings["slog"] = buf.String()

	for name, got := range renderings {
		if strings.Contains(got, plaintext) || strings.Contains(got, fmt.Sprintf("%x", plaintext)) {
			t.Errorf("%s rendering leaks the plaintext", name)
		}
		if name != "value %T" && name != "holder %T" && name != "pointer %T" && !strings.Contains(got, secret.Redacted) {
			t.Errorf("%s rendering %q does not show %s", name, got, secret.Redacted)
		}
	}
}

func TestValueRevealAndZero(t *testing.T) {
	t.Parallel()
	if got := secret.New(plaintext).Reveal(); got != plaintext {
		t.Fatalf("Reveal returned a different value")
	}
	if !(secret.Value{}).IsZero() || secret.New("x").IsZero() {
		t.Fatalf("IsZero is wrong")
	}
}

var errSentinel = fmt.Errorf("sentinel")
