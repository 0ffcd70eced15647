package keyops_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/loginconfig"
)

// TestGraceCoversEveryTerm: the grace is
// StaleFactor × KeyCacheTTL + max(max(CookieLifetime, PlaybackTTL) +
// CookieBucket, DownloadLinkTTL) + Margin. Each case makes another term
// decide the result, with values chosen so that no other formula gives the
// same total.
func TestGraceCoversEveryTerm(t *testing.T) {
	const s = time.Second
	base := keyops.Grace{KeyCacheTTL: 1 * s, StaleFactor: 2, CookieLifetime: 10 * s, CookieBucket: 100 * s, PlaybackTTL: 20 * s, DownloadLinkTTL: 50 * s, Margin: 1000 * s}
	for _, tc := range []struct {
		name   string
		change func(*keyops.Grace)
		want   time.Duration
	}{
		// 2×1 + max(max(10, 20) + 100, 50) + 1000
		{"playback URL longest", func(*keyops.Grace) {}, 1122 * s},
		{"stale factor", func(g *keyops.Grace) { g.StaleFactor = 3 }, 1123 * s},
		{"key cache TTL", func(g *keyops.Grace) { g.KeyCacheTTL = 4 * s }, 1128 * s},
		{"cookie longest", func(g *keyops.Grace) { g.CookieLifetime = 30 * s }, 1132 * s},
		{"bucket", func(g *keyops.Grace) { g.CookieBucket = 200 * s }, 1222 * s},
		{"playback TTL", func(g *keyops.Grace) { g.PlaybackTTL = 40 * s }, 1142 * s},
		// A download link is not bucketed: its TTL alone, once it is the longest.
		{"download link not longest", func(g *keyops.Grace) { g.DownloadLinkTTL = 119 * s }, 1122 * s},
		{"download link longest", func(g *keyops.Grace) { g.DownloadLinkTTL = 500 * s }, 1502 * s},
		{"margin", func(g *keyops.Grace) { g.Margin = 3000 * s }, 3122 * s},
		{"no playback URLs or links", func(g *keyops.Grace) { g.PlaybackTTL, g.DownloadLinkTTL = 0, 0 }, 1112 * s},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := base
			tc.change(&g)
			if got := g.Total(); got != tc.want {
				t.Errorf("%+v: Total() = %s, want %s", g, got, tc.want)
			}
		})
	}
}

// TestDefaultGraceIsTheLoginFunctions: DefaultGrace holds the login
// function's defaults (read through internal/loginconfig, with the
// optional variables unset), so the default grace covers what a default
// login function signs: 3 × 5m + 4h playback URL + 5m bucket + 5m margin.
func TestDefaultGraceIsTheLoginFunctions(t *testing.T) {
	env := map[string]string{"TABLE_NAME": "t", "SIGNING_KEY_SECRET_ID": "s", "ORIGIN_VERIFY_SECRET_ID": "o", "KEY_GROUP_ID": "k", "DISTRIBUTION_DOMAIN": "d111111abcdef8.cloudfront.net"}
	lc, err := loginconfig.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	g := keyops.DefaultGrace()
	want := keyops.Grace{KeyCacheTTL: lc.KeyCacheTTL, StaleFactor: keysource.StaleFactor, CookieLifetime: lc.CookieTTL, CookieBucket: lc.CookieBucket, PlaybackTTL: lc.PlaybackTTL, DownloadLinkTTL: lc.DownloadLinkTTL, Margin: 5 * time.Minute}
	if g != want {
		t.Errorf("DefaultGrace() = %+v, the login function's defaults give %+v", g, want)
	}
	if got := g.Total(); got != 4*time.Hour+25*time.Minute {
		t.Errorf("DefaultGrace().Total() = %s, want 4h25m", got)
	}
}

