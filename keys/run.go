package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops"
)

const usage = `keys manages cfgate's CloudFront signing keys.

Usage:
  go run ./keys <command> [flags]

Commands:
  init             make the first key pair, the key group and the secret (idempotent);
                   prints KeyGroupId=… SigningKeySecretArn=… for sam deploy
  status           the keys in the group, which one signs, their ages, what is safe next
  rotate start     new key pair: its public key joins the key group, the secret's new
                   version is staged (AWSPENDING); the old key still signs
  rotate wait      block until the next step is safe: promote once CloudFront has had the
                   propagation wait since start, finish once the grace period has passed
                   (--key-cache: only until login functions load the promoted key)
  rotate promote   the staged key starts signing (AWSCURRENT); the time is recorded;
                   refuses before the propagation wait since start (--force: now)
  rotate finish    remove the old public key once the grace period has passed
                   (--force: now — emergency revocation)
  rotate abort     undo a start that was not promoted
  rotate rollback  after promote, before finish: sign with the previous key again
  explain          what CloudFront answers to a Cookie header or a signed URL, and why
                   (exit status 1 when it denies)

Where the keys are (all commands):
  --secret-name NAME   the Secrets Manager secret (default cfgate/signing-key)
  --key-group ID       the CloudFront key group (default: recorded on the secret by
                       init, else the key group named --name)
  --name NAME          key group name for init, and public key name prefix (default cfgate)
  --local --state DIR  the local distribution's state folder instead of AWS
  --json               output for machines

init:     --algorithm rsa-2048|ecdsa-p256 (default rsa-2048, signing RSA-SHA1;
          also rsa-sha256, ecdsa-sha256)   --out FILE (also write the private key,
          created exclusively with mode 0600; otherwise it never touches disk)
          --kms: the key is an asymmetric KMS key (SIGN_VERIFY) whose private key
          never leaves KMS; the secret names it. --algorithm ecdsa-p256 (default
          with --kms) or rsa-2048 (signs RSA-SHA256); no --out. With --local the
          state folder names a key in the KMS that AWS_ENDPOINT_URL/AWS_REGION give
rotate:   --algorithm (start; default: the current key's)   --force (promote, finish)
          --kms (start: the new key is a KMS key even if the current one is held
                  in the secret: the migration; a KMS key is always replaced by one)
          --propagation 10m (promote and wait: how long after start CloudFront may
                  still be deploying the key group to its edges)
          grace = --key-cache-stale-factor 3 × --key-cache-ttl 5m
                  + max(max(--cookie-lifetime 10m, --playback-ttl 4h) + --cookie-bucket 5m,
                        --download-link-ttl 5m)
                  + --margin 5m = 4h25m: it covers the longest-lived cookie, playback URL
                  or download link signed with the old key (match the login function's
                  KEY_CACHE_TTL, COOKIE_TTL, PLAYBACK_TTL, COOKIE_BUCKET, DOWNLOAD_LINK_TTL;
                  a signer whose secret reads fail serves its cached key up to 3
                  key-cache TTLs). promote and rollback record it; finish and wait use
                  the recorded grace, status shows it
explain:  --url URL (the requested URL; required)   --cookie 'Cookie header'
          (give either as - to read it from standard input: live cookies and
          signed URLs then stay off the command line and out of shell history)
          --source-ip IP   --now RFC3339|unix
          keys: --public-key ID=FILE (repeatable) | --local --state DIR | the key
          group (--key-group ID, or as above)

AWS credentials and region come from the SDK's standard configuration
(AWS_PROFILE, AWS_REGION, …); AWS_ENDPOINT_URL points it at another endpoint.

Examples:
  go run ./keys init
  sam deploy --guided --capabilities CAPABILITY_IAM --parameter-overrides $(go run ./keys init)
  go run ./keys status
  go run ./keys rotate start
  go run ./keys rotate wait
  go run ./keys rotate promote
  go run ./keys rotate wait
  go run ./keys rotate finish
  go run ./keys rotate start --local --state cfgate-state
  go run ./keys explain --url https://d111.cloudfront.net/courses/intro-to-hls/ts/master.m3u8 \
      --cookie 'CloudFront-Policy=…; CloudFront-Signature=…; CloudFront-Key-Pair-Id=K…'
  pbpaste | go run ./keys explain --url https://d111.cloudfront.net/courses/intro-to-hls/ts/master.m3u8 --cookie -
`

