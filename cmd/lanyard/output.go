package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
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

// emit writes v as JSON, or calls table with a tab-separated writer.
func (o *output) emit(v any, table func(w io.Writer)) error {
	if o.json() {
		enc := json.NewEncoder(o.w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
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
