package ssmparam

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

// TestAgainstMoto reads parameters written by the SDK's own SSM client from a
// real moto_server, through the endpoint in aws.Config (AWS_ENDPOINT_URL).
func TestAgainstMoto(t *testing.T) {
	srv := motoserver.Shared(t)
	cfg := srv.Config(t)
	ctx := context.Background()
	name := "/" + motoserver.Unique(t, "cfgate") + "/domain"
	secure := name + "-secure"
	full := ssm.NewFromConfig(cfg)
	for n, v := range map[string]string{name: "d111111abcdef8.cloudfront.net", secure: "s3cr3t"} {
		typ := ssmtypes.ParameterTypeString
		if n == secure {
			typ = ssmtypes.ParameterTypeSecureString
		}
		if _, err := full.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(n), Value: aws.String(v), Type: typ}); err != nil {
			t.Fatalf("PutParameter: %v", err)
		}
	}
	c := New(cfg, "")
	tests := []struct {
		name, param, want, wantCode string
	}{
		{"string", name, "d111111abcdef8.cloudfront.net", ""},
		{"secure string decrypted", secure, "s3cr3t", ""},
		{"missing", name + "-missing", "", "ParameterNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.GetParameterValue(ctx, tt.param)
			if tt.wantCode != "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != tt.wantCode {
					t.Fatalf("err = %v, want code %s", err, tt.wantCode)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("GetParameterValue = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("explicit endpoint wins", func(t *testing.T) {
		cfg := cfg.Copy()
		cfg.BaseEndpoint = aws.String("http://127.0.0.1:1") // nothing listens there
		got, err := New(cfg, srv.Endpoint).GetParameterValue(ctx, name)
		if err != nil || got != "d111111abcdef8.cloudfront.net" {
			t.Fatalf("GetParameterValue = %q, %v", got, err)
		}
	})
}

// TestSignedRequestAndRetries checks the request shape (a SigV4 Authorization
// header for service ssm, the JSON 1.1 target) and that throttling is retried
// while a client error is not. The server is a test double of SSM's wire
// format, because moto cannot be made to throttle.
func TestSignedRequestAndRetries(t *testing.T) {
	var calls atomic.Int32
	fail := map[int32]int{1: http.StatusBadRequest} // first call throttled
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if got := r.Header.Get("X-Amz-Target"); got != "AmazonSSM.GetParameter" {
			t.Errorf("X-Amz-Target = %q", got)
		}
		if auth := r.Header.Get("Authorization"); !strings.Contains(auth, "/us-east-1/ssm/aws4_request") {
			t.Errorf("Authorization = %q, want a SigV4 scope for ssm", auth)
		}
		if status, ok := fail[n]; ok {
			w.WriteHeader(status)
			w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
			return
		}
		if r.URL.Query().Get("x") != "" {
			t.Errorf("unexpected query")
		}
		w.Write([]byte(`{"Parameter":{"Name":"/p","Type":"String","Value":"v.example.com"}}`))
	}))
	defer srv.Close()
	cfg := motoserverlessConfig()
	c := New(cfg, srv.URL)
	c.rpc.Sleep = func(context.Context, time.Duration) error { return nil }
	got, err := c.GetParameterValue(context.Background(), "/p")
	if err != nil || got != "v.example.com" {
		t.Fatalf("GetParameterValue = %q, %v", got, err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("calls = %d, want 2 (one throttled, one retried)", n)
	}
	calls.Store(0)
	fail = map[int32]int{1: http.StatusBadRequest, 2: http.StatusBadRequest, 3: http.StatusBadRequest}
	if _, err := c.GetParameterValue(context.Background(), "/p"); err == nil || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Errorf("err = %v, want the throttling error after retries", err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("calls = %d, want 3 attempts", n)
	}
}

func motoserverlessConfig() aws.Config {
	return aws.Config{
		Region: "us-east-1",
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "SECRET"}, nil
		})),
	}
}

func TestDefaultEndpointFollowsPartition(t *testing.T) {
	for region, want := range map[string]string{
		"eu-west-1":      "https://ssm.eu-west-1.amazonaws.com",
		"cn-north-1":     "https://ssm.cn-north-1.amazonaws.com.cn",
		"us-gov-west-1":  "https://ssm.us-gov-west-1.amazonaws.com",
		"us-iso-east-1":  "https://ssm.us-iso-east-1.c2s.ic.gov",
		"us-isob-east-1": "https://ssm.us-isob-east-1.sc2s.sgov.gov",
	} {
		c := New(aws.Config{Region: region}, "")
		if got, err := c.url(); err != nil || got != want {
			t.Errorf("url(%s) = %q, %v; want %q", region, got, err, want)
		}
	}
}
