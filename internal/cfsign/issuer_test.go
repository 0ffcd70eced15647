package cfsign

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestIssuer(t testing.TB, cfg IssuerConfig) *Issuer {
	t.Helper()
	if cfg.Domain == "" {
		cfg.Domain = "d111111abcdef8.cloudfront.net"
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	iss, err := NewIssuer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func cookieMap(cs []*http.Cookie) map[string]*http.Cookie {
	m := map[string]*http.Cookie{}
	for _, c := range cs {
		m[c.Name] = c
	}
	return m
}

func TestIssue(t *testing.T) {
	for _, alg := range allAlgorithms {
		t.Run(string(alg), func(t *testing.T) {
			k := testKey(t, alg)
			iss := newTestIssuer(t, IssuerConfig{})
			cc, err := iss.Issue(k, "intro-to-hls", Conditions{})
			if err != nil {
				t.Fatal(err)
			}
			wantExp := time.Date(2026, 1, 2, 3, 15, 0, 0, time.UTC) // 03:04:05 + 10m rounded up to 5m
			if !cc.Expires.Equal(wantExp) || cc.CourseID != "intro-to-hls" {
				t.Errorf("Expires, CourseID = %v, %q; want %v, intro-to-hls", cc.Expires, cc.CourseID, wantExp)
			}
			m := cookieMap(cc.Cookies)
			wantN := 3
			if alg.HashName() == "SHA256" {
				wantN = 4
				if h := m[CookieHashAlgorithm]; h == nil || h.Value != "SHA256" {
					t.Errorf("CloudFront-Hash-Algorithm cookie = %v, want SHA256", h)
				}
			} else if m[CookieHashAlgorithm] != nil {
				t.Error("SHA1 key set a CloudFront-Hash-Algorithm cookie")
			}
			if len(cc.Cookies) != wantN || len(m) != wantN {
				t.Fatalf("got %d cookies, want %d", len(cc.Cookies), wantN)
			}
			if got := m[CookieKeyPairID].Value; got != k.ID {
				t.Errorf("Key-Pair-Id = %q, want %q", got, k.ID)
			}
			policy, err := Decode(m[CookiePolicy].Value)
			if err != nil {
				t.Fatal(err)
			}
			want, err := CoursePolicy("d111111abcdef8.cloudfront.net", "intro-to-hls", wantExp, Conditions{})
			if err != nil {
				t.Fatal(err)
			}
			if string(policy) != string(want) {
				t.Errorf("policy cookie =\n%s\nwant\n%s", policy, want)
			}
			sig, err := Decode(m[CookieSignature].Value)
			if err != nil {
				t.Fatal(err)
			}
			verifyTest(t, k, policy, sig)
			for _, c := range cc.Cookies {
				if c.Path != "/courses/intro-to-hls/" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Domain != "" || !c.Expires.IsZero() || c.MaxAge != 0 {
					t.Errorf("cookie %s attributes = %+v", c.Name, c)
				}
			}
			sc := cc.SetCookies()
			wantSC := wantN
			if wantN == 3 {
				wantSC = 4 // plus the deletion of a stale CloudFront-Hash-Algorithm
				del, err := http.ParseSetCookie(sc[3])
				if err != nil || del.Name != CookieHashAlgorithm || del.MaxAge >= 0 || del.Path != "/courses/intro-to-hls/" {
					t.Errorf("SHA-1 set's last Set-Cookie = %q, want a deletion of %s on the course path", sc[3], CookieHashAlgorithm)
				}
			}
			if len(sc) != wantSC {
				t.Fatalf("SetCookies gave %d strings, want %d", len(sc), wantSC)
			}
			for i, c := range cc.Cookies {
				if sc[i] != c.String() {
					t.Errorf("precomputed Set-Cookie %q != http.Cookie.String %q", sc[i], c.String())
				}
			}
			if got, want := sc[2], "CloudFront-Key-Pair-Id="+k.ID+"; Path=/courses/intro-to-hls/; HttpOnly; Secure; SameSite=Lax"; got != want {
				t.Errorf("SetCookies()[2] = %q, want %q", got, want)
			}
			for i, s := range sc[:len(cc.Cookies)] {
				if !strings.HasPrefix(s, cc.Cookies[i].Name+"="+cc.Cookies[i].Value+"; ") {
					t.Errorf("SetCookies()[%d] does not carry cookie %s's value", i, cc.Cookies[i].Name)
				}
				if strings.Contains(s, "Expires") {
					t.Errorf("session cookie has Expires: %q", s)
				}
			}
		})
	}
}

func TestIssueCookieOptions(t *testing.T) {
	k := testKey(t, RSASHA1)
	tests := []struct {
		name string
		opts CookieOptions
		want string // Set-Cookie of CloudFront-Key-Pair-Id
	}{
		{"default", CookieOptions{}, "CloudFront-Key-Pair-Id=KTESTRSA2048; Path=/courses/c1/; HttpOnly; Secure; SameSite=Lax"},
		{"default mode is lax", CookieOptions{SameSite: http.SameSiteDefaultMode}, "CloudFront-Key-Pair-Id=KTESTRSA2048; Path=/courses/c1/; HttpOnly; Secure; SameSite=Lax"},
		{"strict", CookieOptions{SameSite: http.SameSiteStrictMode}, "CloudFront-Key-Pair-Id=KTESTRSA2048; Path=/courses/c1/; HttpOnly; Secure; SameSite=Strict"},
		{"none", CookieOptions{SameSite: http.SameSiteNoneMode}, "CloudFront-Key-Pair-Id=KTESTRSA2048; Path=/courses/c1/; HttpOnly; Secure; SameSite=None"},
		{"domain", CookieOptions{Domain: "video.example.com"}, "CloudFront-Key-Pair-Id=KTESTRSA2048; Path=/courses/c1/; Domain=video.example.com; HttpOnly; Secure; SameSite=Lax"},
		{"insecure", CookieOptions{Insecure: true}, "CloudFront-Key-Pair-Id=KTESTRSA2048; Path=/courses/c1/; HttpOnly; SameSite=Lax"},
		{"persistent", CookieOptions{Persistent: true}, "CloudFront-Key-Pair-Id=KTESTRSA2048; Path=/courses/c1/; Expires=Fri, 02 Jan 2026 03:15:00 GMT; HttpOnly; Secure; SameSite=Lax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := newTestIssuer(t, IssuerConfig{Cookie: tt.opts})
			cc, err := iss.Issue(k, "c1", Conditions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := cc.SetCookies()[2]; got != tt.want {
				t.Errorf("Set-Cookie =\n%q\nwant\n%q", got, tt.want)
			}
			exp := iss.Expired("c1")
			if len(exp) != 4 {
				t.Fatalf("Expired gave %d cookies", len(exp))
			}
			for _, c := range exp {
				s := c.String()
				wantAttrs := strings.TrimPrefix(tt.want, "CloudFront-Key-Pair-Id=KTESTRSA2048")
				wantAttrs = strings.Replace(wantAttrs, "; Expires=Fri, 02 Jan 2026 03:15:00 GMT", "", 1)
				wantAttrs = strings.Replace(wantAttrs, "; HttpOnly", "; Max-Age=0; HttpOnly", 1)
				if want := c.Name + "=" + wantAttrs; s != want {
					t.Errorf("expired cookie =\n%q\nwant\n%q", s, want)
				}
			}
		})
	}
}

func TestExpired(t *testing.T) {
	iss := newTestIssuer(t, IssuerConfig{})
	got := iss.Expired("intro-to-hls")
	names := []string{CookiePolicy, CookieSignature, CookieKeyPairID, CookieHashAlgorithm}
	if len(got) != len(names) {
		t.Fatalf("Expired gave %d cookies", len(got))
	}
	for i, c := range got {
		if c.Name != names[i] || c.Value != "" || c.MaxAge != -1 || c.Path != "/courses/intro-to-hls/" {
			t.Errorf("Expired()[%d] = %+v", i, c)
		}
	}
	for _, bad := range []string{"", "*", "a/b", "A"} {
		if got := iss.Expired(bad); got != nil {
			t.Errorf("Expired(%q) = %v, want nil", bad, got)
		}
	}
}

func TestNewIssuerErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     IssuerConfig
		wantErr string
	}{
		{"no domain", IssuerConfig{}, "domain"},
		{"wildcard domain", IssuerConfig{Domain: "*.example.com"}, "domain"},
		{"domain with scheme", IssuerConfig{Domain: "https://d.example"}, "domain"},
		{"negative lifetime", IssuerConfig{Domain: "d.example", Lifetime: -time.Second}, "Lifetime"},
		{"sub-second bucket", IssuerConfig{Domain: "d.example", Bucket: time.Millisecond}, "Bucket"},
		{"fractional bucket", IssuerConfig{Domain: "d.example", Bucket: 1500 * time.Millisecond}, "Bucket"},
		{"negative cache", IssuerConfig{Domain: "d.example", CacheSize: -1}, "CacheSize"},
		{"samesite none insecure", IssuerConfig{Domain: "d.example", Cookie: CookieOptions{SameSite: http.SameSiteNoneMode, Insecure: true}}, "SameSite=None"},
		{"unknown samesite", IssuerConfig{Domain: "d.example", Cookie: CookieOptions{SameSite: 9}}, "SameSite"},
		{"cookie domain with port", IssuerConfig{Domain: "d.example", Cookie: CookieOptions{Domain: "d.example:443"}}, "cookie Domain"},
		{"cookie domain wildcard", IssuerConfig{Domain: "d.example", Cookie: CookieOptions{Domain: "*.example"}}, "cookie Domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss, err := NewIssuer(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewIssuer = %v, %v; want error containing %q", iss, err, tt.wantErr)
			}
		})
	}
	iss, err := NewIssuer(IssuerConfig{Domain: "localhost:8080"})
	if err != nil {
		t.Fatal(err)
	}
	if iss.Domain() != "localhost:8080" || iss.lifetime != 10*time.Minute || iss.bucket != 5*time.Minute || iss.cache.max != 4096 {
		t.Errorf("defaults = %s %v %v %d", iss.Domain(), iss.lifetime, iss.bucket, iss.cache.max)
	}
}

