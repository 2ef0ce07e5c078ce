package front

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/lanyardhq/lanyard/topology"
)

// route is a declared route, ready to match request paths.
type route struct {
	topology.Route
	segments []segment
	lambda   string // the Lambda function name
	// resourceID stands in for API Gateway's id of the resource (the path template).
	resourceID string
}

type segment struct {
	literal string
	param   string // set for a {param} segment
}

func parseRoute(r topology.Route) (*route, error) {
	if !strings.HasPrefix(r.Path, "/") || r.Path == "/" {
		return nil, errors.New("path must start with / and name a resource")
	}
	rt := &route{Route: r}
	for s := range strings.SplitSeq(r.Path[1:], "/") {
		switch {
		case s == "":
			return nil, errors.New("path has an empty segment")
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && len(s) > 2:
			rt.segments = append(rt.segments, segment{param: s[1 : len(s)-1]})
		case strings.ContainsAny(s, "{}"):
			return nil, errors.New("path parameters must fill a whole segment")
		default:
			rt.segments = append(rt.segments, segment{literal: s})
		}
	}
	sum := sha256.Sum256([]byte(r.Path))
	rt.resourceID = hex.EncodeToString(sum[:3])
	return rt, nil
}

// match matches the escaped path segments of a request. Path parameters are passed on as
// they appear in the URL, still percent-encoded, as API Gateway's REST APIs do.
func (rt *route) match(segs []string) (map[string]string, bool) {
	if len(segs) != len(rt.segments) {
		return nil, false
	}
	var params map[string]string
	for i, s := range rt.segments {
		if s.param == "" {
			if segs[i] != s.literal {
				return nil, false
			}
			continue
		}
		if segs[i] == "" {
			return nil, false
		}
		if params == nil {
			params = map[string]string{}
		}
		params[s.param] = segs[i]
	}
	return params, true
}

// moreSpecific reports whether rt wins over other when both match: API Gateway prefers a
// literal segment to a path parameter, from the left.
func (rt *route) moreSpecific(other *route) bool {
	for i := range rt.segments {
		a, b := rt.segments[i].param == "", other.segments[i].param == ""
		if a != b {
			return a
		}
	}
	return false
}
