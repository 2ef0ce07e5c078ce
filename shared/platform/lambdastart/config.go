package lambdastart

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Platform reports whether name is a platform-wide variable: one that Lambda, the AWS SDK or
// `lanyard local` sets for every function (AWS_*, LANYARD_KEY_ENVIRONMENT, LANYARD_LOG_LEVEL,
// and the test overrides LANYARD_FAULT, LANYARD_REVOCATION_BUDGET, LANYARD_REFUSAL_WINDOW,
// LANYARD_AUDIT_EXPORT_WINDOW and LANYARD_AUDIT_EXPORT_DELAY),
// rather than one the
// function's topology entry gives it. A configuration may read them; the topology never
// declares them.
func Platform(name string) bool {
	switch name {
	case KeyEnvironmentVar, "LANYARD_LOG_LEVEL", "LANYARD_FAULT", RevocationBudgetVar, RefusalWindowVar,
		AuditExportWindowVar, AuditExportDelayVar:
		return true
	}
	return strings.HasPrefix(name, "AWS_")
}

// RevocationBudgetVar overrides the policy's revocation.budget in the revocation tracker (a
// Go duration), for tests that need a revocation to stall within seconds; AWS deployments
// leave it unset.
const RevocationBudgetVar = "LANYARD_REVOCATION_BUDGET"

// RefusalWindowVar overrides the policy's audit.refusalWindow (a Go duration) in the functions
// that count refused onboardings and write their counts, for tests that need windows of
// seconds; AWS deployments leave it unset.
const RefusalWindowVar = "LANYARD_REFUSAL_WINDOW"

// AuditExportWindowVar and AuditExportDelayVar override the policy's audit.exportWindow and
// audit.exportDelay (Go durations) in the audit exporter: `lanyard local --audit-window` sets
// the window, so a local trail has windows of a minute or seconds; AWS deployments leave them
// unset.
const (
	AuditExportWindowVar = "LANYARD_AUDIT_EXPORT_WINDOW"
	AuditExportDelayVar  = "LANYARD_AUDIT_EXPORT_DELAY"
)

// KeyEnvironmentVar names the key environment a deployment mints and accepts keys for
// (live, test or locl; live when unset). `lanyard local` sets it; AWS deployments leave it
// unset.
const KeyEnvironmentVar = "LANYARD_KEY_ENVIRONMENT"

// Load fills the struct cfg points to from lookup (os.LookupEnv in a function). Each field
// with an `env:"NAME"` tag is read from NAME; a field without one is left alone, and an
// embedded struct without one is filled the same way. Options after the name:
//
//   - optional: an unset or empty variable leaves the field at its zero value (or default);
//   - default=V: the value used when the variable is unset or empty (implies optional).
//
// Fields are string, int, bool, time.Duration or an encoding.TextUnmarshaler (whose error
// must not quote the text). Every missing and malformed variable is reported in one error,
// by name, never by value:
//
//	configuration: missing CREDENTIALS_TABLE, OUTBOX_TABLE; malformed PAGE_SIZE (not a whole number)
func Load(cfg any, lookup func(string) (string, bool)) error {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("configuration: %T is not a pointer to a struct", cfg)
	}
	var missing, malformed []string
	err := walk(v.Elem(), func(f field, dst reflect.Value) error {
		s, _ := lookup(f.name)
		if s == "" {
			s = f.def
		}
		if s == "" {
			if !f.optional {
				missing = append(missing, f.name)
			}
			return nil
		}
		if reason := set(dst, s); reason != "" {
			malformed = append(malformed, fmt.Sprintf("%s (%s)", f.name, reason))
		}
		return nil
	})
	if err != nil {
		return err
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing "+strings.Join(missing, ", "))
	}
	if len(malformed) > 0 {
		parts = append(parts, "malformed "+strings.Join(malformed, ", "))
	}
	if len(parts) > 0 {
		return errors.New("configuration: " + strings.Join(parts, "; "))
	}
	return nil
}

// Loader is a configuration field that is not read from the environment but loaded once at
// the cold start, after the variables and before the AWS configuration: a function declares it
// uses something (the policy: policy.Loaded) by holding such a field. Load's error says what
// failed to load.
type Loader interface {
	Load() error
}

// loadAll calls Load on each field of the struct cfg points to whose address is a Loader.
func loadAll(cfg any) error {
	v := reflect.ValueOf(cfg).Elem()
	for i := range v.NumField() {
		if !v.Type().Field(i).IsExported() {
			continue
		}
		if l, ok := v.Field(i).Addr().Interface().(Loader); ok {
			if err := l.Load(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Variables lists the variables the configuration struct cfg (a struct or a pointer to one)
// reads, in field order.
func Variables(cfg any) ([]string, error) {
	v := reflect.ValueOf(cfg)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("configuration: %T is not a struct", cfg)
	}
	var names []string
	err := walk(v, func(f field, _ reflect.Value) error {
		names = append(names, f.name)
		return nil
	})
	return names, err
}

type field struct {
	name     string
	optional bool
	def      string
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func walk(v reflect.Value, visit func(field, reflect.Value) error) error {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("env")
		if !ok {
			if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
				if err := walk(v.Field(i), visit); err != nil {
					return err
				}
			}
			continue
		}
		if !sf.IsExported() {
			return fmt.Errorf("configuration: field %s of %s is not exported", sf.Name, t)
		}
		f, err := parseTag(tag)
		if err != nil {
			return fmt.Errorf("configuration: field %s of %s: %w", sf.Name, t, err)
		}
		if !settable(sf.Type) {
			return fmt.Errorf("configuration: field %s of %s: %s is not string, int, bool, time.Duration or an encoding.TextUnmarshaler", sf.Name, t, sf.Type)
		}
		if err := visit(f, v.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

func parseTag(tag string) (field, error) {
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		return field{}, errors.New("env tag without a variable name")
	}
	f := field{name: name}
	for opt := range strings.SplitSeq(opts, ",") {
		switch {
		case opt == "":
		case opt == "optional":
			f.optional = true
		case strings.HasPrefix(opt, "default="):
			f.def, f.optional = strings.TrimPrefix(opt, "default="), true
		default:
			return field{}, fmt.Errorf("env tag option %q is none of optional, default=", opt)
		}
	}
	return f, nil
}

func settable(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Int, reflect.Bool:
		return true
	case reflect.Int64:
		return t == durationType
	}
	return false
}

// set parses s into dst; it returns why s is malformed, without quoting it, or "".
func set(dst reflect.Value, s string) string {
	if u, ok := dst.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText([]byte(s)); err != nil {
			return err.Error()
		}
		return ""
	}
	switch {
	case dst.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return "not a duration such as 30s"
		}
		dst.SetInt(int64(d))
	case dst.Kind() == reflect.String:
		dst.SetString(s)
	case dst.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return "not a whole number"
		}
		dst.SetInt(int64(n))
	case dst.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return "not true or false"
		}
		dst.SetBool(b)
	}
	return ""
}
