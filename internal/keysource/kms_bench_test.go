package keysource

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/kmssign"
	"github.com/cfgate/cfgate/internal/testutil/kmsproxy"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// BenchmarkRealisticMixKMS is cfsign's realistic mix (1,000 viewers over 20
// courses, each refreshing every 5 minutes, 5-minute buckets, 10-minute
// cookies, a simulated clock advancing 300 ms per /access) with the key in
// moto's KMS behind kmsproxy, which adds CFGATE_KMS_LATENCY (default 20ms)
// to every kms:Sign. It reports the kms:Sign calls per 1,000 /access calls,
// counted at the proxy, and the wall time per /access including the misses'
// waits for KMS.
//
//	go test -run '^$' -bench RealisticMixKMS -benchtime 20000x ./internal/keysource
func BenchmarkRealisticMixKMS(b *testing.B) {
	needs.Tool(b, "moto_server")
	const (
		viewers = 1000
		courses = 20
		period  = 5 * time.Minute
	)
	latency := 20 * time.Millisecond
	if v := os.Getenv("CFGATE_KMS_LATENCY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		latency = d
	}
	srv := cfmoto.Shared(b)
	proxy, err := kmsproxy.Start(srv.Endpoint)
	if err != nil {
		b.Fatal(err)
	}
	defer proxy.Close()
	arn, _ := createKMSKeyTB(b, kms.NewFromConfig(srv.Config(b)), kmstypes.KeySpecEccNistP256)
	kc := kmssign.New((&motoserver.Server{Endpoint: proxy.URL}).Config(b), "")
	key, err := KMSKey(kc, cfsign.Secret{KeyPairID: "K2JCJMDEHXQW5F", KMSKeyID: arn, Algorithm: cfsign.ECDSASHA256}, 0)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	iss, err := cfsign.NewIssuer(cfsign.IssuerConfig{Domain: "d111111abcdef8.cloudfront.net", Lifetime: 10 * time.Minute, Bucket: 5 * time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, courses)
	for c := range ids {
		ids[c] = fmt.Sprintf("course-%02d", c)
	}
	step := period / viewers
	refresh := func(n int) {
		now = now.Add(step)
		cc, err := iss.Issue(key, ids[(n%viewers)%courses], cfsign.Conditions{})
		if err != nil {
			b.Fatal(err)
		}
		_ = cc.SetCookies()
	}
	for n := range viewers { // one refresh period: the steady state
		refresh(n)
	}
	proxy.SetLatency(latency)
	signs0, ops := proxy.Signs(), 0
	start := time.Now()
	for b.Loop() {
		refresh(ops)
		ops++
	}
	elapsed := time.Since(start)
	b.ReportMetric(1000*float64(proxy.Signs()-signs0)/float64(ops), "kms-signs/1000-access")
	b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(ops), "wall-ms/access")
	b.ReportMetric(float64(latency.Microseconds())/1000, "injected-ms")
}
