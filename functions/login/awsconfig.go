package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// awsConfig is the function's aws.Config, made from the variables Lambda
// sets for every function rather than by the SDK's config.LoadDefaultConfig:
// the region (AWS_REGION, else AWS_DEFAULT_REGION), the execution role's
// credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
// and AWS_ENDPOINT_URL, with the SDK's default HTTP client (as
// LoadDefaultConfig sets it), shared by every client. The default chain's
// other sources (shared files, profiles, SSO, web identity, container and
// instance credentials) never apply in Lambda, and linking them made up
// 1.8 MB of the bootstrap and about 0.8 ms of its process start. The
// service-specific endpoint variables are read with the rest of the
// configuration (internal/loginconfig). Without credentials or a region it
// fails: the function cannot sign a call. It also refuses
// AWS_USE_FIPS_ENDPOINT and AWS_USE_DUALSTACK_ENDPOINT set to true: the
// function's own clients build standard regional endpoints, so it would
// not keep that promise (point AWS_ENDPOINT_URL_<SERVICE> at the endpoints
// wanted instead). AWS_MAX_ATTEMPTS, AWS_RETRY_MODE and
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS are not read; the SDK's retry
// defaults apply.
func awsConfig(getenv func(string) string) (aws.Config, error) {
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	var errs []error
	if region == "" {
		errs = append(errs, errors.New("AWS_REGION is not set (Lambda sets it)"))
	}
	if id == "" || secret == "" {
		errs = append(errs, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set (Lambda sets them from the function's execution role)"))
	}
	for _, v := range []string{"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"} {
		if strings.EqualFold(getenv(v), "true") {
			errs = append(errs, fmt.Errorf("%s=true is not supported by this function: set AWS_ENDPOINT_URL_<SERVICE> to the endpoints wanted", v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return aws.Config{}, err
	}
	cfg := aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))),
		HTTPClient:  awshttp.NewBuildableClient(),
	}
	if u := getenv("AWS_ENDPOINT_URL"); u != "" {
		cfg.BaseEndpoint = aws.String(u)
	}
	return cfg, nil
}
