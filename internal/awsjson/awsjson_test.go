package awsjson

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
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
