package stsproof_test

import (
	"os"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/features/stsproof"
)

// Not parallel: t.Setenv.
func TestEndpointFromEnv(t *testing.T) {
	cases := []struct {
		name              string
		sts, all, region  string
		want, errContains string
	}{
		{name: "STS variable first", sts: "http://127.0.0.1:4566", all: "http://localhost:1", region: "eu-west-1", want: "http://127.0.0.1:4566/"},
		{name: "then AWS_ENDPOINT_URL", all: "http://LocalHost:4566/", region: "eu-west-1", want: "http://localhost:4566/"},
		{name: "then the region", region: "eu-west-1", want: "https://sts.eu-west-1.amazonaws.com/"},
		{name: "China", region: "cn-north-1", want: "https://sts.cn-north-1.amazonaws.com.cn/"},
		{name: "default port dropped", sts: "https://sts.us-east-1.amazonaws.com:443", want: "https://sts.us-east-1.amazonaws.com/"},
		{name: "nothing set", errContains: "set AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL or AWS_REGION"},
		{name: "bad region", region: "Europe West", errContains: "not a region name"},
		{name: "bad STS variable", sts: "http://user:hunter2@sts.example/", errContains: "AWS_ENDPOINT_URL_STS"},
		{name: "STS variable with a path", sts: "http://127.0.0.1:4566/sts", errContains: "AWS_ENDPOINT_URL_STS"},
		{name: "bad AWS_ENDPOINT_URL", all: "127.0.0.1:4566", errContains: "AWS_ENDPOINT_URL:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(stsproof.EndpointSTSEnv, tc.sts)
			t.Setenv(stsproof.EndpointEnv, tc.all)
			t.Setenv(stsproof.RegionEnv, tc.region)
			u, err := stsproof.EndpointFromEnv(os.Getenv)
			if tc.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContains) {
					t.Fatalf("EndpointFromEnv = %v, %v; want an error containing %q", u, err, tc.errContains)
				}
				for _, v := range []string{tc.sts, tc.all} {
					if v != "" && strings.Contains(err.Error(), v) {
						t.Errorf("the error quotes the variable's value")
					}
				}
				return
			}
			if err != nil || u.String() != tc.want {
				t.Fatalf("EndpointFromEnv = %v, %v; want %s", u, err, tc.want)
			}
		})
	}
}

func TestEndpointForRegion(t *testing.T) {
	t.Setenv(stsproof.EndpointSTSEnv, "")
	t.Setenv(stsproof.EndpointEnv, "")
	t.Setenv(stsproof.RegionEnv, "us-east-1")
	u, err := stsproof.EndpointForRegion(os.Getenv, "ap-southeast-2")
	if err != nil || u.String() != "https://sts.ap-southeast-2.amazonaws.com/" {
		t.Errorf("EndpointForRegion(ap-southeast-2) = %v, %v", u, err)
	}
	if _, err := stsproof.EndpointForRegion(os.Getenv, ""); err == nil {
		t.Error("EndpointForRegion(\"\") without endpoint variables: no error")
	}
	t.Setenv(stsproof.EndpointEnv, "http://127.0.0.1:4566")
	if u, err := stsproof.EndpointForRegion(os.Getenv, ""); err != nil || u.String() != "http://127.0.0.1:4566/" {
		t.Errorf("EndpointForRegion with AWS_ENDPOINT_URL = %v, %v", u, err)
	}
}

func TestParseEndpoint(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://sts.amazonaws.com":           "https://sts.amazonaws.com/",
		"https://sts.amazonaws.com:443/":      "https://sts.amazonaws.com/",
		"http://127.0.0.1:80":                 "http://127.0.0.1/",
		"http://127.0.0.1:4566":               "http://127.0.0.1:4566/",
		"https://sts.amazonaws.com:8443":      "https://sts.amazonaws.com:8443/",
		"ftp://sts.amazonaws.com":             "",
		"sts.amazonaws.com":                   "",
		"https://sts.amazonaws.com/?x=1":      "",
		"https://sts.amazonaws.com/#f":        "",
		"https://sts.amazonaws.com/path":      "",
		"https://u:p@sts.amazonaws.com/":      "",
		"https://:443/":                       "",
		"https://sts.amazonaws.com/?":         "",
		"https://sts.amazonaws.com/%zz":       "",
		"http://[::1]:4566":                   "http://[::1]:4566/",
		"HTTPS://STS.US-EAST-1.AMAZONAWS.COM": "https://sts.us-east-1.amazonaws.com/",
	} {
		u, err := stsproof.ParseEndpoint(in)
		switch {
		case want == "" && err == nil:
			t.Errorf("ParseEndpoint(%q) = %s, want an error", in, u)
		case want != "" && (err != nil || u.String() != want):
			t.Errorf("ParseEndpoint(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
}