// TestRotationReadsLikeLoginConfig: the rotation function reads the login
// function's variables as internal/loginconfig does: what one accepts the
// other accepts, with the same value.
func TestRotationReadsLikeLoginConfig(t *testing.T) {
	base := map[string]string{"TABLE_NAME": "t", "SIGNING_KEY_SECRET_ID": "s", "ORIGIN_VERIFY_SECRET_ID": "o", "KEY_GROUP_ID": "k", "DISTRIBUTION_DOMAIN": "d111111abcdef8.cloudfront.net"}
	values := []string{"", "1s", "1500ms", "30s", "59s", "1m", " 4h ", "90m", "1h30m", "0s", "-1m", "4", "soon", "2.5s", "1m0.5s"}
	for _, name := range []string{"COOKIE_TTL", "COOKIE_BUCKET", "KEY_CACHE_TTL", "PLAYBACK_TTL", "DOWNLOAD_LINK_TTL"} {
		for _, v := range values {
			env := map[string]string{name: v}
			for k, x := range base {
				env[k] = x
			}
			lc, lerr := loginconfig.FromEnv(func(k string) string { return env[k] })
			g, _, gerr := keyops.StackGrace(func(k string) string { return env[k] })
			_, rerr := keyops.RotationConfigFromEnv(func(k string) string { return env[k] })
			if (lerr == nil) != (gerr == nil) || (gerr == nil) != (rerr == nil) {
				t.Errorf("%s=%q: login function: %v; rotation: %v / %v", name, v, lerr, gerr, rerr)
				continue
			}
			if lerr != nil {
				if !strings.Contains(gerr.Error(), name) {
					t.Errorf("%s=%q: rotation error %q does not name the variable", name, v, gerr)
				}
				continue
			}
			got := map[string][2]time.Duration{
				"COOKIE_TTL": {lc.CookieTTL, g.CookieLifetime}, "COOKIE_BUCKET": {lc.CookieBucket, g.CookieBucket},
				"KEY_CACHE_TTL": {lc.KeyCacheTTL, g.KeyCacheTTL}, "PLAYBACK_TTL": {lc.PlaybackTTL, g.PlaybackTTL},
				"DOWNLOAD_LINK_TTL": {lc.DownloadLinkTTL, g.DownloadLinkTTL},
			}
			for k, p := range got {
				if p[0] != p[1] {
					t.Errorf("%s=%q: %s is %s for the login function, %s for the rotation", name, v, k, p[0], p[1])
				}
			}
		}
	}
}

