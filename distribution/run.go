package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cfgate/cfgate/distribution/behavior"
	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/api"
	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/kmssign"
	"github.com/cfgate/cfgate/internal/originverify"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/dynamo"
)

const usage = `usage: go run ./distribution [flags]

The local distribution: serves, on one machine, what the CloudFront distribution in
template.yaml serves — its behaviors (order, signed or not, origin) are read from the
template at start. /api/* runs the login Lambda's handler (HTTP API v2 events),
signed behaviors are checked as CloudFront checks them, /courses/* and the player
page come from a folder laid out like the bucket.

Examples:
  make run                                   # npm ci for the player, then this
  go run ./distribution                      # http://127.0.0.1:8080/, demo user printed
  CFGATE_DEMO_PASSWORD=secret go run ./distribution -addr 127.0.0.1:9000
  go run ./distribution -trusted-keys ~/prod-public-keys    # check cookies signed elsewhere
  TABLE_NAME=cfgate go run ./distribution -dynamodb-endpoint http://127.0.0.1:8000

Flags:
`

// demoEmail is the seeded demo user; intro-to-hls is granted to it, advanced-streaming is not.
const demoEmail = "demo@cfgate.test"

// demoCourses is the seeded catalogue, matching the embedded demo media.
var demoCourses = []store.Course{
	{ID: "intro-to-hls", Title: "Introduction to HLS"},
	{ID: "advanced-streaming", Title: "Advanced streaming"},
}

// demoGranted is the course granted to the demo user.
const demoGranted = "intro-to-hls"

// options are the parsed flags and environment.
type options struct {
	addr            string
	state           string
	origin          string
	template        string
	trustedKeys     string
	dynamoEndpoint  string
	table           string
	hlsJS           string
	insecureCookies bool
	cookieTTL       time.Duration
	cookieBucket    time.Duration
	demoPassword    string
	logJSON         bool

	lockoutThreshold        int
	lockoutAccountThreshold int
	maxSessions             int
	rehash                  bool
	lockoutWindow           time.Duration
	downloadLinkTTL         time.Duration
	playbackTTL             time.Duration

	// now is the clock of the issuer, the API and the verifier (tests; nil
	// means time.Now).
	now func() time.Time
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	var o options
	fl := flag.NewFlagSet("distribution", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprint(stderr, usage)
		fl.PrintDefaults()
	}
	fl.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen `address` (host:port); the host:port is also the distribution domain signed into policies")
	fl.StringVar(&o.state, "state", "cfgate-state", "state `folder`: development signing key, trusted-keys/, embedded store data")
	fl.StringVar(&o.origin, "origin", "", "bucket `folder` (courses/<id>/…, site/…); default: the embedded demo media and player page")
	fl.StringVar(&o.template, "template", "", "SAM template `file` whose CloudFront distribution is emulated (default: template.yaml from the current folder upward)")
	fl.StringVar(&o.trustedKeys, "trusted-keys", "", "extra `folder` of public keys named <KeyPairId>.pem to trust (re-read on change)")
	fl.StringVar(&o.dynamoEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint `URL` (table from TABLE_NAME) instead of the embedded store")
	fl.StringVar(&o.hlsJS, "hlsjs", "", "hls.min.js `file` (default: distribution/player/node_modules/hls.js/dist/hls.min.js in the checkout)")
	fl.BoolVar(&o.insecureCookies, "insecure-cookies", false, "omit Secure on cookies (for browsers that refuse Secure cookies over http on a non-loopback address)")
	fl.DurationVar(&o.cookieTTL, "cookie-ttl", cfsign.DefaultLifetime, "lifetime of the CloudFront cookies (COOKIE_TTL in AWS)")
	fl.DurationVar(&o.cookieBucket, "cookie-bucket", cfsign.DefaultBucket, "cookie expiry is rounded up to a multiple of this (COOKIE_BUCKET in AWS)")
	fl.BoolVar(&o.logJSON, "log-json", false, "access log as JSON lines instead of text")
	fl.IntVar(&o.lockoutThreshold, "lockout-threshold", api.DefaultLockoutThreshold, "failed logins of an account from one address before that address gets 429 (LOCKOUT_THRESHOLD in AWS)")
	fl.IntVar(&o.lockoutAccountThreshold, "lockout-account-threshold", api.DefaultLockoutAccountThreshold, "failed logins of an account from all addresses before it gets 429 everywhere (LOCKOUT_ACCOUNT_THRESHOLD in AWS)")
	fl.DurationVar(&o.lockoutWindow, "lockout-window", api.DefaultLockoutWindow, "failed-login counting window (LOCKOUT_WINDOW in AWS)")
	fl.BoolVar(&o.rehash, "rehash", true, "after a successful login, replace a stored password hash made with other argon2id parameters than the current ones, as the login function does (false: keep it, for load tests that seed cheap hashes)")
	fl.IntVar(&o.maxSessions, "max-sessions", api.DefaultMaxSessions, "devices (active sessions) one account may use at once; a login past it signs the oldest out (MAX_SESSIONS in AWS)")
	fl.DurationVar(&o.downloadLinkTTL, "download-link-ttl", api.DefaultDownloadLinkTTL, "validity of a download link, capped at the grant's and the session's end (DOWNLOAD_LINK_TTL in AWS)")
	fl.DurationVar(&o.playbackTTL, "playback-ttl", api.DefaultPlaybackTTL, "validity of a cookie-less playback URL, capped at the grant's and the session's end (PLAYBACK_TTL in AWS)")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return nil, fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}
	o.table = os.Getenv("TABLE_NAME")
	o.demoPassword = os.Getenv("CFGATE_DEMO_PASSWORD")
	if o.dynamoEndpoint != "" && o.table == "" {
		return nil, errors.New("-dynamodb-endpoint needs TABLE_NAME")
	}
	if o.cookieTTL < time.Minute {
		return nil, fmt.Errorf("-cookie-ttl %v: at least 1m", o.cookieTTL)
	}
	if o.downloadLinkTTL < time.Second {
		return nil, fmt.Errorf("-download-link-ttl %v: at least 1s", o.downloadLinkTTL)
	}
	if o.playbackTTL < time.Minute {
		return nil, fmt.Errorf("-playback-ttl %v: at least 1m", o.playbackTTL)
	}
	if o.cookieBucket < time.Second || o.cookieBucket%time.Second != 0 {
		return nil, fmt.Errorf("-cookie-bucket %v: a whole number of seconds, at least 1s", o.cookieBucket)
	}
	return &o, nil
}

