// Command login is the login Lambda of cfgate: the HTTP API of internal/api
// behind an API Gateway HTTP API (payload format 2.0). It only wires: the
// configuration (internal/loginconfig), the AWS clients (configured from
// the variables Lambda sets: region, the execution role's credentials;
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> apply; see awsConfig), the
// DynamoDB store, the origin secret and the signing key from
// Secrets Manager, the media bucket's course manifests (S3), the
// cookie issuer and the handler (internal/api), adapted by internal/lambdahttp.
//
// Build for Lambda (provided.al2023, arm64):
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o bootstrap ./functions/login
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cfgate/cfgate/internal/api"
	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keygroup"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/kmssign"
	"github.com/cfgate/cfgate/internal/lambdahttp"
	"github.com/cfgate/cfgate/internal/loginconfig"
	"github.com/cfgate/cfgate/internal/materials"
	"github.com/cfgate/cfgate/internal/originverify"
	"github.com/cfgate/cfgate/internal/smsecret"
	"github.com/cfgate/cfgate/internal/ssmparam"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/dynamo"
)

// initTimeout bounds the cold-start calls (SSM parameter, first key fetch),
// well inside Lambda's 10 s init phase.
const initTimeout = 4 * time.Second

func main() {
	cfg, err := loginconfig.FromEnv(os.Getenv)
	if err != nil {
		logger := newLogger(os.Stdout, slog.LevelInfo)
		var cerr *loginconfig.Error
		if errors.As(err, &cerr) {
			for _, p := range cerr.Problems {
				logger.Error("configuration problem", "problem", p)
			}
		}
		logger.Error("login: cannot start", "err", err.Error())
		os.Exit(2)
	}
	logger := newLogger(os.Stdout, cfg.LogLevel)

	awsCfg, err := awsConfig(os.Getenv)
	if err != nil {
		logger.Error("login: AWS configuration", "err", err.Error())
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	h, err := newHandler(ctx, cfg, awsCfg, logger)
	cancel()
	if err != nil {
		logger.Error("login: cannot start", "err", err.Error())
		os.Exit(1)
	}
	lambda.Start(lambdahttp.Handler(h))
}

// newLogger returns slog JSON on w in Lambda's field names (timestamp,
// message), with the invocation's requestId on every record logged with its
// context.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(lambdahttp.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: lambdacontext.ReplaceAttr,
	})))
}

