package playback

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/testutil/needs"
	"github.com/cfgate/cfgate/tests/harness"
)

// externalKeyID names the outside signer's public key (its file is <id>.pem).
const externalKeyID = "KEXTERNALOPENSSL"

// openssl runs openssl with stdin and returns stdout.
func openssl(t *testing.T, dir string, stdin []byte, args ...string) []byte {
	t.Helper()
	needs.Tool(t, "openssl")
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// cloudFrontBase64 is CloudFront's URL-safe base64 (+ → -, = → _, / → ~), done
// with tr in the shell pipeline that AWS's documentation shows; here on openssl's output.
func cloudFrontBase64(b []byte) string {
	return strings.NewReplacer("+", "-", "=", "_", "/", "~").Replace(strings.TrimSpace(string(b)))
}

// testExternalCookies signs a hand-written custom policy with openssl (no cfgate
// code), trusts its public key by dropping <id>.pem into the running distribution's
// -trusted-keys folder (no restart), sets the three cookies in the browser and plays
// a course the demo user is not granted, with no access call.
func testExternalCookies(t *testing.T, d *harness.Distribution, b *harness.Browser, trustedDir string) {
	work := t.TempDir()
	openssl(t, work, nil, "genrsa", "-out", "key.pem", "2048")
	pub := openssl(t, work, nil, "rsa", "-in", "key.pem", "-pubout")

	course := other
	expires := time.Now().Add(time.Hour).Unix()
	policy := fmt.Sprintf(`{"Statement":[{"Resource":"https://%s/courses/%s/*","Condition":{"DateLessThan":{"AWS:EpochTime":%d}}}]}`, d.Host, course, expires)
	sig := openssl(t, work, []byte(policy), "dgst", "-sha1", "-sign", "key.pem")
	policyB64 := cloudFrontBase64(openssl(t, work, []byte(policy), "base64", "-A"))
	sigB64 := cloudFrontBase64(openssl(t, work, sig, "base64", "-A"))

	p := b.NewPage(t, d)
	cookiePath := "/courses/" + course + "/"
	p.SetCookie("CloudFront-Policy", policyB64, cookiePath, true)
	p.SetCookie("CloudFront-Signature", sigB64, cookiePath, true)
	p.SetCookie("CloudFront-Key-Pair-Id", externalKeyID, cookiePath, true)

	// Not trusted yet: CloudFront's "Unknown Key".
	status, body := p.Fetch(master(course, "ts"))
	if status != 403 || !strings.Contains(body, "<Code>InvalidKey</Code>") {
		t.Fatalf("before trusting the key: %d %q, want 403 InvalidKey", status, body)
	}

	if err := os.WriteFile(filepath.Join(trustedDir, externalKeyID+".pem"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	// The distribution re-scans its trusted-keys folders at most once a second.
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _ = p.Fetch(master(course, "ts"))
		if status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status != 200 {
		t.Fatalf("after trusting the key: %d, want 200", status)
	}

	p.ResetRequests()
	p.StartPlayWithHeldCookies(course, "fmp4")
	if err := p.WaitPlaying(4, 45*time.Second); err != nil {
		t.Fatalf("%v\nrequests:\n%s", err, harness.Describe(p.MediaRequests("")))
	}
	checkMedia(t, p.MediaRequests(""), course, "fmp4")
	for _, r := range p.Requests() {
		if strings.HasPrefix(r.Path, "/api/") {
			t.Errorf("the page called %s %s; cookies signed elsewhere need no API call", r.Method, r.Path)
		}
	}
	if log := d.AccessLog(); !strings.Contains(log, "keyPairId="+externalKeyID) {
		t.Errorf("access log has no decision naming key %s", externalKeyID)
	}
}
