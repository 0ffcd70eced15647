package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"embed"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cfgate/cfgate/internal/api"
	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/password"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/dynamo"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/needs"
	"github.com/cfgate/cfgate/internal/testutil/syncbuf"
)

//go:embed testdata/*.json
var fixtures embed.FS

const (
	testDomain   = "d111111abcdef8.cloudfront.net"
	testEmail    = "demo@cfgate.test"
	testPassword = "correct horse battery staple"
	testCourse   = "intro-to-hls"
	// testOriginValue is the origin secret's value, as the fixtures carry it
	// in X-Cfgate-Origin-Verify.
	testOriginValue = "fixture-origin-verify-value-0001"
)

// world is a seeded moto_server: table, secret, SSM parameter.
type world struct {
	srv       *motoserver.Server
	awsCfg    aws.Config
	table     string
	secret    string
	origin    string // the origin-verify secret
	keyID     string // the public key's id in moto's CloudFront
	keyGroup  string // a key group holding it
	otherKG   string // a key group without it
	parameter string
	pub       *rsa.PublicKey
	st        *dynamo.Store
}

var (
	seedOnce  sync.Once
	seeded    *world
	seedErr   error
	hashOnce  sync.Once
	testHash  string
	hashError error
)

// seed creates (once per test binary) a DynamoDB table with the demo user,
// two courses and a grant of intro-to-hls, a Secrets Manager secret with an
// RSA-SHA1 key, and an SSM parameter holding the distribution domain.
func seed(t testing.TB) *world {
	t.Helper()
	srv := motoserver.Shared(t)
	seedOnce.Do(func() { seeded, seedErr = seedWorld(t, srv) })
	if seedErr != nil {
		t.Fatal(seedErr)
	}
	return seeded
}

func seedWorld(t testing.TB, srv *motoserver.Server) (*world, error) {
	ctx := context.Background()
	w := &world{srv: srv, awsCfg: srv.Config(t)}
	w.table = motoserver.Unique(t, "cfgate")
	w.secret = motoserver.Unique(t, "cfgate-key")
	w.origin = motoserver.Unique(t, "cfgate-origin")
	w.parameter = "/" + motoserver.Unique(t, "cfgate-domain")

	ddb := dynamodb.NewFromConfig(w.awsCfg)
	if err := dynamo.CreateTable(ctx, ddb, w.table); err != nil {
		return nil, fmt.Errorf("create table: %w", err)
	}
	w.st = dynamo.New(ddb, w.table)
	hashOnce.Do(func() { testHash, hashError = password.Hash(testPassword) })
	if hashError != nil {
		return nil, hashError
	}
	if err := w.st.PutUser(ctx, store.User{Email: testEmail, PasswordHash: testHash, CreatedAt: time.Now()}); err != nil {
		return nil, err
	}
	for _, c := range []store.Course{{ID: testCourse, Title: "Intro to HLS"}, {ID: "advanced-streaming", Title: "Advanced streaming"}} {
		if err := w.st.PutCourse(ctx, c); err != nil {
			return nil, err
		}
	}
	if err := w.st.PutGrant(ctx, store.Grant{Email: testEmail, CourseID: testCourse}); err != nil {
		return nil, err
	}

	signer, err := cfsign.GenerateKey(cfsign.RSASHA1)
	if err != nil {
		return nil, err
	}
	w.pub = signer.Public().(*rsa.PublicKey)
	pemBytes, err := cfsign.MarshalPrivateKeyPEM(signer)
	if err != nil {
		return nil, err
	}
	if err := w.createKeyGroups(ctx, t); err != nil {
		return nil, err
	}
	secretJSON, _ := json.Marshal(cfsign.Secret{KeyPairID: w.keyID, PrivateKey: string(pemBytes), Algorithm: cfsign.RSASHA1})
	if _, err := secretsmanager.NewFromConfig(w.awsCfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(w.secret), SecretString: aws.String(string(secretJSON)),
	}); err != nil {
		return nil, fmt.Errorf("create secret: %w", err)
	}
	if _, err := secretsmanager.NewFromConfig(w.awsCfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(w.origin), SecretString: aws.String(testOriginValue),
	}); err != nil {
		return nil, fmt.Errorf("create origin secret: %w", err)
	}
	if _, err := ssm.NewFromConfig(w.awsCfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(w.parameter), Value: aws.String(testDomain), Type: ssmtypes.ParameterTypeString,
	}); err != nil {
		return nil, fmt.Errorf("put parameter: %w", err)
	}
	return w, nil
}

// env is the function's configuration for this world.
func (w *world) env() map[string]string {
	return map[string]string{
		"TABLE_NAME":              w.table,
		"SIGNING_KEY_SECRET_ID":   w.secret,
		"ORIGIN_VERIFY_SECRET_ID": w.origin,
		"KEY_GROUP_ID":            w.keyGroup,
		"DISTRIBUTION_DOMAIN":     testDomain,
		"PLAYER_ORIGINS":          "http://localhost:8080",
		"LOG_LEVEL":               "debug",
	}
}

