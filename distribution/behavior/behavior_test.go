package behavior

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const templatePath = "../../template.yaml"

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		name, pattern, path string
		want                bool
	}{
		{"default matches root", "*", "/", true},
		{"default matches anything", "*", "/a/b/c.ts?x", true},
		{"prefix star", "/api/*", "/api/login", true},
		{"star crosses slashes", "/api/*", "/api/courses/intro/access", true},
		{"star matches empty", "/api/*", "/api/", true},
		{"prefix needs its slash", "/api/*", "/api", false},
		{"case sensitive", "/api/*", "/API/login", false},
		{"not a prefix elsewhere", "/api/*", "/x/api/login", false},
		{"similar prefix", "/api/*", "/apix/login", false},
		{"leading slash optional", "api/*", "/api/login", true},
		{"courses", "/courses/*", "/courses/intro-to-hls/ts/master.m3u8", true},
		{"question one char", "/a?c", "/abc", true},
		{"question not zero chars", "/a?c", "/ac", false},
		{"question not two chars", "/a?c", "/abbc", false},
		{"question matches slash", "/a?c", "/a/c", true},
		{"suffix", "*.jpg", "/images/x.jpg", true},
		{"suffix case", "*.jpg", "/images/x.JPG", false},
		{"middle star", "/images/*.jpg", "/images/2024/x.jpg", true},
		{"middle star miss", "/images/*.jpg", "/images/x.png", false},
		{"two stars", "/a*b*c", "/aXXbYYc", true},
		{"two stars backtrack", "/a*b*c", "/abcbc", true},
		{"two stars miss", "/a*b*c", "/acb", false},
		{"exact", "/index.html", "/index.html", true},
		{"exact miss", "/index.html", "/index.htm", false},
		{"literal dot", "/a.c", "/abc", false},
		{"trailing stars", "/a**", "/a", true},
		{"path without slash", "/a*", "a", true},
		{"star in path is literal", "*", "/*0", true},
		{"pattern star against path star", "/a*", "/a*b", true},
		{"star does not stop at path star", "/*x", "/*0x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchPattern(tt.pattern, tt.path); got != tt.want {
				t.Errorf("MatchPattern(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
			}
		})
	}
}