// exitError ends the program with code and no further message (the output
// already said everything, as explain's verdict does).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// app holds what tests replace: the AWS configuration and the clock.
type app struct {
	awsConfig func(ctx context.Context) (aws.Config, error)
	now       func() time.Time
	// sleep waits d or until ctx ends (a real timer when nil).
	sleep func(ctx context.Context, d time.Duration) error
}

var defaultApp = app{
	awsConfig: func(ctx context.Context) (aws.Config, error) { return config.LoadDefaultConfig(ctx) },
	now:       time.Now,
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return defaultApp.run(ctx, args, stdin, stdout, stderr)
}

// common are the flags every command takes.
type common struct {
	secretName, keyGroup, name, state string
	local, json                       bool
	grace                             keyops.Grace
	propagation                       time.Duration
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.secretName, "secret-name", "cfgate/signing-key", "Secrets Manager secret `name` or ARN")
	fs.StringVar(&c.keyGroup, "key-group", "", "CloudFront key group `id` (default: recorded on the secret by init)")
	fs.StringVar(&c.name, "name", "cfgate", "key group `name` (init) and public key name prefix")
	fs.BoolVar(&c.local, "local", false, "use the local distribution's state folder (--state) instead of AWS")
	fs.StringVar(&c.state, "state", "", "the local distribution's state `folder` (with --local)")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	d := keyops.DefaultGrace()
	fs.DurationVar(&c.grace.KeyCacheTTL, "key-cache-ttl", d.KeyCacheTTL, "how long signers cache the signing key (KEY_CACHE_TTL)")
	fs.IntVar(&c.grace.StaleFactor, "key-cache-stale-factor", d.StaleFactor, "while secret reads fail, signers serve their cached key up to this many key-cache TTLs")
	fs.DurationVar(&c.grace.CookieLifetime, "cookie-lifetime", d.CookieLifetime, "longest cookie lifetime (COOKIE_TTL)")
	fs.DurationVar(&c.grace.CookieBucket, "cookie-bucket", d.CookieBucket, "cookie and playback URL expiry rounding (COOKIE_BUCKET)")
	fs.DurationVar(&c.grace.PlaybackTTL, "playback-ttl", d.PlaybackTTL, "longest cookie-less playback URL validity (PLAYBACK_TTL)")
	fs.DurationVar(&c.grace.DownloadLinkTTL, "download-link-ttl", d.DownloadLinkTTL, "longest download link validity (DOWNLOAD_LINK_TTL)")
	fs.DurationVar(&c.grace.Margin, "margin", d.Margin, "extra wait for clock skew and stragglers")
	fs.DurationVar(&c.propagation, "propagation", keyops.DefaultPropagation, "wait between start and promote while CloudFront deploys the key group to its edges")
}

// backend returns the key store and the KMS client. Locally the KMS client
// is the one the AWS SDK's standard configuration gives (nil without one):
// only a state folder whose key is in KMS (--kms) uses it.
func (a app) backend(ctx context.Context, c *common) (keyops.Backend, keyops.KMSAPI, error) {
	if c.local {
		if c.state == "" {
			return nil, nil, errors.New("--local needs --state DIR (the local distribution's state folder)")
		}
		var kc keyops.KMSAPI
		if cfg, err := a.awsConfig(ctx); err == nil {
			kc = kms.NewFromConfig(cfg)
		}
		return keyops.NewLocal(c.state), kc, nil
	}
	if c.state != "" {
		return nil, nil, errors.New("--state is for the local distribution: add --local")
	}
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("AWS configuration: %w", err)
	}
	return keyops.NewAWS(cloudfront.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg), keyops.AWSOptions{
		SecretID: c.secretName, KeyGroupID: c.keyGroup, GroupName: c.name,
	}), kms.NewFromConfig(cfg), nil
}

func parseAlgorithm(s string) (cfsign.Algorithm, error) {
	switch strings.ToLower(s) {
	case "":
		return "", nil
	case "rsa-2048", "rsa":
		return cfsign.RSASHA1, nil
	case "ecdsa-p256", "ecdsa":
		return cfsign.ECDSASHA256, nil
	}
	alg, err := cfsign.ParseAlgorithm(s)
	if err != nil {
		return "", fmt.Errorf("--algorithm %q: want rsa-2048, ecdsa-p256, rsa-sha256 or ecdsa-sha256", s)
	}
	return alg, nil
}

