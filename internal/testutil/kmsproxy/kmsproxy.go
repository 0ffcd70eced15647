// Package kmsproxy is a reverse proxy on 127.0.0.1 for tests and benchmarks
// that sits between an AWS SDK client and a real moto server: it passes
// every request through, counts kms:Sign calls, and on request adds latency
// to them or answers them itself with KMS's ThrottlingException (a fault
// injector, named as such: the calls that pass reach the real server).
package kmsproxy

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// signTarget is the X-Amz-Target of kms:Sign (KMS's JSON protocol).
const signTarget = "TrentService.Sign"

// Proxy forwards to a moto server and injects faults into kms:Sign.
type Proxy struct {
	// URL is the proxy's base URL, to use as the SDK's BaseEndpoint.
	URL string

	srv      *httptest.Server
	signs    atomic.Int64
	latency  atomic.Int64 // nanoseconds added before each kms:Sign
	throttle atomic.Bool
}

// Start returns a proxy forwarding to upstream (for example a
// motoserver.Server's Endpoint). Close it when done.
func Start(upstream string) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	p := &Proxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == signTarget {
			p.signs.Add(1)
			if d := time.Duration(p.latency.Load()); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				}
			}
			if p.throttle.Load() {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded (injected by kmsproxy)"}`))
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	p.URL = p.srv.URL
	return p, nil
}

// Signs returns how many kms:Sign requests reached the proxy (throttled ones included).
func (p *Proxy) Signs() int64 { return p.signs.Load() }

// SetLatency adds d before every kms:Sign (0: none).
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// SetThrottle makes every kms:Sign answer ThrottlingException (true) or pass (false).
func (p *Proxy) SetThrottle(on bool) { p.throttle.Store(on) }

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }
