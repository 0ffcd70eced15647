package originverify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/cfgate/cfgate/internal/smsecret"
)

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func bytesContains(s, sub string) bool { return strings.Contains(s, sub) }

// flakySM is a fake Secrets Manager (fault injection: moto cannot be made to
// fail on demand) with one AWSCURRENT value and no AWSPREVIOUS.
type flakySM struct {
	value string
	down  bool
}

func (f *flakySM) GetSecretValue(_ context.Context, _, versionStage string) (smsecret.Value, error) {
	if f.down {
		return smsecret.Value{}, errors.New("connection refused")
	}
	if versionStage == "AWSPREVIOUS" {
		return smsecret.Value{}, fmt.Errorf("no previous version: %w", smsecret.ErrNotFound)
	}
	return smsecret.Value{VersionID: "v1", String: &f.value}, nil
}
