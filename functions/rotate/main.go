// Command rotate is the Secrets Manager rotation function of cfgate's
// CloudFront signing key (createSecret / setSecret / testSecret /
// finishSecret), deployed when the template's EnableScheduledRotation is
// true. A key held in the secret is replaced by a new one held in the
// secret; a KMS key (the secret names it) by a new KMS key. The steps are internal/keyops.RotationHandler; see keys/RUNBOOK.md.
//
// Environment: KEY_GROUP_ID, KEY_ALGORITHM (default: the current key's; never
// a downgrade from it), GRACE_PERIOD (default 4h25m), PROPAGATION_WAIT
// (default 10m), LOG_LEVEL (default info), and the login function's
// COOKIE_TTL, COOKIE_BUCKET, KEY_CACHE_TTL, PLAYBACK_TTL and
// DOWNLOAD_LINK_TTL: the grace is raised to cover the longest-lived cookie,
// playback URL or download link they imply (keyops.RotationConfigFromEnv).
//
// A testSecret call on an AWSPENDING version this function did not create is
// Secrets Manager testing a new rotation configuration (the template sets
// RotateImmediatelyOnUpdate false): it succeeds at once, without tags or wait.
//
// testSecret waits PROPAGATION_WAIT after setSecret put the new public key
// into the key group, so the function's Timeout must exceed it (900s, the
// Lambda maximum, for the 10m default); with less time left it fails the
// step and Secrets Manager retries the rotation rather than promote early.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/keyops"
)

func main() {
	var level slog.Level
	if err := level.UnmarshalText([]byte(os.Getenv("LOG_LEVEL"))); err != nil || os.Getenv("LOG_LEVEL") == "" {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	h, err := newHandler(context.Background(), os.Getenv, logger)
	if err != nil {
		logger.Error("rotate: configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func newHandler(ctx context.Context, getenv func(string) string, logger *slog.Logger) (*keyops.RotationHandler, error) {
	cfg, err := keyops.RotationConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &keyops.RotationHandler{
		CF:     cloudfront.NewFromConfig(awsCfg),
		SM:     secretsmanager.NewFromConfig(awsCfg),
		KMS:    kms.NewFromConfig(awsCfg),
		Config: cfg,
		Now:    time.Now,
		Logger: logger,
	}, nil
}