func TestExpiryRounding(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		now      time.Time
		lifetime time.Duration
		bucket   time.Duration
		want     time.Time
	}{
		{"mid bucket", base.Add(4*time.Minute + 5*time.Second), 10 * time.Minute, 5 * time.Minute, base.Add(15 * time.Minute)},
		{"on boundary stays", base.Add(5 * time.Minute), 10 * time.Minute, 5 * time.Minute, base.Add(15 * time.Minute)},
		{"one ns past boundary", base.Add(5*time.Minute + 1), 10 * time.Minute, 5 * time.Minute, base.Add(20 * time.Minute)},
		{"one ns before boundary", base.Add(5*time.Minute - 1), 10 * time.Minute, 5 * time.Minute, base.Add(15 * time.Minute)},
		{"one second bucket", base.Add(1500 * time.Millisecond), time.Minute, time.Second, base.Add(62 * time.Second)},
		{"hour bucket", base.Add(time.Second), time.Minute, time.Hour, base.Add(time.Hour)},
		{"non-UTC clock", base.Add(time.Minute).In(time.FixedZone("X", 5*3600+1800)), 10 * time.Minute, 5 * time.Minute, base.Add(15 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := newTestIssuer(t, IssuerConfig{Lifetime: tt.lifetime, Bucket: tt.bucket, Now: func() time.Time { return tt.now }})
			got := iss.expiry(iss.lifetime)
			if !got.Equal(tt.want) {
				t.Errorf("expiry = %v, want %v", got, tt.want)
			}
			if got.Sub(tt.now) < tt.lifetime || got.Sub(tt.now) >= tt.lifetime+tt.bucket {
				t.Errorf("expiry %v outside [now+lifetime, now+lifetime+bucket)", got)
			}
		})
	}
}

