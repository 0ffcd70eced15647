package rotation

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/testutil/needs"
	"github.com/cfgate/cfgate/tests/harness"
)

// signingKMSKey reads the KMS key (not secret) the state folder's signing
// key names ("" for a key held in the file).
func signingKMSKey(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "signing-key.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		KMSKeyID string `json:"kmsKeyId"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s.KMSKeyID
}

// TestRotationDrillKMS is the drill with keys that never leave KMS (moto's
// KMS with the cfmoto launcher's Sign-DIGEST patch, which the local
// distribution and the keys CLI reach through AWS_ENDPOINT_URL): while
// Chromium plays, the deployment moves from its file key to a KMS key
// (`rotate start --kms`, promote, finish) and then rotates that KMS key to a
// new one (start, promote, finish). Every media request is 200; afterwards
// cookies signed by the retired keys get 403 InvalidKey and the retired KMS
// key is pending deletion.
func TestRotationDrillKMS(t *testing.T) {
	needs.Tool(t, "moto_server", "chromium")
	srv, err := cfmoto.Get()
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range srv.Env() { // the distribution and keys inherit it
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	kc := kms.NewFromConfig(srv.Config(t))
	keysBuilt := buildKeys(t)
	d := harness.Start(t, harness.Options{Args: []string{"-cookie-ttl", "1m", "-cookie-bucket", "1s"}})
	state := d.StateDir
	fileKey := signingKeyID(t, state)
	if signingKMSKey(t, state) != "" {
		t.Fatal("the local distribution's default key is not a file key")
	}
	keys := keysBuilt()

	b := harness.NewBrowser(t)
	p := b.NewPage(t, d)
	if err := p.Login(harness.DemoEmail, harness.DemoPassword); err != nil {
		t.Fatal(err)
	}
	cookiePath := "/courses/" + course + "/"

	phase := func(format string, step ...string) string {
		t.Helper()
		p.StartPlay(course, format)
		type res struct {
			out string
			err error
		}
		done := make(chan res, 1)
		go func() { out, err := keysCmd(keys, state, step...); done <- res{out, err} }()
		if err := p.WaitPlaying(4, 45*time.Second); err != nil {
			t.Fatalf("during `keys %s`: %v\nrequests:\n%s", strings.Join(step, " "), err, harness.Describe(p.MediaRequests(course)))
		}
		r := <-done
		if r.err != nil {
			t.Fatalf("keys %s: %v\n%s", strings.Join(step, " "), r.err, r.out)
		}
		waitEnded(t, p)
		t.Logf("keys %s:\n%s", strings.Join(step, " "), r.out)
		return r.out
	}
	// rotate runs start, wait, promote and finish --force while the course
	// plays, and returns the retired key's cookies and the new key pair id.
	rotate := func(startArgs ...string) (oldCookie, newKey string) {
		t.Helper()
		before := signingKeyID(t, state)
		phase("ts", append([]string{"rotate", "start"}, startArgs...)...)
		out, err := keysCmd(keys, state, "status", "--json")
		if err != nil {
			t.Fatalf("status: %v\n%s", err, out)
		}
		var st struct {
			PendingKeyID string `json:"pendingKeyId"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil || st.PendingKeyID == "" {
			t.Fatalf("status after start has no pending key: %v\n%s", err, out)
		}
		if out, err := keysCmd(keys, state, "rotate", "wait", "--propagation", propagation); err != nil {
			t.Fatalf("rotate wait: %v\n%s", err, out)
		}
		oldCookie = p.CookieHeader(cookiePath)
		if got := keyOf(oldCookie); got != before {
			t.Fatalf("before promote the player's cookies are signed by %q, want %s", got, before)
		}
		phase("fmp4", "rotate", "promote", "--propagation", propagation)
		deadline := time.Now().Add(30 * time.Second)
		for keyOf(p.CookieHeader(cookiePath)) != st.PendingKeyID {
			if time.Now().After(deadline) {
				t.Fatalf("the player's cookies never switched to the new key %s", st.PendingKeyID)
			}
			time.Sleep(250 * time.Millisecond)
		}
		if r := d.Get(t, master["ts"], oldCookie); r.Status != 200 {
			t.Errorf("old-key cookie after promote: status %d, want 200 (both keys trusted)", r.Status)
		}
		phase("ts", "rotate", "finish", "--force")
		return oldCookie, st.PendingKeyID
	}

	fileCookie, kmsKey1 := rotate("--kms") // the migration: file key → KMS key
	kmsARN1 := signingKMSKey(t, state)
	if kmsARN1 == "" {
		t.Fatal("after the migration the state folder's key is not in KMS")
	}
	kms1Cookie, kmsKey2 := rotate() // a KMS key is replaced by a KMS key
	kmsARN2 := signingKMSKey(t, state)
	if kmsARN2 == "" || kmsARN2 == kmsARN1 {
		t.Fatalf("after the second rotation the KMS key is %q (was %q)", kmsARN2, kmsARN1)
	}

	reqs := p.MediaRequests(course)
	perKey := map[string]int{}
	for _, r := range reqs {
		if r.Status != 200 || r.Failed != "" {
			t.Errorf("media request failed during the drill: %s %s status %d %s", r.Method, r.Path, r.Status, r.Failed)
		}
		perKey[keyOf(r.Cookie)]++
	}
	for _, k := range []string{fileKey, kmsKey1, kmsKey2} {
		if perKey[k] == 0 {
			t.Errorf("no media request signed by %s: %v", k, perKey)
		}
	}
	t.Logf("KMS drill: %d media requests, all 200 (by key: %v)", len(reqs), perKey)

	for name, c := range map[string]string{"file key": fileCookie, "first KMS key": kms1Cookie} {
		deadline := time.Now().Add(10 * time.Second)
		var r harness.Response
		for {
			r = d.Get(t, master["ts"], c)
			if r.Status == 403 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if r.Status != 403 || !strings.Contains(r.Body, "<Code>InvalidKey</Code>") {
			t.Errorf("%s cookie after finish: %d %q, want 403 InvalidKey", name, r.Status, r.Body)
		}
	}
	if r := d.Get(t, master["fmp4"], p.CookieHeader(cookiePath)); r.Status != 200 {
		t.Errorf("new KMS key's cookie after finish: status %d, want 200", r.Status)
	}
	state1, err := kc.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(kmsARN1)})
	if err != nil {
		t.Fatal(err)
	}
	if state1.KeyMetadata.KeyState != kmstypes.KeyStatePendingDeletion {
		t.Errorf("the retired KMS key is %s, want PendingDeletion", state1.KeyMetadata.KeyState)
	}
	state2, err := kc.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(kmsARN2)})
	if err != nil || state2.KeyMetadata.KeyState != kmstypes.KeyStateEnabled {
		t.Errorf("the signing KMS key: %v %v, want Enabled", err, state2)
	}
	b2, err := os.ReadFile(filepath.Join(state, "signing-key.json"))
	if err != nil || strings.Contains(string(b2), "PRIVATE KEY") {
		t.Errorf("the state folder still holds a private key (err %v)", err)
	}
	if strings.Contains(d.Stdout(), "PRIVATE KEY") {
		t.Error("the distribution printed a private key")
	}
}