// newHandler builds the handler from the configuration and AWS clients. The
// signing key is fetched once here, during init (which Lambda runs with a
// full CPU), so the first request does not wait for it; if that fails the
// function still starts and answers 503 on /access until a fetch succeeds.
// The AWS calls of init (the domain parameter when configured, the key, the
// catalogue) run concurrently, in one round: init costs the slowest call,
// not their sum.
func newHandler(ctx context.Context, cfg loginconfig.Config, awsCfg aws.Config, logger *slog.Logger) (http.Handler, error) {
	var ssmClient loginconfig.GetParameterAPI
	if cfg.DistributionDomainParameter != "" {
		ssmClient = ssmparam.New(awsCfg, cfg.SSMEndpoint)
	}
	// The two secrets are read with one signed call each (internal/smsecret)
	// rather than the SDK's Secrets Manager package, for the bootstrap's size.
	sm := smsecret.New(awsCfg, cfg.SecretsManagerEndpoint)
	origin := originverify.NewSecretsManager(sm, cfg.OriginVerifySecretID, originverify.DefaultTTL, logger, nil)
	// A secret that names a KMS key signs through kms:Sign; making the
	// client costs no call, and none is made until a request needs a signature.
	secretKeys := keysource.NewSecretsManager(sm, cfg.SigningKeySecretID, cfg.KeyCacheTTL, logger, nil).
		WithKMS(kmssign.New(awsCfg, cfg.KMSEndpoint), keysource.DefaultKMSSignTimeout)
	// Signing with a key CloudFront does not trust would make every cookie
	// useless while everything reports 200: check it against the key group
	// (one CloudFront read, cached) and fail closed (503 on /access).
	keys := keygroup.New(secretKeys, keygroup.NewClient(awsCfg, cfg.CloudFrontEndpoint), cfg.KeyGroupID, logger, nil)

	// The AWS calls of init run in one round, concurrently.
	var (
		wg                              sync.WaitGroup
		domain                          string
		domainErr                       error
		domainTime, originTime, keyTime time.Duration
		groupTime                       time.Duration
		catalogue                       []store.Course
	)
	t0 := time.Now()
	wg.Go(func() {
		domain, domainErr = cfg.ResolveDomain(ctx, ssmClient)
		domainTime = time.Since(t0)
	})
	wg.Go(func() {
		_ = origin.Warm(ctx) // a failure is logged; requests answer 503 until a fetch succeeds
		originTime = time.Since(t0)
	})
	// The key group is read alongside the secret, not after it: the
	// self-check below then finds it read (or waits for this read).
	wg.Go(func() {
		_ = keys.Warm(ctx) // a failure is logged; /access answers 503 until a read succeeds
		groupTime = time.Since(t0)
	})
	wg.Go(func() {
		_, _ = keys.Key(ctx) // warm-up and self-check (reads the secret, not KMS); a failure is logged and retried per request
		keyTime = time.Since(t0)
	})
	// The DynamoDB client is made after the slow calls have started: it is
	// the costliest client to make, and its call is the quickest.
	st := dynamo.New(dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if cfg.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.DynamoDBEndpoint)
		}
	}), cfg.TableName)
	// The catalogue, so the first /access need not read it; this also opens
	// the DynamoDB connection while the slower calls are under way. Then,
	// with the quick call answered and the slow ones still out, the
	// invocation path's codecs are warmed (lambdahttp.Warm): CPU work that
	// would otherwise fall on the first request.
	wg.Go(func() {
		var err error
		if catalogue, err = st.ListCourses(ctx); err != nil {
			logger.Warn("catalogue not read at init; the first request reads it", "err", err.Error())
			catalogue = nil
		}
		lambdahttp.Warm()
	})
	wg.Wait()
	initAWSTime := time.Since(t0)
	if domainErr != nil {
		return nil, domainErr
	}

	issuer, err := cfsign.NewIssuer(cfsign.IssuerConfig{
		Domain:   domain,
		Lifetime: cfg.CookieTTL,
		Bucket:   cfg.CookieBucket,
		Cookie:   cfsign.CookieOptions{SameSite: cfg.CookieSameSite, Domain: cfg.CookieDomain},
	})
	if err != nil {
		return nil, fmt.Errorf("cookie issuer: %w", err)
	}
	h, err := api.New(api.Config{
		AllowedOrigins:   cfg.AllowedOrigins(domain),
		SessionTTL:       cfg.SessionTTL,
		LockoutThreshold: cfg.LockoutThreshold,
		LockoutWindow:    cfg.LockoutWindow,
		Catalogue:        catalogue,

		LockoutAccountThreshold: cfg.LockoutAccountThreshold,
		MaxSessions:             cfg.MaxSessions,
		OriginVerifier:          origin,

		Objects:         mediaObjects(cfg, awsCfg),
		DownloadLinkTTL: cfg.DownloadLinkTTL,
		PlaybackTTL:     cfg.PlaybackTTL,
		// The playlist route checks playback URLs against the key group's
		// public keys, read from CloudFront on first use (not at init).
		TrustedKeys: keygroup.NewPublicKeys(keygroup.NewClient(awsCfg, cfg.CloudFrontEndpoint), cfg.KeyGroupID, logger, nil),
	}, st, keys, issuer, logger)
	if err != nil {
		return nil, fmt.Errorf("handler: %w", err)
	}
	logger.Info("login function ready", "domain", domain, "table", cfg.TableName, "secret", cfg.SigningKeySecretID,
		"domainMs", ms(domainTime), "originMs", ms(originTime), "keyFetchMs", ms(keyTime), "keyGroupMs", ms(groupTime), "initAwsMs", ms(initAWSTime))
	return h, nil
}

// mediaObjects is the media bucket as the function may read it (course
// manifests; the role allows nothing else), or nil without MEDIA_BUCKET.
// Making the reader costs no call. materials.S3Reader signs its one REST
// call with the SDK's signer rather than linking the generated S3 client
// (about 850 KB); with an endpoint override (AWS_ENDPOINT_URL_S3 or
// AWS_ENDPOINT_URL: moto, a local S3) it uses path-style addressing.
func mediaObjects(cfg loginconfig.Config, awsCfg aws.Config) materials.Objects {
	if cfg.MediaBucket == "" {
		return nil
	}
	return materials.NewS3Reader(awsCfg, cfg.MediaBucket, os.Getenv("AWS_ENDPOINT_URL_S3"))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
