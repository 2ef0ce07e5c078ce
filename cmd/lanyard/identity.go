package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/awsconfig"
	"github.com/lanyardhq/lanyard/shared/stsproof"
)

// identityRequestHelp is the long help of `lanyard identity-request`: what a partner reads to
// produce the request with the CLI or with the AWS SDK of their language.
const identityRequestHelp = `identity-request prints a signed STS GetCallerIdentity request that proves which AWS
account and principal you are. Send it, unchanged, as "identityRequest" in the onboarding
request body (POST /v1/partners) instead of an invite code:

  {"partnerName": "...", "scopes": [...], "identityRequest": <the JSON printed here>}

Nothing is sent to AWS or to Lanyard: the request is signed with your credentials (the
default AWS configuration chain: AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, …) and printed. Lanyard
sends it to STS itself, to its own configured STS endpoint only, and learns from STS's answer
which account signed it. It cannot do anything else: GetCallerIdentity needs no permission and
changes nothing. The request is valid for 15 minutes: sign it just before you onboard. It holds
your signature (and, with temporary credentials, your session token) for that time: send it
only to Lanyard.

--server-id is the id of the Lanyard deployment you onboard with (your Lanyard contact gives it
to you). The request is signed over an X-Lanyard-Server-ID header carrying it, so it is good
for that deployment only. --sts-endpoint and --region must be the STS endpoint and region that
deployment verifies against (by default: $AWS_ENDPOINT_URL_STS, else $AWS_ENDPOINT_URL, else
https://sts.<region>.amazonaws.com for the configured region).

Output (always JSON, whatever --output says):

  {"method": "POST", "url": "https://sts.eu-west-1.amazonaws.com/",
   "headers": {"Authorization": ["AWS4-HMAC-SHA256 Credential=…"], "X-Amz-Date": ["…"],
               "Host": ["sts.eu-west-1.amazonaws.com"], "Content-Type": ["…"],
               "X-Lanyard-Server-ID": ["…"], "X-Amz-Security-Token": ["…"]},
   "body": "Action=GetCallerIdentity&Version=2011-06-15"}

With the AWS SDK of another language, sign the same request yourself with SigV4 (service
"sts", the deployment's region) and print it in that shape:
  - method POST, URL the STS endpoint with path "/", no query;
  - body exactly Action=GetCallerIdentity&Version=2011-06-15, with the header
    Content-Type: application/x-www-form-urlencoded; charset=utf-8;
  - the header X-Lanyard-Server-ID: <server id>, set BEFORE signing so the signature covers it;
  - sign no headers but host, content-length, content-type, x-amz-date, x-amz-security-token
    and x-lanyard-server-id (Lanyard forwards only those, and refuses a request signed over
    any other);
  - "headers" maps each header name to a list of values: the Authorization, X-Amz-Date,
    X-Amz-Security-Token (if any) the signer added, Content-Type, X-Lanyard-Server-ID and Host.

For example, in Python with botocore:

  import json, boto3
  from botocore.auth import SigV4Auth
  from botocore.awsrequest import AWSRequest
  region, endpoint = "eu-west-1", "https://sts.eu-west-1.amazonaws.com/"
  body = "Action=GetCallerIdentity&Version=2011-06-15"
  req = AWSRequest(method="POST", url=endpoint, data=body, headers={
      "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
      "X-Lanyard-Server-ID": "<server id>"})
  creds = boto3.Session().get_credentials().get_frozen_credentials()
  SigV4Auth(creds, "sts", region).add_auth(req)
  headers = {k: [v] for k, v in req.headers.items()}
  print(json.dumps({"method": "POST", "url": endpoint, "headers": headers, "body": body}))

In Java, AwsV4HttpSigner (software.amazon.awssdk.http.auth.aws.signer), and in JavaScript,
SignatureV4 (@smithy/signature-v4), sign the same request by the same rules. The AWS CLI cannot
sign a request without sending it: with a CLI profile, run this command with AWS_PROFILE set.`

func newIdentityRequestCmd(out *output) *cobra.Command {
	var serverID, endpoint, region string
	cmd := &cobra.Command{
		Use:   "identity-request --server-id ID",
		Short: "Print a signed STS GetCallerIdentity request, to onboard as an AWS account",
		Long:  identityRequestHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(serverID) == "" {
				return usageError{errors.New("--server-id is required")}
			}
			if endpoint != "" {
				if _, err := stsproof.ParseEndpoint(endpoint); err != nil {
					return usageError{fmt.Errorf("--sts-endpoint: %w", err)}
				}
			}
			req, err := identityRequest(cmd.Context(), serverID, endpoint, region, time.Now())
			if err != nil {
				return err
			}
			return writeJSON(out.w, req)
		},
	}
	f := cmd.Flags()
	f.StringVar(&serverID, "server-id", "", "the id of the Lanyard deployment you onboard with (required)")
	f.StringVar(&endpoint, "sts-endpoint", "", "the STS endpoint that deployment verifies against (default $"+
		stsproof.EndpointSTSEnv+", else $"+stsproof.EndpointEnv+", else https://sts.<region>.amazonaws.com)")
	f.StringVar(&region, "region", "", "the region to sign for (default the AWS configuration's: $AWS_REGION or the profile's)")
	return cmd
}

// identityRequest signs the request with the default credential chain, for endpoint ("": the
// default of the environment and the configured region).
func identityRequest(ctx context.Context, serverID, endpoint, region string, now time.Time) (stsproof.Request, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := awsconfig.Load(ctx, opts...)
	if err != nil {
		return stsproof.Request{}, err
	}
	if cfg.Credentials == nil {
		return stsproof.Request{}, errors.New("no AWS credentials: configure the default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, …)")
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return stsproof.Request{}, fmt.Errorf("get AWS credentials: %w", err)
	}
	var ep *url.URL
	if endpoint != "" {
		ep, err = stsproof.ParseEndpoint(endpoint)
	} else {
		ep, err = stsproof.EndpointForRegion(cfg.Region)
	}
	if err != nil {
		return stsproof.Request{}, err
	}
	return stsproof.Sign(ctx, creds, cfg.Region, ep, serverID, now)
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // the body's "&" stays readable
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
