package originverify

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func bytesContains(s, sub string) bool { return strings.Contains(s, sub) }

// flakySM is a fake Secrets Manager (fault injection: moto cannot be made to
// fail on demand) with one AWSCURRENT value and no AWSPREVIOUS.
type flakySM struct {
	value string
	down  bool
}

func (f *flakySM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if f.down {
		return nil, errors.New("connection refused")
	}
	if aws.ToString(in.VersionStage) == "AWSPREVIOUS" {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("no previous version")}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(f.value)}, nil
}
