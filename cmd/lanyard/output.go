package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/shared/domain/partnername"
)

// output renders command results as a table (for people) or JSON (for scripts).
type output struct {
	w      io.Writer
	format string
}

func (o *output) check() error {
	if o.format != "table" && o.format != "json" {
		return usageError{fmt.Errorf("--output must be table or json, not %q", o.format)}
	}
	return nil
}

func (o *output) json() bool { return o.format == "json" }

// emit writes v as JSON, or calls table with a tab-separated writer. The JSON holds no
// character a terminal would act on or hide: each one outside ASCII that a partner name may
// not hold (partnername.Allowed) is written as a JSON escape, which decodes to the same value
// (encoding/json escapes the ASCII control characters itself).
func (o *output) emit(v any, table func(w io.Writer)) error {
	if o.json() {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
		if _, err := o.w.Write(escapeJSON(buf.Bytes())); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
		return nil
	}
	tw := tabwriter.NewWriter(o.w, 0, 4, 2, ' ', 0)
	table(tw)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// escapeJSON rewrites every character outside ASCII that partnername.Allowed refuses in a JSON
// document as a \uXXXX escape (a surrogate pair above U+FFFF), and each byte that is not
// UTF-8 as \ufffd, as encoding/json decodes it. Outside ASCII, JSON has such characters only
// inside strings, where the escape means the same character; the document's structure and its
// ASCII are left as they are.
func escapeJSON(doc []byte) []byte {
	var out []byte
	for i := 0; i < len(doc); {
		r, size := utf8.DecodeRune(doc[i:])
		if r < utf8.RuneSelf || partnername.Allowed(r) {
			out = append(out, doc[i:i+size]...)
			i += size
			continue
		}
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	return out
}
