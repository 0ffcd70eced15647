package main

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
)

func TestAWSConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg, err := awsConfig(env(map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET", "AWS_SESSION_TOKEN": "TOKEN",
		"AWS_ENDPOINT_URL": "http://127.0.0.1:1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" || creds.AccessKeyID != "AKID" || creds.SecretAccessKey != "SECRET" || creds.SessionToken != "TOKEN" {
		t.Errorf("config: region %q, credentials %q/%q/%q", cfg.Region, creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
	}
	if cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != "http://127.0.0.1:1" {
		t.Errorf("BaseEndpoint = %v, want AWS_ENDPOINT_URL", cfg.BaseEndpoint)
	}
	if cfg.HTTPClient == nil {
		t.Error("no HTTP client: the clients would each fall back to their own")
	}

	cfg, err = awsConfig(env(map[string]string{"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET"}))
	if err != nil || cfg.Region != "us-east-1" || cfg.BaseEndpoint != nil {
		t.Errorf("AWS_DEFAULT_REGION only: region %q, endpoint %v, %v", cfg.Region, cfg.BaseEndpoint, err)
	}

	_, err = awsConfig(env(map[string]string{"AWS_ACCESS_KEY_ID": "AKID"}))
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION") || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("no region, half the credentials: %v, want both named", err)
	}

	for _, v := range []string{"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"} {
		_, err = awsConfig(env(map[string]string{"AWS_REGION": "us-gov-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET", v: "true"}))
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("%s=true: %v, want it refused by name", v, err)
		}
	}
}

// TestBootstrapServiceEndpoints: with AWS_ENDPOINT_URL on a port where
// nothing listens and the AWS_ENDPOINT_URL_<SERVICE> of every service a
// cold start, a login and an /access call (DynamoDB, SSM, Secrets Manager,
// CloudFront) on moto, the function starts and both succeed: each of those
// clients follows its service's variable (docs/configuration.md). KMS and
// S3, which this world never calls, are left to their unit tests.
func TestBootstrapServiceEndpoints(t *testing.T) {
	w := seed(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	env := w.env()
	delete(env, "DISTRIBUTION_DOMAIN")
	env["DISTRIBUTION_DOMAIN_PARAMETER"] = w.parameter
	env["AWS_ENDPOINT_URL"] = dead
	for _, svc := range []string{"DYNAMODB", "SSM", "SECRETS_MANAGER", "CLOUDFRONT"} {
		env["AWS_ENDPOINT_URL_"+svc] = w.srv.Endpoint
	}
	loginThenAccess(t, startFunction(t, w, env), w, 1)
}

// TestBootstrapWithoutCredentialsExits: without the execution role's
// credentials the function cannot sign a call: it says so and exits before
// polling for invocations.
func TestBootstrapWithoutCredentialsExits(t *testing.T) {
	w := seed(t)
	env := w.env()
	env["AWS_ACCESS_KEY_ID"] = ""
	checkExitsSaying(t, startFunction(t, w, env), "AWS_ACCESS_KEY_ID")
}

// TestBootstrapLinksNoCredentialChain: the function does not link the SDK's
// config package (and with it the SSO, STS and instance-credential clients):
// about 1.8 MB of the arm64 bootstrap, whose target is 10 MiB.
func TestBootstrapLinksNoCredentialChain(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test lists the function's packages with the go tool: %v", err)
	}
	cmd := exec.Command(goTool, "list", "-deps", "-tags", "lambda.norpc", ".")
	cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/aws/aws-sdk-go-v2/config",
		"github.com/aws/aws-sdk-go-v2/service/sso",
		"github.com/aws/aws-sdk-go-v2/service/sts",
		"github.com/aws/aws-sdk-go-v2/feature/ec2/imds",
		"github.com/aws/aws-sdk-go-v2/credentials/",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("the function links %s", dep)
			}
		}
	}
}
