// Command load is cfgate's load test: thousands of simulated viewers against
// the local distribution (go run ./distribution), on loopback only, for a
// bounded time.
//
//	go run ./tests/load                                  # 2,000 viewers, 90 s, embedded store
//	go run ./tests/load -store dynamodb                  # DynamoDB on moto_server
//	go run ./tests/load -store dynamodb -aws-latency     # … behind the latency harness (DynamoDB 4 ms)
//	go run ./tests/load -viewers 50 -duration 10s -ramp 5s
//	go run ./tests/load -hash minimal                    # logins without argon2id's CPU cost
//
// It builds the distribution, seeds one account per viewer (all with the same
// argon2id hash, made once: production cost unless -hash minimal) granted
// intro-to-hls, starts the
// distribution on a free 127.0.0.1 port, and runs the viewers. Each viewer,
// as the player page with hls.js would:
//
//   - starts at its offset in the ramp (logins are spread over it: each costs
//     ~26 ms of argon2id CPU in the distribution), loads the page, logs in
//     once and asks /access for the course's cookies;
//   - refreshes access on the player's schedule (app.js: REFRESH_MARGIN before
//     the cookies expire, at least MIN_REFRESH), with time compressed by
//     -compress: the distribution runs with the cookie lifetime and bucket
//     divided by it, and the viewer divides the player's margin and minimum;
//   - plays the course's HLS like hls.js: master playlist, one variant
//     playlist, then the segments, the first -buffer of them back to back
//     (buffer fill) and then one per segment duration (real time, not
//     compressed); at the end of the VOD it starts over.
//
// It reports requests per second per route, p50/p99 latency, errors (any
// status other than 200 or a transport error; there must be none: the exit
// status is 1 otherwise), and the distribution's resident set (VmRSS) before
// the load, when the ramp ends and at the end.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/crypto/argon2"

	"github.com/cfgate/cfgate/internal/password"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/dynamo"
	"github.com/cfgate/cfgate/internal/store/mem"
	"github.com/cfgate/cfgate/internal/testutil/awslatency"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

// The player's refresh schedule (distribution/player/site/app.js).
const (
	playerRefreshMargin = 60 * time.Second
	playerMinRefresh    = 5 * time.Second
)

const (
	course       = "intro-to-hls"
	viewerPW     = "load test viewer password"
	segmentSecs  = 2 // EXT-X-TARGETDURATION of the demo media
	maxViewers   = 20000
	maxDuration  = 10 * time.Minute
	requestLimit = 30 * time.Second
)

type options struct {
	viewers    int
	duration   time.Duration
	ramp       time.Duration
	compress   int
	storeKind  string
	awsLatency bool
	buffer     int
	format     string
	hash       string
	keep       bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		os.Exit(1)
	}
}

