package stsproof

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// The variables EndpointFromEnv reads, first to last; the SDK honours the same ones.
const (
	EndpointSTSEnv = "AWS_ENDPOINT_URL_STS"
	EndpointEnv    = "AWS_ENDPOINT_URL"
	RegionEnv      = "AWS_REGION"
)

// EndpointFromEnv is the STS endpoint a deployment verifies against: $AWS_ENDPOINT_URL_STS,
// else $AWS_ENDPOINT_URL (LocalStack), else https://sts.<$AWS_REGION>.amazonaws.com. Errors
// name the variable, never its value.
func EndpointFromEnv() (*url.URL, error) {
	region := os.Getenv(RegionEnv)
	if os.Getenv(EndpointSTSEnv) == "" && os.Getenv(EndpointEnv) == "" && region == "" {
		return nil, fmt.Errorf("stsproof: no STS endpoint: set %s, %s or %s", EndpointSTSEnv, EndpointEnv, RegionEnv)
	}
	return EndpointForRegion(region)
}

// EndpointForRegion is EndpointFromEnv with the region given rather than read from
// $AWS_REGION: the endpoint variables still come first.
func EndpointForRegion(region string) (*url.URL, error) {
	for _, name := range []string{EndpointSTSEnv, EndpointEnv} {
		if v := os.Getenv(name); v != "" {
			u, err := ParseEndpoint(v)
			if err != nil {
				return nil, fmt.Errorf("stsproof: %s: %w", name, err)
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