// event returns a committed HTTP API v2 event fixture, with the session
// cookie value put in when given.
func event(t testing.TB, name, session string) []byte {
	t.Helper()
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if session != "" {
		b = bytes.Replace(b, []byte("REPLACED-BY-TEST"), []byte(session), 1)
	}
	return b
}

// withHint is what event puts in place of the fixture's session cookie value
// for a request that also carries the user hint: the session token, then
// the hint as the next element of the event's cookies.
func withHint(token, hint string) string {
	return token + `", "` + api.UserHintCookie + "=" + hint
}

func decode(t testing.TB, out []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response is not an HTTP API v2 response: %v: %s", err, out)
	}
	return resp
}

func cookies(resp events.APIGatewayV2HTTPResponse) map[string]*http.Cookie {
	m := map[string]*http.Cookie{}
	for _, line := range resp.Cookies {
		if c, err := http.ParseSetCookie(line); err == nil {
			m[c.Name] = c
		}
	}
	return m
}

// checkLogin asserts a successful login and returns the session cookie value.
func checkLogin(t testing.TB, resp events.APIGatewayV2HTTPResponse) string {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("login: status %d body %s", resp.StatusCode, resp.Body)
	}
	for k := range resp.Headers {
		if strings.EqualFold(k, "Set-Cookie") {
			t.Errorf("login: Set-Cookie in Headers; must be in Cookies only")
		}
	}
	c := cookies(resp)["cfgate_session"]
	if c == nil || c.Value == "" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/api/" {
		t.Fatalf("login: session cookie %+v in %q", c, resp.Cookies)
	}
	var body struct {
		Email   string `json:"email"`
		Courses []struct{ ID, Title string }
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.Email != testEmail || len(body.Courses) != 1 || body.Courses[0].ID != testCourse {
		t.Errorf("login body %s (%v)", resp.Body, err)
	}
	return c.Value
}

// checkAccess asserts the CloudFront cookies of a successful /access and
// verifies their signature with the public key, as CloudFront would.
func checkAccess(t testing.TB, resp events.APIGatewayV2HTTPResponse, pub *rsa.PublicKey) {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("access: status %d body %s", resp.StatusCode, resp.Body)
	}
	cs := cookies(resp)
	pol, sig, kid := cs[cfsign.CookiePolicy], cs["CloudFront-Signature"], cs["CloudFront-Key-Pair-Id"]
	if pol == nil || sig == nil || kid == nil {
		t.Fatalf("access: CloudFront cookies missing in Cookies %q", resp.Cookies)
	}
	for _, c := range []*http.Cookie{pol, sig, kid} {
		if c.Path != "/courses/"+testCourse+"/" || !c.Secure || !c.HttpOnly {
			t.Errorf("cookie %s attributes: %+v", c.Name, c)
		}
	}
	if kid.Value != seeded.keyID {
		t.Errorf("Key-Pair-Id %q", kid.Value)
	}
	policy, err := cfsign.Decode(pol.Value)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(policy, []byte(`"Resource":"https://`+testDomain+`/courses/`+testCourse+`/*"`)) {
		t.Errorf("policy %s", policy)
	}
	signature, err := cfsign.Decode(sig.Value)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha1.Sum(policy)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA1, digest[:], signature); err != nil {
		t.Errorf("CloudFront-Signature does not verify: %v", err)
	}
}

// --- the deployable artifact -------------------------------------------------

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// bootstrap builds the function exactly as for Lambda (linux, CGO_ENABLED=0,
// -tags lambda.norpc, -trimpath, stripped) but for this machine's GOARCH so it
// runs here; once per test binary.
func bootstrap(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "cfgate-login-")
		if buildErr != nil {
			return
		}
		buildBin, buildErr = buildBootstrap(buildDir, runtime.GOARCH)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func buildBootstrap(dir, goarch string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "bootstrap-"+goarch)
	cmd := exec.Command(goTool, "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build bootstrap: %v\n%s", err, b)
	}
	return out, nil
}

func TestMain(m *testing.M) {
	code := needs.Main(m)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// runtimeAPI is this test's implementation of the Lambda Runtime API
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html): the
// endpoints the Go runtime client calls, queueing invocations given to Invoke.
type runtimeAPI struct {
	srv       *httptest.Server
	queue     chan *invocation
	mu        sync.Mutex
	pending   map[string]*invocation
	firstNext time.Time
	nexts     atomic.Int64
	initErrs  chan []byte
	seq       atomic.Int64
}

type invocation struct {
	id      string
	payload []byte
	done    chan invokeResult
}

type invokeResult struct {
	body  []byte
	isErr bool
}