func (a app) run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "rotate":
		if len(rest) > 0 && (rest[0] == "-h" || rest[0] == "-help" || rest[0] == "--help") {
			fmt.Fprint(stdout, usage)
			return nil
		}
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return errors.New("rotate needs a step: start, wait, promote, finish, abort or rollback (see `keys help`)")
		}
		cmd, rest = "rotate "+rest[0], rest[1:]
	}
	fs := flag.NewFlagSet("keys "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "usage of keys %s (see `keys help`):\n", cmd); fs.PrintDefaults() }
	var c common
	c.register(fs)
	var (
		algorithm, out                 string
		force, keyCache, useKMS        bool
		url, cookie, sourceIP, nowFlag string
		publicKeys                     multiFlag
	)
	switch cmd {
	case "init", "rotate start":
		fs.StringVar(&algorithm, "algorithm", "", "key type: rsa-2048 (RSA-SHA1; RSA-SHA256 with --kms) or ecdsa-p256 (ECDSA-SHA256); also rsa-sha256, ecdsa-sha256")
		fs.BoolVar(&useKMS, "kms", false, "make the key in AWS KMS (asymmetric, SIGN_VERIFY): the private key never leaves KMS")
	}
	switch cmd {
	case "init":
		fs.StringVar(&out, "out", "", "also write the private key PEM to `FILE` (created exclusively, mode 0600)")
	case "rotate finish":
		fs.BoolVar(&force, "force", false, "remove the old key now, before the grace period (emergency revocation)")
	case "rotate promote":
		fs.BoolVar(&force, "force", false, "promote before the propagation wait has passed (edges that do not know the key yet answer 403 InvalidKey)")
	case "rotate wait":
		fs.BoolVar(&keyCache, "key-cache", false, "after promote: wait only --key-cache-ttl, until login functions sign with the new key (emergency revocation)")
	case "explain":
		fs.StringVar(&url, "url", "", "the requested `URL` (absolute; - reads it from standard input)")
		fs.StringVar(&cookie, "cookie", "", "the request's Cookie `header` (- reads it from standard input)")
		fs.StringVar(&sourceIP, "source-ip", "", "the viewer's `IP` address")
		fs.StringVar(&nowFlag, "now", "", "the request `time` (RFC 3339 or Unix seconds; default now)")
		fs.Var(&publicKeys, "public-key", "trust the public key `ID=FILE` (PEM; repeatable)")
	case "status", "rotate start", "rotate abort", "rotate rollback":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{2}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (flags go after the command)", cmd, fs.Arg(0))
	}
	if c.propagation <= 0 || c.grace.StaleFactor < 1 {
		return fmt.Errorf("%s: --propagation must be positive and --key-cache-stale-factor at least 1", cmd)
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"key-cache-ttl", c.grace.KeyCacheTTL}, {"cookie-lifetime", c.grace.CookieLifetime}, {"cookie-bucket", c.grace.CookieBucket}, {"playback-ttl", c.grace.PlaybackTTL}, {"download-link-ttl", c.grace.DownloadLinkTTL}} {
		if f.d <= 0 {
			return fmt.Errorf("%s: --%s %s must be positive (the login function's value)", cmd, f.name, f.d)
		}
	}
	if c.grace.Margin < 0 {
		return fmt.Errorf("%s: --margin %s must not be negative", cmd, c.grace.Margin)
	}
	if cmd == "explain" {
		return a.explain(ctx, &c, explainArgs{url: url, cookie: cookie, sourceIP: sourceIP, now: nowFlag, publicKeys: publicKeys, stdin: stdin}, stdout)
	}
	alg, err := parseAlgorithm(algorithm)
	if err != nil {
		return err
	}
	if useKMS && out != "" {
		return errors.New("init: --kms and --out: a KMS key has no private key to write")
	}
	if useKMS && strings.EqualFold(algorithm, string(cfsign.RSASHA1)) {
		return fmt.Errorf("%s: KMS cannot sign RSA-SHA1: use --algorithm ecdsa-p256 or rsa-2048 (RSA-SHA256)", cmd)
	}
	if useKMS && alg == cfsign.RSASHA1 {
		alg = cfsign.RSASHA256 // KMS signs RSA with SHA-256 only
	}
	b, kmsClient, err := a.backend(ctx, &c)
	if err != nil {
		return err
	}
	ops := &keyops.Ops{B: b, KMS: kmsClient, UseKMS: useKMS, Algorithm: alg, Grace: c.grace.Total(), Propagation: c.propagation, Name: c.name, Now: a.now, Sleep: a.sleep}
	var res keyops.Result
	switch cmd {
	case "init":
		var export func([]byte) error
		if out != "" {
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			written := false
			defer func() {
				f.Close()
				if !written {
					os.Remove(out)
				}
			}()
			export = func(pem []byte) error {
				if _, err := f.Write(pem); err != nil {
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				written = true
				return nil
			}
		}
		res, err = ops.Init(ctx, export)
		if err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if c.json {
			return writeJSON(stdout, res)
		}
		for _, n := range res.Notes {
			fmt.Fprintln(stderr, n)
		}
		if out != "" {
			fmt.Fprintf(stderr, "private key written to %s (mode 0600): keep it offline or delete it\n", out)
		}
		fmt.Fprintf(stdout, "KeyGroupId=%s SigningKeySecretArn=%s\n", res.KeyGroupID, res.SecretID)
		return nil
	case "status":
		st, err := ops.Status(ctx)
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		if c.json {
			return writeJSON(stdout, st)
		}
		printStatus(stdout, st, c.grace)
		return nil
	case "rotate start":
		res, err = ops.Start(ctx)
	case "rotate promote":
		res, err = ops.Promote(ctx, force)
	case "rotate wait":
		var kc time.Duration
		if keyCache {
			kc = c.grace.KeyCacheTTL
		}
		res, err = ops.Wait(ctx, kc, func(line string) { fmt.Fprintln(stderr, "rotate wait: "+line) })
	case "rotate finish":
		res, err = ops.Finish(ctx, force)
	case "rotate abort":
		res, err = ops.Abort(ctx)
	case "rotate rollback":
		res, err = ops.Rollback(ctx)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if c.json {
		return writeJSON(stdout, res)
	}
	printResult(stdout, res)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printResult(w io.Writer, r keyops.Result) {
	for _, n := range r.Notes {
		fmt.Fprintf(w, "%s: %s\n", r.Step, n)
	}
	if r.SigningKeyID != "" {
		fmt.Fprintf(w, "  signing:  %s\n", r.SigningKeyID)
	}
	if r.PendingKeyID != "" {
		fmt.Fprintf(w, "  pending:  %s\n", r.PendingKeyID)
	}
	if r.RetiringKeyID != "" {
		fmt.Fprintf(w, "  retiring: %s\n", r.RetiringKeyID)
	}
	if r.Next != "" {
		fmt.Fprintf(w, "next: %s\n", r.Next)
	}
}

func printStatus(w io.Writer, s keyops.Status, g keyops.Grace) {
	fmt.Fprintf(w, "key group: %s (%d of %d keys)\n", s.KeyGroupID, countInGroup(s.Keys), keyops.MaxKeysPerGroup)
	fmt.Fprintf(w, "secret:    %s\n", s.SecretID)
	for _, k := range s.Keys {
		where := ""
		if !k.InGroup {
			where = "  NOT IN THE KEY GROUP"
		}
		created := "-"
		if !k.Created.IsZero() {
			created = k.Created.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "  %-16s %-9s created %s (age %s)%s\n", k.ID, k.Role, created, time.Duration(k.AgeSeconds)*time.Second, where)
		if k.KMSKeyID != "" {
			state := k.KMSKeyState
			if state == "" {
				state = "state unknown"
			}
			fmt.Fprintf(w, "  %-16s signs in KMS: %s (%s)\n", "", k.KMSKeyID, state)
		}
	}
	if !s.PromoteAllowedAt.IsZero() {
		fmt.Fprintf(w, "pending:   %s joined the key group at %s; promote allowed from %s\n",
			s.PendingKeyID, s.Rotation.AddedAt.Format(time.RFC3339), s.PromoteAllowedAt.Format(time.RFC3339))
	}
	if r := s.Rotation; !r.IsZero() {
		formula := graceFormula(g)
		if r.Grace > 0 {
			formula = "recorded at " + r.Step
		}
		fmt.Fprintf(w, "rotation:  %s at %s: %s signs, %s retiring; grace %s (%s) ends %s\n",
			r.Step, r.PromotedAt.Format(time.RFC3339), r.SigningKeyID, r.RetiringKeyID, r.GraceInForce(g.Total()), formula, s.GraceEndsAt.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "next:      %s\n", s.Next)
}

func graceFormula(g keyops.Grace) string {
	return fmt.Sprintf("%d × key cache %s + max(max(cookie %s, playback URL %s) + bucket %s, download link %s) + margin %s",
		max(g.StaleFactor, 1), g.KeyCacheTTL, g.CookieLifetime, g.PlaybackTTL, g.CookieBucket, g.DownloadLinkTTL, g.Margin)
}

func countInGroup(keys []keyops.KeyStatus) int {
	n := 0
	for _, k := range keys {
		if k.InGroup {
			n++
		}
	}
	return n
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
