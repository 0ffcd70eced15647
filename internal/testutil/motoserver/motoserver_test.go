package motoserver

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func TestSharedServerAnswers(t *testing.T) {
	s := Shared(t)
	client := secretsmanager.NewFromConfig(s.Config(t))
	name := Unique(t, "secret")
	if _, err := client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: &name, SecretString: new("v1"),
	}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	out, err := client.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: &name})
	if err != nil {
		t.Fatalf("GetSecretValue: %v", err)
	}
	if got, want := *out.SecretString, "v1"; got != want {
		t.Errorf("secret = %q, want %q", got, want)
	}
}
