package auditquery

import (
	"slices"
	"strings"
)

// keywords of the Logs Insights query language that may stand where a field could.
var keywords = map[string]bool{"as": true, "by": true, "asc": true, "desc": true, "in": true, "and": true, "or": true, "not": true, "like": true}

// FieldNames lists, sorted, every field the query names: the log's fields ("eventId",
// "actor.kind", "detail.step"; a name in backquotes without them) and the fields Logs Insights
// discovers ("@timestamp", "@message"). Function names, keywords, string and number literals,
// and the names stats gives its results ("… as copies") are not fields.
func (q Query) FieldNames() []string {
	parts := make([]string, 0, len(q.Fields)+len(q.Filter)+len(q.Stats)+2)
	parts = append(parts, q.Fields...)
	parts = append(parts, q.Filter...)
	parts = append(parts, q.Stats...)
	parts = append(parts, q.Sort, q.Display)
	aliases := map[string]bool{}
	var named []string
	for _, p := range parts {
		f, a := scan(p)
		named = append(named, f...)
		for _, n := range a {
			aliases[n] = true
		}
	}
	var out []string
	for _, n := range named {
		if !aliases[n] && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Column is a field name of the fields line as a result row names it: without backquotes.
func Column(field string) string { return strings.Trim(field, "`") }

// scan returns the names in one statement that may be fields, and the aliases it declares.
func scan(s string) (names, aliases []string) {
	prev := ""
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			i, prev = j+1, ""
		case c == '`':
			j := strings.IndexByte(s[i+1:], '`')
			if j < 0 {
				j = len(s) - i - 1
			}
			name := s[i+1 : i+1+j]
			if prev == "as" {
				aliases = append(aliases, name)
			} else {
				names = append(names, name)
			}
			i, prev = i+j+2, name
		case c >= '0' && c <= '9':
			for i < len(s) && (isIdent(s[i])) {
				i++
			}
			prev = ""
		case isIdent(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			k := j
			for k < len(s) && s[k] == ' ' {
				k++
			}
			switch {
			case k < len(s) && s[k] == '(': // a function
			case prev == "as":
				aliases = append(aliases, word)
			case keywords[strings.ToLower(word)]:
			default:
				names = append(names, word)
			}
			i, prev = j, strings.ToLower(word)
		default:
			i++
			if c != ' ' {
				prev = ""
			}
		}
	}
	return names, aliases
}

func isIdent(c byte) bool {
	return c == '_' || c == '.' || c == '@' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