// run starts the local distribution and serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var logger *slog.Logger
	if o.logJSON {
		logger = slog.New(slog.NewJSONHandler(stderr, nil))
	} else {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	domain := domainOf(o.addr, ln.Addr())

	app, err := setup(ctx, o, domain, logger)
	if err != nil {
		return err
	}
	defer app.close()

	fmt.Fprintf(stdout, "cfgate local distribution\n")
	fmt.Fprintf(stdout, "  URL:           http://%s/\n", domain)
	if app.demoPassword != "" {
		fmt.Fprintf(stdout, "  demo login:    %s / %s%s\n", demoEmail, app.demoPassword, app.passwordNote)
	} else if app.passwordNote != "" {
		fmt.Fprintf(stdout, "  demo login:    %s%s\n", demoEmail, app.passwordNote)
	}
	fmt.Fprintf(stdout, "  state:         %s (signing key %s%s)\n", app.stateDir, app.keyID, app.keyNote)
	fmt.Fprintf(stdout, "  trusted keys:  %s (%s)\n", strings.Join(app.trustedDirs, ", "), strings.Join(app.trusted.IDs(), " "))
	fmt.Fprintf(stdout, "  store:         %s\n", app.storeDesc)
	fmt.Fprintf(stdout, "  origin:        %s\n", app.bucket.desc)
	fmt.Fprintf(stdout, "  manifests:     %s\n", describeManifests(app.manifests))
	fmt.Fprintf(stdout, "  template:      %s\n", app.templatePath)
	for _, b := range app.server.dist.Behaviors {
		signed := "unsigned"
		if b.Signed {
			signed = "signed"
		}
		op := ""
		if b.Origin.OriginPath != "" {
			op = " " + b.Origin.OriginPath
		}
		fmt.Fprintf(stdout, "    %-12s → %s%s (%s), %s\n", b.PathPattern, b.Origin.Kind, op, b.Origin.ID, signed)
	}
	fmt.Fprintf(stdout, "  hls.js:        %s\n", app.hlsJS)

	srv := &http.Server{
		Handler:           app.server,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// domainOf is the distribution domain: the host:port the browser uses. An empty or
// unspecified listen host (":8080", "0.0.0.0:8080") becomes 127.0.0.1; the port is
// the listener's (so -addr 127.0.0.1:0 works).
func domainOf(addr string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	port := "0"
	if ta, ok := bound.(*net.TCPAddr); ok {
		port = fmt.Sprint(ta.Port)
	}
	return net.JoinHostPort(host, port)
}

// app is everything setup built.
type app struct {
	server       *server
	bucket       *bucket
	objects      *originObjects
	store        store.Store
	manifests    []string
	stateDir     string
	keyID        string
	keyNote      string
	trustedDirs  []string
	trusted      *verifier.DirKeys
	storeDesc    string
	templatePath string
	hlsJS        string
	demoPassword string
	passwordNote string
	closers      []func() error
}

func (a *app) close() {
	for _, c := range a.closers {
		_ = c()
	}
}

// setup builds the distribution: state folder, keys, store, API handler, behaviors.
func setup(ctx context.Context, o *options, domain string, logger *slog.Logger) (*app, error) {
	a := &app{}
	var err error
	if a.stateDir, err = filepath.Abs(o.state); err != nil {
		return nil, fmt.Errorf("state folder: %w", err)
	}
	created := false
	if a.keyID, created, err = initState(a.stateDir); err != nil {
		return nil, err
	}
	if created {
		a.keyNote = ", created now"
	}

	// Behaviors from the template.
	a.templatePath = o.template
	if a.templatePath == "" {
		cwd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if a.templatePath, err = findUp(cwd, "template.yaml"); err != nil {
			return nil, fmt.Errorf("template: %w (pass -template FILE)", err)
		}
	}
	dist, err := behavior.Load(a.templatePath)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", a.templatePath, err)
	}

	// Origins.
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	if a.hlsJS, err = findHLSJS(o.hlsJS, cwd); err != nil {
		return nil, err
	}
	if a.bucket, err = newBucket(o.origin, a.hlsJS); err != nil {
		return nil, err
	}
	if a.objects, a.manifests, err = newOriginObjects(a.bucket); err != nil {
		return nil, err
	}

	// Trusted keys: the state folder's, plus -trusted-keys.
	a.trustedDirs = []string{filepath.Join(a.stateDir, trustedKeysDir)}
	if o.trustedKeys != "" {
		d, err := filepath.Abs(o.trustedKeys)
		if err != nil {
			return nil, fmt.Errorf("trusted keys: %w", err)
		}
		a.trustedDirs = append(a.trustedDirs, d)
	}
	keys, err := verifier.LoadDir(a.trustedDirs...)
	if err != nil {
		return nil, fmt.Errorf("trusted keys: %w", err)
	}
	a.trusted = keys

	// Store.
	st, err := a.openStore(ctx, o)
	if err != nil {
		return nil, err
	}
	a.store = st

	// The API, as the Lambda runs it, with the local domain and plain-http origin.
	now := o.now
	if now == nil {
		now = time.Now
	}
	cookie := cfsign.CookieOptions{Insecure: o.insecureCookies}
	issuer, err := cfsign.NewIssuer(cfsign.IssuerConfig{Domain: domain, Lifetime: o.cookieTTL, Bucket: o.cookieBucket, Cookie: cookie, Now: now})
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	signingKey := &fileKey{path: filepath.Join(a.stateDir, signingKeyFile), logger: logger, kms: lazyKMS()}
	// The stack's origin secret, locally: a fresh random value per start,
	// which only this process knows (the behavior's custom header names a
	// Secrets Manager dynamic reference; see server.originRequest).
	originSecret := rand.Text()
	h, err := api.New(api.Config{
		AllowedOrigins:  []string{"http://" + domain, "https://" + domain},
		InsecureCookies: o.insecureCookies,
		Metrics:         io.Discard,
		OriginVerifier:  originverify.Static{originSecret},

		LockoutThreshold:        o.lockoutThreshold,
		LockoutAccountThreshold: o.lockoutAccountThreshold,
		LockoutWindow:           o.lockoutWindow,
		MaxSessions:             o.maxSessions,
		Passwords:               passwords(o.rehash),

		// The bucket as the login function reads it, and links on this
		// plain-http origin.
		Objects:         a.objects,
		ViewerScheme:    "http",
		DownloadLinkTTL: o.downloadLinkTTL,

		Now: now,

		// Cookie-less playback: the playlist route checks playback URLs
		// against the keys this distribution trusts on /courses/*.
		PlaybackTTL: o.playbackTTL,
		TrustedKeys: api.StaticTrustedKeys{Keys: keys},
	}, st, signingKey, issuer, logger)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}

	a.server = &server{
		dist:     dist,
		verifier: verifier.New(verifier.Options{}),
		keys:     keys,
		api:      newLambdaAPI(h),
		bucket:   a.bucket,
		logger:   logger,
		now:      now,

		originSecret: originSecret,
	}
	return a, nil
}