func TestLoadTemplate(t *testing.T) {
	d, err := Load(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	want := []Behavior{
		{PathPattern: "/api/*", TargetOriginID: "api", Origin: Origin{ID: "api", Kind: KindAPI},
			AllowedMethods: []string{"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}},
		{PathPattern: "/courses/*", TargetOriginID: "media", Origin: Origin{ID: "media", Kind: KindS3}, Signed: true,
			AllowedMethods: []string{"GET", "HEAD", "OPTIONS"}},
		{PathPattern: "*", TargetOriginID: "site", Origin: Origin{ID: "site", Kind: KindS3, OriginPath: "/site"},
			AllowedMethods: []string{"GET", "HEAD"}},
	}
	if got := len(d.Behaviors); got != len(want) {
		t.Fatalf("got %d behaviors, want %d: %+v", got, len(want), d.Behaviors)
	}
	for i, w := range want {
		g := d.Behaviors[i]
		if g.PathPattern != w.PathPattern || g.TargetOriginID != w.TargetOriginID || g.Origin != w.Origin ||
			g.Signed != w.Signed || !slices.Equal(g.AllowedMethods, w.AllowedMethods) {
			t.Errorf("behavior %d:\n got %+v\nwant %+v", i, g, w)
		}
	}

	routes := []struct {
		path, pattern string
		signed        bool
	}{
		{"/api/login", "/api/*", false},
		{"/api/courses/intro-to-hls/access", "/api/*", false},
		{"/courses/intro-to-hls/ts/master.m3u8", "/courses/*", true},
		{"/courses/intro-to-hls/fmp4/init.mp4", "/courses/*", true},
		{"/", "*", false},
		{"/index.html", "*", false},
		{"/vendor/hls.min.js", "*", false},
		{"/Courses/x/master.m3u8", "*", false}, // case-sensitive: not the signed behavior
		{"/coursesx/a.ts", "*", false},
	}
	for _, r := range routes {
		t.Run(r.path, func(t *testing.T) {
			b := d.Match(r.path)
			if b.PathPattern != r.pattern || b.Signed != r.signed {
				t.Errorf("Match(%q) = %q signed=%v, want %q signed=%v", r.path, b.PathPattern, b.Signed, r.pattern, r.signed)
			}
		})
	}
	if !d.Match("/api/login").AllowsMethod("POST") || d.Match("/courses/a/b.ts").AllowsMethod("POST") {
		t.Error("AllowsMethod: want POST on /api/* only")
	}
}

// editTemplate copies template.yaml with one textual replacement (which must apply).
func editTemplate(t *testing.T, old, replacement string) string {
	t.Helper()
	b, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Count(s, old) != 1 {
		t.Fatalf("template does not contain %q exactly once", old)
	}
	p := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(p, []byte(strings.Replace(s, old, replacement, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFollowsTemplateChanges(t *testing.T) {
	t.Run("unsigned when TrustedKeyGroups removed", func(t *testing.T) {
		p := editTemplate(t, "            TrustedKeyGroups: [!Ref KeyGroupId]\n", "")
		d, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		b := d.Match("/courses/intro-to-hls/ts/master.m3u8")
		if b.PathPattern != "/courses/*" || b.Signed {
			t.Errorf("got %+v, want /courses/* unsigned", b)
		}
	})
	t.Run("order decides", func(t *testing.T) {
		// A catch-all placed first shadows the later behaviors.
		p := editTemplate(t, "        CacheBehaviors:\n",
			"        CacheBehaviors:\n          - PathPattern: /*\n            TargetOriginId: site\n            ViewerProtocolPolicy: redirect-to-https\n            CachePolicyId: 658327ea-f89d-4fab-a63d-7e88639e58f6\n")
		d, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if b := d.Match("/courses/a/master.m3u8"); b.PathPattern != "/*" || b.Signed || b.Origin.OriginPath != "/site" {
			t.Errorf("got %+v, want the first behavior /*", b)
		}
		if got := len(d.Behaviors); got != 4 {
			t.Errorf("got %d behaviors, want 4", got)
		}
	})
	t.Run("signed through a condition", func(t *testing.T) {
		p := editTemplate(t, "            TrustedKeyGroups: [!Ref KeyGroupId]\n",
			"            TrustedKeyGroups: !If [HasPlayerOrigins, [!Ref KeyGroupId], !Ref \"AWS::NoValue\"]\n")
		for _, tc := range []struct {
			origins string
			signed  bool
		}{{"", false}, {"https://player.example.com", true}} {
			d, err := LoadWithParameters(p, map[string]string{"PlayerOrigins": tc.origins})
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Match("/courses/a/b.ts").Signed; got != tc.signed {
				t.Errorf("PlayerOrigins=%q: Signed=%v, want %v", tc.origins, got, tc.signed)
			}
		}
	})
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, old, replacement, want string
	}{
		{"unknown origin", "          TargetOriginId: site\n", "          TargetOriginId: nowhere\n", `names no origin`},
		{"foreign custom origin", `DomainName: !Sub "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"`,
			"DomainName: example.com", "is not the template's HTTP API"},
		{"no distribution", "Type: AWS::CloudFront::Distribution\n", "Type: AWS::CloudFront::Nothing\n", "exactly one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := editTemplate(t, tt.old, tt.replacement)
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load: err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil {
			t.Error("want an error")
		}
	})
	t.Run("undeclared parameter", func(t *testing.T) {
		if _, err := LoadWithParameters(templatePath, map[string]string{"Nope": "x"}); err == nil {
			t.Error("want an error")
		}
	})
}

func TestResolve(t *testing.T) {
	b, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Resolve(b, map[string]string{"DomainName": "video.example.com", "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{`"video.example.com"`, `"TLSv1.2_2025"`, `"{{Ref:KeyGroupId}}"`, `"${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"`} {
		if !strings.Contains(s, want) {
			t.Errorf("resolved template lacks %s", want)
		}
	}
	for _, bad := range []string{`"Fn::If"`, `"Ref"`, `"Fn::Sub"`} {
		if strings.Contains(s, bad) {
			t.Errorf("resolved template still contains %s", bad)
		}
	}
}

// reference is an independent implementation of the pattern semantics, as a
// regular expression, for ASCII inputs.
func reference(pattern, path string) bool {
	if !strings.HasPrefix(pattern, "/") {
		pattern = "/" + pattern
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	var re strings.Builder
	re.WriteString(`^(?s)`)
	for _, c := range pattern {
		switch c {
		case '*':
			re.WriteString(`.*`)
		case '?':
			re.WriteString(`.`)
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString(`$`)
	return regexp.MustCompile(re.String()).MatchString(path)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func FuzzMatchPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"*", "/"}, {"/api/*", "/api/login"}, {"/courses/*", "/courses/a/b.ts"},
		{"/a?c", "/abc"}, {"/a*b*c", "/abcbc"}, {"*.jpg", "/x.JPG"}, {"a/*", "a/b"},
		{"/**?*", "/x"}, {"/é?", "/éa"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		got := MatchPattern(pattern, path)
		if pattern == "*" && !got {
			t.Fatalf("default pattern did not match %q", path)
		}
		if !strings.ContainsAny(pattern, "*?") {
			want := strings.TrimPrefix(pattern, "/") == strings.TrimPrefix(path, "/")
			if got != want {
				t.Fatalf("literal pattern %q vs %q: got %v", pattern, path, got)
			}
		}
		if isASCII(pattern) && isASCII(path) {
			if want := reference(pattern, path); got != want {
				t.Fatalf("MatchPattern(%q, %q) = %v, reference says %v", pattern, path, got, want)
			}
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	d, err := Load(templatePath)
	if err != nil {
		b.Fatal(err)
	}
	paths := []string{"/api/courses/intro-to-hls/access", "/courses/intro-to-hls/ts/v0/seg042.ts", "/vendor/hls.min.js"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = d.Match(paths[i%len(paths)])
	}
}

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(templatePath); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLoadPolicies: the template's origin request policy, origin custom
// headers and response headers policies reach the behaviors.
func TestLoadPolicies(t *testing.T) {
	d, err := Load(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	byPattern := map[string]Behavior{}
	for _, b := range d.Behaviors {
		byPattern[b.PathPattern] = b
	}
	apiB := byPattern["/api/*"]
	if p := apiB.OriginRequest; p == nil || p.AllViewerHeaders || !p.ViewerAddress || !slices.Contains(p.Headers, "Origin") || slices.Contains(p.Headers, "Host") {
		t.Errorf("/api/* origin request policy = %+v, want a whitelist with Origin, no Host, and the viewer address", p)
	}
	if h := apiB.OriginCustomHeaders; len(h) != 1 || h[0].Name != "X-Cfgate-Origin-Verify" || !strings.HasPrefix(h[0].Value, "{{resolve:secretsmanager:") {
		t.Errorf("/api/* origin custom headers = %+v, want X-Cfgate-Origin-Verify from Secrets Manager", h)
	}
	if apiB.Compress {
		t.Error("/api/* compresses under CachingDisabled")
	}
	media := byPattern["/courses/*"]
	want := map[string]string{"Content-Security-Policy": "default-src 'none'; sandbox", "X-Content-Type-Options": "nosniff"}
	got := map[string]string{}
	if media.ResponseHeaders != nil {
		for _, h := range media.ResponseHeaders.Add {
			got[h.Name] = h.Value
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("/courses/* response header %s = %q, want %q", k, got[k], v)
		}
	}
	if len(media.OriginCustomHeaders) != 0 {
		t.Error("/courses/* origin carries custom headers")
	}
	if def := byPattern[DefaultPattern]; def.ResponseHeaders == nil || def.ResponseHeaders.PolicyID != managedSecurityHeadersPolicy {
		t.Errorf("default behavior response headers = %+v, want the managed SecurityHeadersPolicy", def.ResponseHeaders)
	}
}