// countingSigner counts Sign calls (safely across goroutines) and can be
// made to fail or block.
type countingSigner struct {
	inner crypto.Signer
	calls atomic.Int64
	fail  atomic.Bool
	gate  chan struct{} // when non-nil, Sign waits for it after arming
	armed atomic.Bool
}

func (c *countingSigner) Public() crypto.PublicKey { return c.inner.Public() }
func (c *countingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	c.calls.Add(1)
	if c.fail.Load() {
		return nil, errors.New("kms: throttled")
	}
	if c.armed.Load() && c.gate != nil {
		<-c.gate
	}
	return c.inner.Sign(r, d, o)
}

// countingIssuer returns an issuer whose clock reads *now and an RSA-SHA1
// key whose signatures cs counts, from zero (NewKey's check is not counted).
func countingIssuer(t *testing.T, now *time.Time) (*Issuer, *countingSigner, *Key) {
	t.Helper()
	iss := newTestIssuer(t, IssuerConfig{Now: func() time.Time { return *now }})
	cs := &countingSigner{inner: testRSASigner(t)}
	k, err := NewKey(testRSAID, RSASHA1, cs)
	if err != nil {
		t.Fatal(err)
	}
	cs.calls.Store(0)
	return iss, cs, k
}

func TestIssueCache(t *testing.T) {
	now := fixedNow
	iss, cs, k := countingIssuer(t, &now)
	issue := func(key *Key, course string, c Conditions) CourseCookies {
		t.Helper()
		cc, err := iss.Issue(key, course, c)
		if err != nil {
			t.Fatal(err)
		}
		return cc
	}
	sigOf := func(cc CourseCookies) string { return cookieMap(cc.Cookies)[CookieSignature].Value }

	a1 := issue(k, "a", Conditions{})
	now = now.Add(50 * time.Second) // same bucket: 03:04:55+10m rounds up to 03:15
	a2 := issue(k, "a", Conditions{})
	if sigOf(a1) != sigOf(a2) || !a1.Expires.Equal(a2.Expires) {
		t.Error("same course and bucket gave different cookies")
	}
	if got := cs.calls.Load(); got != 1 {
		t.Errorf("signer called %d times for one bucket, want 1", got)
	}
	a2.Cookies[0].Value = "mutated"
	if a3 := issue(k, "a", Conditions{}); sigOf(a3) != sigOf(a1) || a3.Cookies[0].Value == "mutated" {
		t.Error("mutating returned cookies changed the cache")
	}

	now = now.Add(5 * time.Minute) // next bucket (03:20)
	a4 := issue(k, "a", Conditions{})
	if a4.Expires.Equal(a1.Expires) || sigOf(a4) == sigOf(a1) {
		t.Error("new bucket reused the old signature")
	}
	b := issue(k, "b", Conditions{})
	ip := issue(k, "a", Conditions{SourceIP: mustPrefix(t, "192.0.2.0/24")})
	nb := issue(k, "a", Conditions{NotBefore: now.Add(-time.Minute)})
	ip2 := issue(k, "a", Conditions{SourceIP: mustPrefix(t, "192.0.2.99/24")}) // same prefix once masked
	seen := map[string]bool{}
	for _, cc := range []CourseCookies{a4, b, ip, nb} {
		if seen[sigOf(cc)] {
			t.Error("different course or conditions shared a signature")
		}
		seen[sigOf(cc)] = true
	}
	if sigOf(ip2) != sigOf(ip) {
		t.Error("equivalent source prefixes did not share a signature")
	}
	if got := cs.calls.Load(); got != 5 {
		t.Errorf("signer called %d times, want 5", got)
	}

	// The same key material under another algorithm is another signature.
	k256, err := NewKey(testRSAID, RSASHA256, cs)
	if err != nil {
		t.Fatal(err)
	}
	if s := issue(k256, "a", Conditions{}); sigOf(s) == sigOf(a4) {
		t.Error("RSA-SHA256 reused the RSA-SHA1 signature")
	}

	// A rotated key reusing the id must never get the old key's signature.
	fresh, err := GenerateKey(RSASHA1)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := NewKey(testRSAID, RSASHA1, fresh)
	if err != nil {
		t.Fatal(err)
	}
	r := issue(rotated, "a", Conditions{})
	if sigOf(r) == sigOf(a4) {
		t.Fatal("rotated key with the same id got the cached signature of the old key")
	}
	pol, _ := Decode(cookieMap(r.Cookies)[CookiePolicy].Value)
	sig, _ := Decode(sigOf(r))
	verifyTest(t, rotated, pol, sig)

	// Errors are not cached.
	cs.fail.Store(true)
	if _, err := iss.Issue(k, "c", Conditions{}); err == nil || !strings.Contains(err.Error(), "kms: throttled") {
		t.Fatalf("Issue with a failing signer: err = %v", err)
	}
	cs.fail.Store(false)
	issue(k, "c", Conditions{})
}

