package awsjson

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func TestURL(t *testing.T) {
	base := "http://127.0.0.1:5000"
	for _, tt := range []struct {
		cfg      aws.Config
		service  string
		override string
		want     string
	}{
		{aws.Config{Region: "eu-west-1"}, "kms", "", "https://kms.eu-west-1.amazonaws.com"},
		{aws.Config{Region: "cn-north-1"}, "ssm", "", "https://ssm.cn-north-1.amazonaws.com.cn"},
		{aws.Config{Region: "us-isob-east-1"}, "kms", "", "https://kms.us-isob-east-1.sc2s.sgov.gov"},
		{aws.Config{Region: "us-iso-east-1"}, "kms", "", "https://kms.us-iso-east-1.c2s.ic.gov"},
		{aws.Config{Region: "us-gov-west-1"}, "ssm", "", "https://ssm.us-gov-west-1.amazonaws.com"},
		{aws.Config{Region: "eu-west-1", BaseEndpoint: &base}, "kms", "", base},
		{aws.Config{Region: "eu-west-1", BaseEndpoint: &base}, "kms", "http://127.0.0.1:6000", "http://127.0.0.1:6000"},
	} {
		got, err := New(tt.cfg, tt.service, tt.override).URL()
		if err != nil || got != tt.want {
			t.Errorf("URL(%s in %s, override %q) = %q, %v; want %q", tt.service, tt.cfg.Region, tt.override, got, err, tt.want)
		}
	}
	if _, err := New(aws.Config{}, "kms", "").URL(); err == nil {
		t.Error("URL without a region or endpoint: no error")
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Service: "kms", Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"}
	if got, want := e.Error(), "kms: ThrottlingException: Rate exceeded (HTTP 400)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (&Error{Service: "ssm", Status: 400, Code: "ParameterNotFound"}).Error(), "ssm: ParameterNotFound (HTTP 400)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestEmptyPayloadHash(t *testing.T) {
	sum := sha256.Sum256(nil)
	if got := hex.EncodeToString(sum[:]); got != EmptyPayloadHash {
		t.Errorf("EmptyPayloadHash = %s, SHA-256 of nothing is %s", EmptyPayloadHash, got)
	}
}

// TestSendNotSent: without credentials nothing goes out and sent is false,
// so callers do not retry it as a transport error.
func TestSendNotSent(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, sent, err := Send(context.Background(), aws.Config{Region: "eu-west-1"}, v4.NewSigner(), req, EmptyPayloadHash, "s3", "eu-west-1")
	if sent || err == nil || resp != nil || hits.Load() != 0 {
		t.Errorf("Send without credentials: resp %v, sent %v, err %v, %d requests", resp, sent, err, hits.Load())
	}
}