func newRuntimeAPI(t testing.TB) *runtimeAPI {
	rt := &runtimeAPI{queue: make(chan *invocation), pending: map[string]*invocation{}, initErrs: make(chan []byte, 4)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", rt.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) { rt.result(w, r, false) })
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) { rt.result(w, r, true) })
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case rt.initErrs <- b:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	})
	rt.srv = httptest.NewServer(mux)
	t.Cleanup(rt.srv.Close)
	return rt
}

func (rt *runtimeAPI) addr() string { return strings.TrimPrefix(rt.srv.URL, "http://") }

func (rt *runtimeAPI) next(w http.ResponseWriter, r *http.Request) {
	if rt.nexts.Add(1) == 1 {
		rt.mu.Lock()
		rt.firstNext = time.Now()
		rt.mu.Unlock()
	}
	select {
	case inv := <-rt.queue:
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:cfgate-login")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-67470a8b-3f2a1c0d4e5b6a7980918273;Parent=0;Sampled=0")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	}
}

func (rt *runtimeAPI) result(w http.ResponseWriter, r *http.Request, isErr bool) {
	b, err := io.ReadAll(r.Body)
	rt.mu.Lock()
	inv := rt.pending[r.PathValue("id")]
	delete(rt.pending, r.PathValue("id"))
	rt.mu.Unlock()
	if inv == nil || err != nil {
		http.Error(w, `{"errorMessage":"unknown invocation"}`, http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	inv.done <- invokeResult{body: b, isErr: isErr}
}

// function is a running bootstrap process.
type function struct {
	rt      *runtimeAPI
	cmd     *exec.Cmd
	out     *syncbuf.Buffer
	started time.Time
	exited  chan struct{}
	waitErr error
}

// startFunction starts the bootstrap with env (plus the moto endpoint and the
// Runtime API address), as Lambda would: no other environment.
func startFunction(t testing.TB, w *world, env map[string]string) *function {
	t.Helper()
	bin := bootstrap(t)
	rt := newRuntimeAPI(t)
	cmd := exec.Command(bin)
	cmd.Env = append(w.srv.Env(),
		"AWS_LAMBDA_RUNTIME_API="+rt.addr(),
		"AWS_LAMBDA_FUNCTION_NAME=cfgate-login",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"LAMBDA_TASK_ROOT="+filepath.Dir(bin),
		"TZ=:UTC",
	)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	f := &function{rt: rt, cmd: cmd, out: &syncbuf.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = f.out, f.out
	f.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { f.waitErr = cmd.Wait(); close(f.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-f.exited
	})
	return f
}

// Invoke sends one invocation through the Runtime API and returns the
// function's response payload.
func (f *function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	inv := &invocation{id: fmt.Sprintf("req-%d", f.rt.seq.Add(1)), payload: payload, done: make(chan invokeResult, 1)}
	f.rt.mu.Lock()
	f.rt.pending[inv.id] = inv
	f.rt.mu.Unlock()
	select {
	case f.rt.queue <- inv:
	case <-f.exited:
		return nil, fmt.Errorf("function exited (%v) before taking the invocation: %s", f.waitErr, f.out.String())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case res := <-inv.done:
		if res.isErr {
			return nil, fmt.Errorf("function error: %s", res.body)
		}
		return res.body, nil
	case <-f.exited:
		return nil, fmt.Errorf("function exited (%v) during the invocation: %s", f.waitErr, f.out.String())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// createKeyGroups registers the world's public key in moto's CloudFront and
// creates a key group with it and one without it (another key only).
func (w *world) createKeyGroups(ctx context.Context, t testing.TB) error {
	cf := cloudfront.NewFromConfig(w.awsCfg)
	create := func(pub any) (string, error) {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		out, err := cf.CreatePublicKey(ctx, &cloudfront.CreatePublicKeyInput{PublicKeyConfig: &cftypes.PublicKeyConfig{
			CallerReference: aws.String(motoserver.Unique(t, "ref")), Name: aws.String(motoserver.Unique(t, "key")),
			EncodedKey: aws.String(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))),
		}})
		if err != nil {
			return "", fmt.Errorf("create public key: %w", err)
		}
		return aws.ToString(out.PublicKey.Id), nil
	}
	var err error
	if w.keyID, err = create(w.pub); err != nil {
		return err
	}
	other, err := cfsign.GenerateKey(cfsign.ECDSASHA256)
	if err != nil {
		return err
	}
	otherID, err := create(other.Public())
	if err != nil {
		return err
	}
	group := func(items ...string) (string, error) {
		out, err := cf.CreateKeyGroup(ctx, &cloudfront.CreateKeyGroupInput{KeyGroupConfig: &cftypes.KeyGroupConfig{
			Name: aws.String(motoserver.Unique(t, "group")), Items: items,
		}})
		if err != nil {
			return "", fmt.Errorf("create key group: %w", err)
		}
		return aws.ToString(out.KeyGroup.Id), nil
	}
	if w.keyGroup, err = group(w.keyID); err != nil {
		return err
	}
	w.otherKG, err = group(otherID)
	return err
}
