package smsecret

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

// TestAgainstMoto reads secrets written by the SDK's own Secrets Manager
// client from a real moto_server, through the endpoint in aws.Config
// (AWS_ENDPOINT_URL): string and binary values, the stages a rotation
// moves, and ResourceNotFoundException as ErrNotFound.
func TestAgainstMoto(t *testing.T) {
	srv := motoserver.Shared(t)
	cfg := srv.Config(t)
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(cfg)
	str := motoserver.Unique(t, "cfgate-str")
	bin := motoserver.Unique(t, "cfgate-bin")
	first, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(str), SecretString: aws.String("one")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(bin), SecretBinary: []byte{0, 1, 2, 0xff}}); err != nil {
		t.Fatal(err)
	}
	c := New(cfg, "")

	got, err := c.GetSecretValue(ctx, str, "AWSCURRENT")
	if err != nil || got.String == nil || *got.String != "one" || got.Binary != nil || got.VersionID != aws.ToString(first.VersionId) {
		t.Fatalf("string secret = %+v, %v; want \"one\", version %s", got, err, aws.ToString(first.VersionId))
	}
	if _, err := c.GetSecretValue(ctx, str, "AWSPREVIOUS"); !errors.Is(err, ErrNotFound) {
		t.Errorf("AWSPREVIOUS of a secret never rotated: %v, want ErrNotFound", err)
	}
	second, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(str), SecretString: aws.String("two")})
	if err != nil {
		t.Fatal(err)
	}
	for stage, want := range map[string]struct{ value, version string }{
		"AWSCURRENT":  {"two", aws.ToString(second.VersionId)},
		"AWSPREVIOUS": {"one", aws.ToString(first.VersionId)},
	} {
		got, err := c.GetSecretValue(ctx, str, stage)
		if err != nil || aws.ToString(got.String) != want.value || got.VersionID != want.version {
			t.Errorf("%s = %+v, %v; want %q, version %s", stage, got, err, want.value, want.version)
		}
	}

	got, err = c.GetSecretValue(ctx, bin, "AWSCURRENT")
	if err != nil || got.String != nil || string(got.Binary) != "\x00\x01\x02\xff" {
		t.Fatalf("binary secret = %+v, %v", got, err)
	}

	if _, err := c.GetSecretValue(ctx, str+"-missing", "AWSCURRENT"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing secret: %v, want ErrNotFound", err)
	}

	t.Run("explicit endpoint wins", func(t *testing.T) {
		cfg := cfg.Copy()
		cfg.BaseEndpoint = aws.String("http://127.0.0.1:1") // nothing listens there
		got, err := New(cfg, srv.Endpoint).GetSecretValue(ctx, str, "AWSCURRENT")
		if err != nil || aws.ToString(got.String) != "two" {
			t.Fatalf("GetSecretValue = %+v, %v", got, err)
		}
	})
}

// TestRequestAndAnswerShape checks the request (a SigV4 Authorization header
// for service secretsmanager, the JSON 1.1 target, the body's two fields),
// that an error answer other than ResourceNotFoundException is an *Error and
// not ErrNotFound, and that an answer without a value is an error. The
// server is a test double of Secrets Manager's wire format, because moto
// cannot be made to answer malformed values.
func TestRequestAndAnswerShape(t *testing.T) {
	answer := `{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf","Name":"s","VersionId":"v1","SecretString":"value","VersionStages":["AWSCURRENT"],"CreatedDate":1.7e9}`
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("X-Amz-Target"); got != "secretsmanager.GetSecretValue" {
			t.Errorf("X-Amz-Target = %q", got)
		}
		if auth := r.Header.Get("Authorization"); !strings.Contains(auth, "/us-east-1/secretsmanager/aws4_request") {
			t.Errorf("Authorization = %q, want a SigV4 scope for secretsmanager", auth)
		}
		b, _ := io.ReadAll(r.Body)
		var in map[string]string
		if err := json.Unmarshal(b, &in); err != nil || len(in) != 2 || in["SecretId"] != "s" || in["VersionStage"] != "AWSPREVIOUS" {
			t.Errorf("body = %s, %v; want SecretId and VersionStage only", b, err)
		}
		w.WriteHeader(status)
		w.Write([]byte(answer))
	}))
	defer srv.Close()
	c := New(aws.Config{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "SECRET"}, nil
		}),
	}, srv.URL)
	ctx := context.Background()

	got, err := c.GetSecretValue(ctx, "s", "AWSPREVIOUS")
	if err != nil || aws.ToString(got.String) != "value" || got.VersionID != "v1" {
		t.Fatalf("GetSecretValue = %+v, %v", got, err)
	}

	status, answer = http.StatusBadRequest, `{"__type":"AccessDeniedException","message":"not allowed"}`
	_, err = c.GetSecretValue(ctx, "s", "AWSPREVIOUS")
	var e *Error
	if !errors.As(err, &e) || e.Code != "AccessDeniedException" || errors.Is(err, ErrNotFound) {
		t.Errorf("access denied: %v, want *Error AccessDeniedException, not ErrNotFound", err)
	}

	status, answer = http.StatusOK, `{"Name":"s","VersionId":"v1"}`
	if _, err := c.GetSecretValue(ctx, "s", "AWSPREVIOUS"); err == nil {
		t.Error("an answer without SecretString or SecretBinary was accepted")
	}

	if _, err := c.GetSecretValue(ctx, "", "AWSCURRENT"); err == nil {
		t.Error("an empty secret id was accepted")
	}
}