func parse(args []string) (*options, error) {
	o := &options{}
	fl := flag.NewFlagSet("load", flag.ContinueOnError)
	fl.IntVar(&o.viewers, "viewers", 2000, "simulated viewers (one account and one login each)")
	fl.DurationVar(&o.duration, "duration", 90*time.Second, "wall time of the run, ramp included")
	fl.DurationVar(&o.ramp, "ramp", 60*time.Second, "viewers start (and log in) evenly spread over this")
	fl.IntVar(&o.compress, "compress", 10, "time compression of the cookie lifetime and the refresh schedule")
	fl.StringVar(&o.storeKind, "store", "embedded", "`store` of the distribution: embedded or dynamodb (moto_server)")
	fl.BoolVar(&o.awsLatency, "aws-latency", false, "with -store dynamodb: put the latency harness (internal/testutil/awslatency defaults, CFGATE_AWS_LATENCY) in front of moto_server")
	fl.IntVar(&o.buffer, "buffer", 3, "segments a viewer fetches back to back when it (re)starts playing")
	fl.StringVar(&o.format, "format", "ts", "media `format`: ts or fmp4")
	fl.StringVar(&o.hash, "hash", "full", "argon2id cost of the viewers' password `hash`: full (production, m=19 MiB, t=2: ~26 ms of CPU per login) or minimal (m=64 KiB, t=1: the login path without its CPU cost)")
	fl.BoolVar(&o.keep, "keep", false, "keep the state folder and the distribution's log")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fl.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fl.Arg(0))
	case o.viewers < 1 || o.viewers > maxViewers:
		return nil, fmt.Errorf("-viewers %d: 1 to %d", o.viewers, maxViewers)
	case o.duration <= 0 || o.duration > maxDuration:
		return nil, fmt.Errorf("-duration %v: up to %v", o.duration, maxDuration)
	case o.ramp < 0 || o.ramp >= o.duration:
		return nil, fmt.Errorf("-ramp %v: shorter than -duration", o.ramp)
	case o.compress < 1 || o.compress > 10:
		// The distribution's cookie lifetime is at least 1m (10m / 10).
		return nil, fmt.Errorf("-compress %d: 1 to 10", o.compress)
	case o.storeKind != "embedded" && o.storeKind != "dynamodb":
		return nil, fmt.Errorf("-store %q: embedded or dynamodb", o.storeKind)
	case o.awsLatency && o.storeKind != "dynamodb":
		return nil, errors.New("-aws-latency needs -store dynamodb")
	case o.buffer < 1:
		return nil, fmt.Errorf("-buffer %d: at least 1", o.buffer)
	case o.format != "ts" && o.format != "fmp4":
		return nil, fmt.Errorf("-format %q: ts or fmp4", o.format)
	case o.hash != "full" && o.hash != "minimal":
		return nil, fmt.Errorf("-hash %q: full or minimal", o.hash)
	}
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "cfgate-load-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(out, "state and log kept in %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}

	fmt.Fprintf(out, "building the distribution…\n")
	bin := filepath.Join(work, "distribution")
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./distribution")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build distribution: %v: %s", err, b)
	}

	fmt.Fprintf(out, "hashing the viewers' password (argon2id, %s cost)…\n", o.hash)
	hash, err := password.Hash(viewerPW)
	if o.hash == "minimal" {
		hash, err = minimalHash(viewerPW)
	}
	if err != nil {
		return err
	}

	state := filepath.Join(work, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	port, err := motoserver.FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	distArgs := []string{
		"-addr", addr, "-state", state, "-insecure-cookies",
		"-cookie-ttl", (10 * time.Minute / time.Duration(o.compress)).String(),
		"-cookie-bucket", (5 * time.Minute / time.Duration(o.compress)).String(),
	}
	if o.hash == "minimal" {
		// Otherwise each viewer's first login would replace the cheap
		// hash with a production one: argon2id's full cost once more.
		distArgs = append(distArgs, "-rehash=false")
	}
	// The viewers do not run the player's JavaScript: without an installed
	// hls.js the distribution gets a placeholder to serve.
	if _, err := os.Stat(filepath.Join(root, "distribution/player/node_modules/hls.js/dist/hls.min.js")); err != nil {
		placeholder := filepath.Join(work, "hls.min.js")
		if err := os.WriteFile(placeholder, []byte("/* load test: hls.js not installed */\n"), 0o600); err != nil {
			return err
		}
		distArgs = append(distArgs, "-hlsjs", placeholder)
	}
	distEnv := append(os.Environ(), "CFGATE_DEMO_PASSWORD="+viewerPW)
	var st store.Store
	storeDesc := "embedded (store.json in the state folder)"
	if o.storeKind == "dynamodb" {
		moto, err := motoserver.Start()
		if err != nil {
			return err
		}
		defer moto.Close()
		endpoint := moto.Endpoint
		storeDesc = "DynamoDB on moto_server"
		if o.awsLatency {
			delays, err := awslatency.FromEnv()
			if err != nil {
				return err
			}
			p, err := awslatency.Start(moto.Endpoint, delays)
			if err != nil {
				return err
			}
			defer p.Close()
			endpoint = p.Endpoint
			storeDesc += fmt.Sprintf(" behind the latency harness (DynamoDB %v per call)", delays["dynamodb"])
		}
		cfg, err := config.LoadDefaultConfig(ctx,
			config.WithRegion("us-east-1"),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		)
		if err != nil {
			return err
		}
		ddb := dynamodb.NewFromConfig(cfg, func(opt *dynamodb.Options) { opt.BaseEndpoint = aws.String(moto.Endpoint) })
		const table = "cfgate-load"
		if err := dynamo.CreateTable(ctx, ddb, table); err != nil {
			return err
		}
		st = dynamo.New(ddb, table)
		distArgs = append(distArgs, "-dynamodb-endpoint", endpoint)
		distEnv = append(distEnv, moto.Env()...)
		distEnv = append(distEnv, "TABLE_NAME="+table)
	}
	fmt.Fprintf(out, "seeding %d viewers…\n", o.viewers)
	if st != nil {
		if err := seedViewers(ctx, st, o.viewers, hash); err != nil {
			return err
		}
	} else if err := seedEmbedded(filepath.Join(state, "store.json"), o.viewers, hash); err != nil {
		return err
	}

	logPath := filepath.Join(work, "distribution.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, distArgs...)
	cmd.Dir = root // template.yaml is found from here
	cmd.Env = distEnv
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	base := "http://" + addr
	if err := waitReady(ctx, base, exited); err != nil {
		b, _ := os.ReadFile(logPath)
		return fmt.Errorf("%w\n%s", err, tail(b, 2000))
	}

	rssStart, _ := rssKiB(cmd.Process.Pid)
	fmt.Fprintf(out, "distribution %s (pid %d), store: %s, RSS %.1f MiB\n", base, cmd.Process.Pid, storeDesc, float64(rssStart)/1024)
	fmt.Fprintf(out, "running %d viewers for %v (ramp %v, time compressed %d×, GOMAXPROCS %d)…\n",
		o.viewers, o.duration, o.ramp, o.compress, runtime.GOMAXPROCS(0))

	l := &loadRun{o: o, base: base, rec: newRecorder()}
	l.client = &http.Transport{
		MaxIdleConns:        o.viewers * 2,
		MaxIdleConnsPerHost: o.viewers * 2,
		IdleConnTimeout:     90 * time.Second,
		DialContext:         loopbackOnly,
	}
	start := time.Now()
	deadline := start.Add(o.duration)
	runCtx, cancel := context.WithDeadline(ctx, deadline.Add(requestLimit))
	defer cancel()

	var rssRamp, rssPeak atomic.Int64
	var rssSeries []int64 // every 10 s, read after samplerDone
	samplerDone := make(chan struct{})
	go func() { // RSS samples every second, and at the end of the ramp
		defer close(samplerDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		rampEnd := start.Add(o.ramp)
		for {
			select {
			case <-runCtx.Done():
				return
			case now := <-t.C:
				if now.After(deadline) {
					return
				}
				if r, err := rssKiB(cmd.Process.Pid); err == nil {
					if n := int(now.Sub(start) / time.Second); n/10 > len(rssSeries) {
						rssSeries = append(rssSeries, r)
					}
					if r > rssPeak.Load() {
						rssPeak.Store(r)
					}
					if rssRamp.Load() == 0 && now.After(rampEnd) {
						rssRamp.Store(r)
					}
				}
			}
		}
	}()

	var wg sync.WaitGroup
	for i := range o.viewers {
		offset := time.Duration(0)
		if o.viewers > 1 {
			offset = o.ramp * time.Duration(i) / time.Duration(o.viewers)
		}
		wg.Go(func() { l.viewer(runCtx, i, start.Add(offset), deadline) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	cancel()
	<-samplerDone
	rssEnd, _ := rssKiB(cmd.Process.Pid)

	select {
	case err := <-exited:
		exited <- err
		return fmt.Errorf("the distribution exited during the run: %v", err)
	default:
	}
	errs := l.rec.report(out, elapsed, o)
	fmt.Fprintf(out, "distribution RSS: start %.1f MiB, end of ramp %.1f MiB, end %.1f MiB (peak sampled %.1f MiB)\n",
		float64(rssStart)/1024, float64(rssRamp.Load())/1024, float64(rssEnd)/1024, float64(rssPeak.Load())/1024)
	if len(rssSeries) > 0 {
		fmt.Fprintf(out, "distribution RSS every 10 s (MiB):")
		for _, r := range rssSeries {
			fmt.Fprintf(out, " %.1f", float64(r)/1024)
		}
		fmt.Fprintln(out)
	}
	if errs > 0 {
		b, _ := os.ReadFile(logPath)
		return fmt.Errorf("%d errors; the distribution's log ends:\n%s", errs, tail(b, 3000))
	}
	return nil
}

// loopbackOnly dials only 127.0.0.0/8.
func loopbackOnly(ctx context.Context, network, address string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return nil, fmt.Errorf("load: refusing to dial %s: loopback (127.0.0.0/8) only", address)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

func viewerEmail(i int) string { return fmt.Sprintf("viewer-%05d@load.cfgate.test", i) }

// minimalHash is an argon2id PHC hash with the smallest parameters
// password.Verify accepts (m=64 KiB, t=1), which password.Hash refuses to
// make: the login path without argon2id's CPU and memory.
func minimalHash(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)
	b64 := base64.RawStdEncoding
	h := fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(key))
	if ok, err := password.Verify(h, pw); err != nil || !ok {
		return "", fmt.Errorf("minimal hash does not verify: %v", err)
	}
	return h, nil
}

// seedEmbedded writes the embedded store's file (internal/store/mem's
// format 1) with the course and one user per viewer, granted the course, in
// one write: through the store, each of the thousands of puts would rewrite
// and sync the whole file.
func seedEmbedded(path string, n int, hash string) error {
	type user struct {
		Email        string    `json:"email"`
		PasswordHash string    `json:"passwordHash"`
		CreatedAt    time.Time `json:"createdAt"`
	}
	type grant struct {
		Email    string `json:"email"`
		CourseID string `json:"course"`
	}
	type courseRec struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	f := struct {
		Format   int         `json:"format"`
		Users    []user      `json:"users"`
		Courses  []courseRec `json:"courses"`
		Grants   []grant     `json:"grants"`
		Sessions []struct{}  `json:"sessions"`
		Failures []struct{}  `json:"failures"`
	}{Format: 1, Courses: []courseRec{{ID: course, Title: "Introduction to HLS"}}, Sessions: []struct{}{}, Failures: []struct{}{}}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range n {
		f.Users = append(f.Users, user{Email: viewerEmail(i), PasswordHash: hash, CreatedAt: now})
		f.Grants = append(f.Grants, grant{Email: viewerEmail(i), CourseID: course})
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	// Read back through the store: the file must be one it accepts.
	m, err := mem.Open(path)
	if err != nil {
		return fmt.Errorf("seeded store file: %w", err)
	}
	_, _, granted, err := m.GetUserGrant(context.Background(), viewerEmail(n-1), course)
	if err != nil || !granted {
		return fmt.Errorf("seeded store file: last viewer not granted (%v)", err)
	}
	return nil
}

// seedViewers puts the course and one user per viewer, granted the course.
// (The distribution seeds the demo catalogue into the embedded store only.)
func seedViewers(ctx context.Context, st store.Store, n int, hash string) error {
	if err := st.PutCourse(ctx, store.Course{ID: course, Title: "Introduction to HLS"}); err != nil {
		return err
	}
	sem := make(chan struct{}, 16)
	var (
		wg    sync.WaitGroup
		first error
		mu    sync.Mutex
	)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			email := viewerEmail(i)
			err := st.PutUser(ctx, store.User{Email: email, PasswordHash: hash, CreatedAt: time.Now().UTC()})
			if err == nil {
				err = st.PutGrant(ctx, store.Grant{Email: email, CourseID: course})
			}
			if err != nil {
				mu.Lock()
				first = cmpOr(first, err)
				mu.Unlock()
			}
		})
		if ctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	return cmpOr(first, ctx.Err())
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func waitReady(ctx context.Context, base string, exited chan error) error {
	c := &http.Client{Timeout: time.Second}
	for range 300 {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("the distribution exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := c.Get(base + "/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("the distribution did not answer within 30 s")
}

type loadRun struct {
	o      *options
	base   string
	client *http.Transport
	rec    *recorder
}

// viewer is one simulated viewer.
func (l *loadRun) viewer(ctx context.Context, i int, startAt, deadline time.Time) {
	if !sleepUntil(ctx, startAt) {
		return
	}
	jar, _ := cookiejar.New(nil)
	v := &viewer{l: l, c: &http.Client{Transport: l.client, Jar: jar, Timeout: requestLimit}}
	if !v.get(ctx, "page", "/") {
		return
	}
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, viewerEmail(i), viewerPW)
	if _, ok := v.post(ctx, "login", "/api/login", body); !ok {
		return
	}
	next, ok := v.access(ctx)
	if !ok {
		return
	}
	prefix := "/courses/" + course + "/" + l.o.format + "/"
	variant := "360p/"
	if i%2 == 0 {
		variant = "180p/"
	}
	for time.Now().Before(deadline) {
		// (Re)start playing: playlists, then segments.
		if !v.get(ctx, "playlist", prefix+"master.m3u8") || !v.get(ctx, "playlist", prefix+variant+"index.m3u8") {
			return
		}
		if l.o.format == "fmp4" {
			init := "init_1.mp4"
			if variant == "180p/" {
				init = "init_0.mp4"
			}
			if !v.get(ctx, "segment", prefix+variant+init) {
				return
			}
		}
		playStart := time.Now()
		for seg := range 4 {
			// Buffer fill, then one segment per segment duration.
			if seg >= l.o.buffer {
				at := playStart.Add(time.Duration(seg-l.o.buffer+1) * segmentSecs * time.Second)
				if !v.waitRefreshing(ctx, at, deadline, &next) {
					return
				}
			}
			if !time.Now().Before(deadline) {
				return
			}
			name := fmt.Sprintf("seg%03d.ts", seg)
			if l.o.format == "fmp4" {
				name = fmt.Sprintf("seg%03d.m4s", seg)
			}
			if !v.get(ctx, "segment", prefix+variant+name) {
				return
			}
		}
		// Play out what is buffered before starting over.
		end := playStart.Add(4 * segmentSecs * time.Second)
		if !v.waitRefreshing(ctx, end, deadline, &next) {
			return
		}
	}
}

type viewer struct {
	l *loadRun
	c *http.Client
}

// waitRefreshing sleeps until at (or the deadline), refreshing access when
// the player's timer fires on the way. It reports whether to go on.
func (v *viewer) waitRefreshing(ctx context.Context, at, deadline time.Time, next *time.Time) bool {
	for {
		if at.After(deadline) {
			at = deadline
		}
		if next.Before(at) {
			if !sleepUntil(ctx, *next) {
				return false
			}
			n, ok := v.access(ctx)
			if !ok {
				return false
			}
			*next = n
			continue
		}
		return sleepUntil(ctx, at) && time.Now().Before(deadline)
	}
}

// access asks for the course's cookies and returns when the player would
// refresh them (its margin and minimum divided by the compression).
func (v *viewer) access(ctx context.Context) (time.Time, bool) {
	b, ok := v.post(ctx, "access", "/api/courses/"+course+"/access", "")
	if !ok {
		return time.Time{}, false
	}
	i := bytes.Index(b, []byte(`"expires":"`))
	if i < 0 {
		v.l.rec.fail("access", "no expires in the answer")
		return time.Time{}, false
	}
	rest := b[i+len(`"expires":"`):]
	j := bytes.IndexByte(rest, '"')
	exp, err := time.Parse(time.RFC3339, string(rest[:max(j, 0)]))
	if j < 0 || err != nil {
		v.l.rec.fail("access", "bad expires in the answer")
		return time.Time{}, false
	}
	k := time.Duration(v.l.o.compress)
	wait := max(playerMinRefresh/k, time.Until(exp)-playerRefreshMargin/k)
	return time.Now().Add(wait), true
}

func (v *viewer) get(ctx context.Context, route, path string) bool {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, v.l.base+path, nil)
	if err != nil {
		v.l.rec.fail(route, err.Error())
		return false
	}
	_, ok := v.do(route, r)
	return ok
}

func (v *viewer) post(ctx context.Context, route, path, body string) ([]byte, bool) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, v.l.base+path, strings.NewReader(body))
	if err != nil {
		v.l.rec.fail(route, err.Error())
		return nil, false
	}
	r.Header.Set("Origin", v.l.base) // what the player page's fetch sends
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return v.do(route, r)
}

// do sends r, reads the whole answer and records it. A viewer stops at its
// first error (as a player shows an error and stops).
func (v *viewer) do(route string, r *http.Request) ([]byte, bool) {
	start := time.Now()
	resp, err := v.c.Do(r)
	if err != nil {
		if r.Context().Err() != nil {
			return nil, false // the run is over
		}
		v.l.rec.fail(route, err.Error())
		return nil, false
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		v.l.rec.fail(route, err.Error())
		return nil, false
	}
	if resp.StatusCode != http.StatusOK {
		v.l.rec.fail(route, fmt.Sprintf("%s %s: %d %s", r.Method, r.URL.Path, resp.StatusCode, tail(b, 200)))
		return nil, false
	}
	v.l.rec.ok(route, d, len(b))
	return b, true
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// recorder collects per-route latencies and errors.
type recorder struct {
	mu     sync.Mutex
	lat    map[string][]time.Duration
	bytes  map[string]int64
	errs   map[string]int
	sample map[string]string // first error message per route
}

func newRecorder() *recorder {
	return &recorder{lat: map[string][]time.Duration{}, bytes: map[string]int64{}, errs: map[string]int{}, sample: map[string]string{}}
}

func (r *recorder) ok(route string, d time.Duration, n int) {
	r.mu.Lock()
	r.lat[route] = append(r.lat[route], d)
	r.bytes[route] += int64(n)
	r.mu.Unlock()
}

func (r *recorder) fail(route, msg string) {
	r.mu.Lock()
	r.errs[route]++
	if _, ok := r.sample[route]; !ok {
		r.sample[route] = msg
	}
	r.mu.Unlock()
}

// report prints the table and returns the number of errors.
func (r *recorder) report(out io.Writer, elapsed time.Duration, o *options) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(out, "\n%d viewers, %.1f s wall time\n\n", o.viewers, elapsed.Seconds())
	fmt.Fprintf(out, "| route | requests | req/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|\n")
	total, errs := 0, 0
	for _, route := range []string{"page", "login", "access", "playlist", "segment"} {
		d := r.lat[route]
		slices.Sort(d)
		n := len(d)
		total += n
		errs += r.errs[route]
		fmt.Fprintf(out, "| %s | %d | %.1f | %s | %s | %d |\n", route, n, float64(n)/elapsed.Seconds(), pct(d, 0.50), pct(d, 0.99), r.errs[route])
	}
	fmt.Fprintf(out, "| all | %d | %.1f | | | %d |\n\n", total, float64(total)/elapsed.Seconds(), errs)
	var mb int64
	for _, b := range r.bytes {
		mb += b
	}
	fmt.Fprintf(out, "%.1f MB of answers received (%.1f MB/s)\n", float64(mb)/1e6, float64(mb)/1e6/elapsed.Seconds())
	for route, msg := range r.sample {
		fmt.Fprintf(out, "first %s error: %s\n", route, msg)
	}
	return errs
}

func pct(sorted []time.Duration, q float64) string {
	if len(sorted) == 0 {
		return "–"
	}
	d := sorted[int(q*float64(len(sorted)-1))]
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64)
}

// rssKiB reads a process's VmRSS.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS")
}

// moduleRoot finds the folder of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the checkout")
		}
		dir = parent
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