// TestRotationGraceCoversPlaybackURLs: PLAYBACK_TTL and DOWNLOAD_LINK_TTL
// lengthen the rotation function's grace past the default one.
func TestRotationGraceCoversPlaybackURLs(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want time.Duration
	}{
		{map[string]string{}, 4*time.Hour + 25*time.Minute},
		// 3 × 5m + 8h + 5m + 5m
		{map[string]string{"PLAYBACK_TTL": "8h"}, 8*time.Hour + 25*time.Minute},
		{map[string]string{"PLAYBACK_TTL": "8h", "GRACE_PERIOD": "35m"}, 8*time.Hour + 25*time.Minute},
		// 3 × 5m + max(4h + 5m, 10h) + 5m
		{map[string]string{"DOWNLOAD_LINK_TTL": "10h"}, 10*time.Hour + 20*time.Minute},
		// A shorter playback URL: the cookies and GRACE_PERIOD decide.
		{map[string]string{"PLAYBACK_TTL": "1m", "GRACE_PERIOD": "35m"}, 35 * time.Minute},
		{map[string]string{"PLAYBACK_TTL": "1h"}, 4*time.Hour + 25*time.Minute}, // GRACE_PERIOD's default still holds
		{map[string]string{"PLAYBACK_TTL": "1h", "GRACE_PERIOD": "1m"}, time.Hour + 25*time.Minute},
	} {
		c, err := keyops.RotationConfigFromEnv(func(k string) string { return tc.env[k] })
		if err != nil {
			t.Errorf("%v: %v", tc.env, err)
			continue
		}
		if c.Grace != tc.want {
			t.Errorf("%v: grace %s, want %s", tc.env, c.Grace, tc.want)
		}
	}
	for _, bad := range []map[string]string{{"PLAYBACK_TTL": "30s"}, {"PLAYBACK_TTL": "0m"}, {"DOWNLOAD_LINK_TTL": "1500ms"}, {"DOWNLOAD_LINK_TTL": "x"}} {
		if _, err := keyops.RotationConfigFromEnv(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestFinishWaitsForSignedURLs: a login function that read the old key just
// before promote may sign with it for StaleFactor × KeyCacheTTL more; what
// it signs last lives longest. For each kind (cookie, playback URL,
// download link) made the longest-lived in turn, the test signs it with the
// retiring key at that last moment, at the worst expiry rounding, and
// checks with distribution/verifier against the key group's public keys
// that it is still accepted one nanosecond before it expires, and that
// finish refuses (ErrTooEarly) then: the key leaves the group only once
// nothing signed with it can be valid. The margin is 0, so the test fails
// if any term of the formula (the bucket included) fell short.
func TestFinishWaitsForSignedURLs(t *testing.T) {
	const domain = "d111111abcdef8.cloudfront.net"
	def := keyops.DefaultGrace()
	def.Margin = 0
	for _, tc := range []struct {
		kind  string
		grace func(*keyops.Grace)
	}{
		{"playback URL", func(*keyops.Grace) {}},
		{"download link", func(g *keyops.Grace) { g.DownloadLinkTTL = 6 * time.Hour }},
		{"cookie", func(g *keyops.Grace) { g.CookieLifetime = 5 * time.Hour }},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			backends(t, func(t *testing.T, fx fixture) {
				ctx := context.Background()
				g := def
				tc.grace(&g)
				ops := *fx.ops
				ops.Grace = g.Total()
				must[keyops.Result](t, "init")(ops.Init(ctx, nil))
				cur, err := fx.b.Secret(ctx, keyops.Current)
				if err != nil {
					t.Fatal(err)
				}
				oldKey, err := cur.Secret.Key()
				if err != nil {
					t.Fatal(err)
				}
				must[keyops.Result](t, "start")(ops.Start(ctx))
				// Promote one second past a bucket boundary: the worst rounding
				// for what is signed at the end of the key cache window.
				fx.clock.Add(propagation)
				fx.clock.Add(g.CookieBucket - fx.clock.Now().Sub(fx.clock.Now().Truncate(g.CookieBucket)) + time.Second)
				r := must[keyops.Result](t, "promote")(ops.Promote(ctx, false))
				if r.RetiringKeyID != oldKey.ID {
					t.Fatalf("promote retires %s, want %s", r.RetiringKeyID, oldKey.ID)
				}
				st, err := fx.b.State(ctx)
				if err != nil {
					t.Fatal(err)
				}
				promoted := st.PromotedAt
				if !promoted.Equal(fx.clock.Now()) {
					t.Fatalf("promoted at %s, clock %s", promoted, fx.clock.Now())
				}

				// The last moment a signer may still use the old key.
				fx.clock.Add(g.KeyCache())
				iss, err := cfsign.NewIssuer(cfsign.IssuerConfig{Domain: domain, Lifetime: g.CookieLifetime, Bucket: g.CookieBucket, Now: fx.clock.Now})
				if err != nil {
					t.Fatal(err)
				}
				var (
					req     verifier.Request
					expires time.Time
				)
				switch tc.kind {
				case "playback URL":
					cc, err := iss.IssueFor(oldKey, "intro-to-hls", g.PlaybackTTL, cfsign.Conditions{})
					if err != nil {
						t.Fatal(err)
					}
					expires = cc.Expires
					u, _ := url.Parse("https://" + domain + "/courses/intro-to-hls/ts/seg-00001.ts?" + cc.URLParams())
					req.URL = u
				case "cookie":
					cc, err := iss.Issue(oldKey, "intro-to-hls", cfsign.Conditions{})
					if err != nil {
						t.Fatal(err)
					}
					expires = cc.Expires
					req.URL, _ = url.Parse("https://" + domain + "/courses/intro-to-hls/ts/seg-00001.ts")
					req.Cookies = cc.Cookies
				case "download link":
					// As internal/api signs it: now + TTL, rounded down to the second.
					expires = time.Unix(fx.clock.Now().Add(g.DownloadLinkTTL).Unix(), 0).UTC()
					s, err := cfsign.SignURL(oldKey, "https://"+domain+"/courses/intro-to-hls/files/notes.pdf", expires)
					if err != nil {
						t.Fatal(err)
					}
					req.URL, _ = url.Parse(s)
				}
				// The worst rounding: a second short of lifetime + bucket for
				// what the issuer buckets; a link is rounded down.
				worst := map[string]time.Duration{"playback URL": g.PlaybackTTL + g.CookieBucket - time.Second, "cookie": g.CookieLifetime + g.CookieBucket - time.Second, "download link": g.DownloadLinkTTL}[tc.kind]
				if lived := expires.Sub(fx.clock.Now()); lived != worst {
					t.Fatalf("%s signed at %s lives %s, want the worst case %s", tc.kind, fx.clock.Now(), lived, worst)
				}

				// One nanosecond before it expires: CloudFront still accepts
				// it with the key group's keys, and finish refuses.
				fx.clock.Add(expires.Add(-time.Nanosecond).Sub(fx.clock.Now()))
				req.Now = fx.clock.Now()
				if d := verifier.New(verifier.Options{CacheSize: -1}).Verify(req, groupPublicKeys(t, fx.b)); !d.Allowed {
					t.Fatalf("%s signed with the retiring key denied before it expires: %s %s", tc.kind, d.Code, d.Reason)
				}
				if _, err := ops.Finish(ctx, false); !errors.Is(err, keyops.ErrTooEarly) {
					t.Fatalf("finish while a %s signed with the retiring key is valid: %v, want ErrTooEarly", tc.kind, err)
				}
				if !slices.Contains(groupKeys(t, fx.b), oldKey.ID) {
					t.Fatal("the retiring key left the key group")
				}

				// At the end of the grace it has expired and finish removes the key.
				fx.clock.Add(promoted.Add(g.Total()).Sub(fx.clock.Now()))
				req.Now = fx.clock.Now()
				if d := verifier.New(verifier.Options{CacheSize: -1}).Verify(req, groupPublicKeys(t, fx.b)); d.Allowed || !strings.HasPrefix(d.Reason, "expired at") {
					t.Errorf("%s at the end of the grace: allowed %v (%s %s), want denied as expired", tc.kind, d.Allowed, d.Code, d.Reason)
				}
				fr := must[keyops.Result](t, "finish")(ops.Finish(ctx, false))
				if len(fr.RemovedKeyIDs) != 1 || fr.RemovedKeyIDs[0] != oldKey.ID {
					t.Errorf("finish removed %v, want [%s]", fr.RemovedKeyIDs, oldKey.ID)
				}
			})
		})
	}
}

// groupPublicKeys is what CloudFront trusts: the key group's public keys.
func groupPublicKeys(t *testing.T, b keyops.Backend) verifier.KeyMap {
	t.Helper()
	keys := verifier.KeyMap{}
	for _, id := range groupKeys(t, b) {
		pk, err := b.PublicKey(context.Background(), id)
		if err != nil {
			t.Fatalf("public key %s: %v", id, err)
		}
		pub, err := verifier.ParsePublicKeyPEM(pk.PEM)
		if err != nil {
			t.Fatalf("public key %s: %v", id, err)
		}
		keys[id] = pub
	}
	return keys
}