func TestIssueCacheEviction(t *testing.T) {
	iss := newTestIssuer(t, IssuerConfig{CacheSize: 2})
	cs := &countingSigner{inner: testECDSASigner(t)}
	k, err := NewKey(testECDSAID, ECDSASHA256, cs)
	if err != nil {
		t.Fatal(err)
	}
	cs.calls.Store(0)
	issue := func(course string) {
		t.Helper()
		if _, err := iss.Issue(k, course, Conditions{}); err != nil {
			t.Fatal(err)
		}
	}
	issue("a")
	issue("b")
	issue("a") // a is now most recently used
	issue("c") // evicts b
	if st := iss.cache.stats(); st.Len != 2 || st.Evictions != 1 || st.Signs != 3 || st.Hits != 1 {
		t.Errorf("stats = %+v, want Len 2, Evictions 1, Signs 3, Hits 1", st)
	}
	issue("a") // hit
	issue("c") // hit
	if got := cs.calls.Load(); got != 3 {
		t.Errorf("signer calls = %d, want 3 (a and c still cached)", got)
	}
	issue("b") // miss again: was evicted
	if got := cs.calls.Load(); got != 4 {
		t.Errorf("signer calls = %d, want 4 (b re-signed)", got)
	}
	// Many distinct entries stay bounded.
	for i := range 50 {
		issue(fmt.Sprintf("course-%d", i))
	}
	if st := iss.cache.stats(); st.Len != 2 || len(iss.cache.entries) != 2 {
		t.Errorf("cache grew to %d entries, bound is 2", st.Len)
	}
}