// lazyKMS returns a KMS client made from the AWS SDK's standard
// configuration on first call, for a state folder whose signing key is in KMS.
func lazyKMS() func(ctx context.Context) (keysource.KMSSignAPI, error) {
	var (
		mu     sync.Mutex
		client keysource.KMSSignAPI
	)
	return func(ctx context.Context) (keysource.KMSSignAPI, error) {
		mu.Lock()
		defer mu.Unlock()
		if client != nil {
			return client, nil
		}
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("aws config: %w", err)
		}
		client = kmssign.New(cfg, os.Getenv("AWS_ENDPOINT_URL_KMS"))
		return client, nil
	}
}

// openStore opens DynamoDB when -dynamodb-endpoint is set, else the embedded store
// seeded with the demo user and courses.
func (a *app) openStore(ctx context.Context, o *options) (store.Store, error) {
	if o.dynamoEndpoint != "" {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamodb: aws config: %w", err)
		}
		client := dynamodb.NewFromConfig(cfg, func(opt *dynamodb.Options) {
			opt.BaseEndpoint = aws.String(o.dynamoEndpoint)
		})
		a.storeDesc = fmt.Sprintf("DynamoDB table %s at %s", o.table, o.dynamoEndpoint)
		return dynamo.New(client, o.table), nil
	}
	st, desc, err := openEmbeddedStore(a.stateDir)
	if err != nil {
		return nil, err
	}
	a.storeDesc = desc
	pw, fromEnv := o.demoPassword, o.demoPassword != ""
	if fromEnv {
		a.passwordNote = " (from CFGATE_DEMO_PASSWORD)"
	} else {
		if pw, err = generatedDemoPassword(a.stateDir); err != nil {
			return nil, err
		}
		a.passwordNote = " (generated, kept in " + filepath.Join(a.stateDir, demoPasswordFile) + "; set CFGATE_DEMO_PASSWORD to choose)"
	}
	res, err := seed(ctx, st, pw, fromEnv)
	if err != nil {
		return nil, err
	}
	switch res {
	case seedPasswordSet:
		a.passwordNote = " (from CFGATE_DEMO_PASSWORD, set now)"
	case seedPasswordOld:
		pw = ""
		a.passwordNote = " (its password was changed with the admin CLI; set CFGATE_DEMO_PASSWORD to reset it)"
	}
	a.demoPassword = pw
	return st, nil
}

// generatedDemoPassword returns the demo password kept in the state folder,
// making and keeping one (mode 0600, never overwritten) on the first start.
func generatedDemoPassword(stateDir string) (string, error) {
	p := filepath.Join(stateDir, demoPasswordFile)
	if b, err := os.ReadFile(p); err == nil {
		if pw := strings.TrimSpace(string(b)); pw != "" {
			return pw, nil
		}
		return "", fmt.Errorf("%s is empty: delete it to have a new demo password made", p)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("demo password: %w", err)
	}
	pw := randomPassword()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("demo password: %w", err)
	}
	if _, err := f.WriteString(pw + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("demo password: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("demo password: %w", err)
	}
	return pw, nil
}

// randomPassword returns a readable random password (about 80 bits).
func randomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:8]) + "-" + string(b[8:12]) + "-" + string(b[12:])
}

// passwords is the API's password verifier: the default (nil), or with
// -rehash=false one that keeps stored hashes as they are.
func passwords(rehash bool) api.PasswordVerifier {
	if rehash {
		return nil
	}
	return api.KeepHashes{}
}
