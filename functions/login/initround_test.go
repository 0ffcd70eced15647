package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cfgate/cfgate/internal/loginconfig"
	"github.com/cfgate/cfgate/internal/testutil/awslatency"
	"github.com/cfgate/cfgate/internal/testutil/needs"
	"github.com/cfgate/cfgate/internal/testutil/syncbuf"
)

// TestInitCallsConcurrent shows that init makes its AWS calls in one round:
// a proxy in front of moto_server holds the SSM, Secrets Manager and
// DynamoDB (catalogue) calls until all three have arrived. Made one after the other, the first call would
// be held until its safety release (far beyond any normal call), and the
// test would see it arrive alone.
func TestInitCallsConcurrent(t *testing.T) {
	needs.Tool(t, "moto_server")
	w := seed(t)
	target, err := url.Parse(w.srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var (
		mu       sync.Mutex
		arrived  = map[string]bool{}
		together = make(chan struct{})
		alone    []string
	)
	proxy := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		svc := awslatency.Service(r)
		if svc == "ssm" || svc == "secretsmanager" || svc == "dynamodb" {
			mu.Lock()
			if !arrived[svc] {
				arrived[svc] = true
				if len(arrived) == 3 {
					close(together) // once: later calls find all three arrived
				}
			}
			mu.Unlock()
			select {
			case <-together:
			case <-time.After(3 * time.Second): // safety release, not a timing check
				mu.Lock()
				alone = append(alone, svc)
				mu.Unlock()
			}
		}
		rp.ServeHTTP(rw, r)
	}))
	defer proxy.Close()

	awsCfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(proxy.URL),
	)
	if err != nil {
		t.Fatal(err)
	}
	env := w.env()
	delete(env, "DISTRIBUTION_DOMAIN")
	env["DISTRIBUTION_DOMAIN_PARAMETER"] = w.parameter
	cfg, err := loginconfig.FromEnv(mapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	h, err := newHandler(context.Background(), cfg, awsCfg, newLogger(logs, 0))
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		t.Fatal("no handler")
	}
	mu.Lock()
	defer mu.Unlock()
	if !arrived["ssm"] || !arrived["secretsmanager"] || !arrived["dynamodb"] {
		t.Fatalf("init calls seen: %v, want ssm, secretsmanager and dynamodb", arrived)
	}
	if len(alone) != 0 {
		t.Fatalf("init calls made one after the other (%v waited alone): %s", alone, logs.String())
	}
}