// TestIssueConcurrent hammers one issuer from many goroutines with a moving
// clock; run with -race. Every result must verify and name its own course.
func TestIssueConcurrent(t *testing.T) {
	var clock atomic.Int64
	clock.Store(fixedNow.UnixNano())
	iss := newTestIssuer(t, IssuerConfig{CacheSize: 8, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	keys := []*Key{testKey(t, RSASHA1), testKey(t, ECDSASHA256)}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				course := fmt.Sprintf("c%d", (g+i)%12)
				k := keys[i%2]
				if i%10 == 0 {
					clock.Add(int64(time.Minute))
				}
				cc, err := iss.Issue(k, course, Conditions{})
				if err != nil {
					errs <- err
					return
				}
				m := cookieMap(cc.Cookies)
				pol, err := Decode(m[CookiePolicy].Value)
				if err != nil {
					errs <- err
					return
				}
				if !strings.Contains(string(pol), "/courses/"+course+"/*") {
					errs <- fmt.Errorf("course %s got policy %s", course, pol)
					return
				}
				sig, _ := Decode(m[CookieSignature].Value)
				if err := Verify(k.Algorithm, k.Signer.Public(), pol, sig); err != nil {
					errs <- fmt.Errorf("course %s: %v", course, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := iss.cache.stats(); st.Len > 8 {
		t.Errorf("cache over its bound: %+v", st)
	}
}

// TestIssueSingleFlight checks that viewers arriving while a signature is
// being computed wait for it instead of signing again.
func TestIssueSingleFlight(t *testing.T) {
	iss := newTestIssuer(t, IssuerConfig{})
	cs := &countingSigner{inner: testRSASigner(t), gate: make(chan struct{})}
	k, err := NewKey(testRSAID, RSASHA1, cs)
	if err != nil {
		t.Fatal(err)
	}
	cs.calls.Store(0)
	cs.armed.Store(true)
	const n = 20
	sigs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cc, err := iss.Issue(k, "intro-to-hls", Conditions{})
			if err != nil {
				t.Error(err)
				return
			}
			sigs[i] = cookieMap(cc.Cookies)[CookieSignature].Value
		})
	}
	// Wait until one goroutine signs and the others joined its flight.
	for cs.calls.Load() < 1 || iss.cache.stats().Hits < n-1 {
		runtime.Gosched()
	}
	close(cs.gate)
	wg.Wait()
	if got := cs.calls.Load(); got != 1 {
		t.Errorf("signer called %d times for %d concurrent viewers, want 1", got, n)
	}
	for i := range sigs {
		if sigs[i] == "" || sigs[i] != sigs[0] {
			t.Fatalf("viewer %d got a different signature", i)
		}
	}
}

func TestIssueErrors(t *testing.T) {
	iss := newTestIssuer(t, IssuerConfig{})
	k := testKey(t, RSASHA1)
	for _, tt := range []struct {
		name, course string
		c            Conditions
	}{
		{"wildcard course", "*", Conditions{}},
		{"path course", "a/../b", Conditions{}},
		{"ipv6 source", "a", Conditions{SourceIP: netip.MustParsePrefix("2001:db8::/32")}},
		{"not before after expiry", "a", Conditions{NotBefore: fixedNow.Add(time.Hour)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if cc, err := iss.Issue(k, tt.course, tt.c); err == nil {
				t.Errorf("Issue = %+v, want an error", cc)
			}
		})
	}
	if st := iss.cache.stats(); st.Len != 0 {
		t.Errorf("failed issues reached the cache: %+v", st)
	}
}

// TestCookieEqualCoversCookie fails when net/http.Cookie gains a field that
// cookieEqual does not compare (SetCookies would then miss a change to it).
func TestCookieEqualCoversCookie(t *testing.T) {
	compared := "Name Value Quoted Path Domain Expires RawExpires MaxAge Secure HttpOnly SameSite Partitioned Raw Unparsed"
	var fields []string
	typ := reflect.TypeFor[http.Cookie]()
	for i := range typ.NumField() {
		fields = append(fields, typ.Field(i).Name)
	}
	if got := strings.Join(fields, " "); got != compared {
		t.Errorf("http.Cookie fields are %q; cookieEqual compares %q", got, compared)
	}
}

// TestSetCookiesReflectsChanges: the precomputed strings are used only while
// the cookies are unchanged.
func TestSetCookiesReflectsChanges(t *testing.T) {
	iss := newTestIssuer(t, IssuerConfig{})
	cc, err := iss.Issue(testKey(t, RSASHA256), "a", Conditions{})
	if err != nil {
		t.Fatal(err)
	}
	before := cc.SetCookies()
	for i, c := range cc.Cookies {
		if before[i] != c.String() {
			t.Errorf("precomputed %q != rendered %q", before[i], c.String())
		}
	}
	cc.Cookies[0].Path = "/courses/other/"
	cc.Cookies[1].MaxAge = 60
	cc.Cookies[2].Partitioned = true
	cc.Cookies = append(cc.Cookies, &http.Cookie{Name: "extra", Value: "1"})
	after := cc.SetCookies()
	for i, c := range cc.Cookies {
		if after[i] != c.String() {
			t.Errorf("SetCookies()[%d] = %q, want %q", i, after[i], c.String())
		}
	}
	if after[3] != before[3] {
		t.Error("unchanged cookie rendered differently")
	}
	if again := cc.SetCookies(); again[0] == before[0] {
		t.Error("changed Path not reflected")
	}
	if fresh, _ := iss.Issue(testKey(t, RSASHA256), "a", Conditions{}); fresh.SetCookies()[0] != before[0] {
		t.Error("mutating a CourseCookies changed the cached cookies")
	}
}

type panicSigner struct {
	crypto.Signer
	panics atomic.Bool
}

func (p *panicSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	if p.panics.Load() {
		panic("signer bug")
	}
	return p.Signer.Sign(r, d, o)
}

// TestIssueSignerPanics: a panicking signer propagates its panic to the
// caller and leaves no stuck in-flight entry behind.
func TestIssueSignerPanics(t *testing.T) {
	iss := newTestIssuer(t, IssuerConfig{})
	ps := &panicSigner{Signer: testECDSASigner(t)}
	k, err := NewKey(testECDSAID, ECDSASHA256, ps)
	if err != nil {
		t.Fatal(err)
	}
	ps.panics.Store(true)
	func() {
		defer func() {
			if r := recover(); r != "signer bug" {
				t.Errorf("recovered %v, want the signer's panic", r)
			}
		}()
		_, _ = iss.Issue(k, "a", Conditions{})
	}()
	if n := len(iss.cache.inflight); n != 0 {
		t.Errorf("%d in-flight entries left after a panic", n)
	}
	ps.panics.Store(false)
	if _, err := iss.Issue(k, "a", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if errPanicked.Error() == "" {
		t.Error("empty panic error text")
	}
}

// TestWarmFillsTheCache: Warm signs what Issue would use, once; Issue then
// hands out that signature without signing again, and a warm cache costs
// Warm no signature. Warm refuses what Issue refuses.
func TestWarmFillsTheCache(t *testing.T) {
	now := fixedNow
	iss, cs, k := countingIssuer(t, &now)
	if err := iss.Warm(k, "a", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := iss.Warm(k, "a", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if got := cs.calls.Load(); got != 1 {
		t.Fatalf("two Warms signed %d times, want 1", got)
	}
	cc, err := iss.Issue(k, "a", Conditions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.calls.Load(); got != 1 || cookieMap(cc.Cookies)[CookieSignature].Value == "" {
		t.Errorf("Issue after Warm: %d signatures in all, want 1, and a signature cookie", got)
	}
	if err := iss.Warm(k, "../a", Conditions{}); err == nil {
		t.Error("Warm accepted a malformed course id")
	}
	if err := iss.Warm(k, "a", Conditions{NotAfter: now.Add(-time.Second)}); !errors.Is(err, ErrNotAfterPassed) {
		t.Errorf("Warm past NotAfter: %v, want ErrNotAfterPassed", err)
	}
}
