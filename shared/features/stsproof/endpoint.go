package stsproof

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// The variables the STS endpoint comes from (EndpointVars), first to last; the SDK honours the same ones.
const (
	EndpointSTSEnv = "AWS_ENDPOINT_URL_STS"
	EndpointEnv    = "AWS_ENDPOINT_URL"
	RegionEnv      = "AWS_REGION"
)

// EndpointVars are the variables the STS endpoint comes from, first to last: a function
// embeds it in its configuration (shared/platform/lambdastart), the CLI fills it from its
// environment.
type EndpointVars struct {
	STS    string `env:"AWS_ENDPOINT_URL_STS,optional"`
	All    string `env:"AWS_ENDPOINT_URL,optional"`
	Region string `env:"AWS_REGION,optional"`
}

// EndpointFromEnv is EndpointVars' Endpoint with the variables read through getenv.
func EndpointFromEnv(getenv func(string) string) (*url.URL, error) {
	return EndpointVars{STS: getenv(EndpointSTSEnv), All: getenv(EndpointEnv), Region: getenv(RegionEnv)}.Endpoint()
}

// EndpointForRegion is EndpointVars' ForRegion with the endpoint variables read through
// getenv.
func EndpointForRegion(getenv func(string) string, region string) (*url.URL, error) {
	return EndpointVars{STS: getenv(EndpointSTSEnv), All: getenv(EndpointEnv)}.ForRegion(region)
}

// Endpoint is the STS endpoint a deployment verifies against: $AWS_ENDPOINT_URL_STS, else
// $AWS_ENDPOINT_URL (LocalStack), else https://sts.<$AWS_REGION>.amazonaws.com. Errors name
// the variable, never its value.
func (v EndpointVars) Endpoint() (*url.URL, error) {
	if v.STS == "" && v.All == "" && v.Region == "" {
		return nil, fmt.Errorf("stsproof: no STS endpoint: set %s, %s or %s", EndpointSTSEnv, EndpointEnv, RegionEnv)
	}
	return v.ForRegion(v.Region)
}

// ForRegion is Endpoint with the region given rather than v.Region: the endpoint variables
// still come first.
func (v EndpointVars) ForRegion(region string) (*url.URL, error) {
	for _, e := range []struct{ name, value string }{{EndpointSTSEnv, v.STS}, {EndpointEnv, v.All}} {
		if e.value != "" {
			u, err := ParseEndpoint(e.value)
			if err != nil {
				return nil, fmt.Errorf("stsproof: %s: %w", e.name, err)
			}
			return u, nil
		}
	}
	return RegionalEndpoint(region)
}

var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$`)

// RegionalEndpoint is STS's endpoint in region: https://sts.<region>.amazonaws.com (.com.cn in
// the China regions).
func RegionalEndpoint(region string) (*url.URL, error) {
	if region == "" {
		return nil, errors.New("stsproof: no AWS region for the STS endpoint")
	}
	if !regionName.MatchString(region) {
		return nil, errors.New("stsproof: the AWS region is not a region name such as eu-west-1")
	}
	suffix := ".amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix += ".cn"
	}
	return &url.URL{Scheme: "https", Host: "sts." + region + suffix, Path: "/"}, nil
}

// ParseEndpoint parses an STS endpoint: an absolute http(s) URL with a host and nothing but
// "/" after it. It returns the URL as requests are sent to it: host lowercased, the scheme's
// default port dropped, path "/". Errors do not quote s.
func ParseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "":
		return nil, errors.New("the STS endpoint must be an absolute http(s) URL such as https://sts.eu-west-1.amazonaws.com")
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		return nil, errors.New("the STS endpoint must have no user, path, query or fragment")
	}
	return &url.URL{Scheme: u.Scheme, Host: canonicalHost(u.Host, u.Scheme), Path: "/"}, nil
}
