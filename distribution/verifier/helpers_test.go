package verifier

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Test keys (testdata/private holds the private halves, testdata/keys the
// public keys named by key pair id, as DirKeys reads them).
const (
	rsaID   = "K1RSATESTKEY01"
	otherID = "K2OTHERGROUP02" // an RSA key of another key group
	ecID    = "K3ECDSATEST003"
	domain  = "d111111abcdef8.cloudfront.net"
)

// testNow is the fixed clock of the table tests.
var testNow = time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)

var (
	privOnce sync.Once
	privs    map[string]crypto.Signer
	privErr  error
)

func privateKey(t testing.TB, id string) crypto.Signer {
	t.Helper()
	privOnce.Do(func() {
		privs = map[string]crypto.Signer{}
		for _, id := range []string{rsaID, otherID, ecID} {
			b, err := os.ReadFile(filepath.Join("testdata", "private", id+".pem"))
			if err != nil {
				privErr = err
				return
			}
			block, _ := pem.Decode(b)
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				privErr = err
				return
			}
			privs[id] = k.(crypto.Signer)
		}
	})
	if privErr != nil {
		t.Fatal(privErr)
	}
	k, ok := privs[id]
	if !ok {
		t.Fatalf("no private key %s", id)
	}
	return k
}

func publicKey(t testing.TB, id string) crypto.PublicKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "keys", id+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePublicKeyPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// trusted returns a KeyMap of the named test keys.
func trusted(t testing.TB, ids ...string) KeyMap {
	t.Helper()
	m := KeyMap{}
	for _, id := range ids {
		m[id] = publicKey(t, id)
	}
	return m
}

// enc is CloudFront's base64, written here independently of the code under test.
func enc(b []byte) string {
	return strings.NewReplacer("+", "-", "=", "_", "/", "~").Replace(base64.StdEncoding.EncodeToString(b))
}

// sign signs msg with crypto/rsa or crypto/ecdsa directly.
func sign(t testing.TB, signerID string, h crypto.Hash, msg []byte) []byte {
	t.Helper()
	var digest []byte
	if h == crypto.SHA256 {
		d := sha256.Sum256(msg)
		digest = d[:]
	} else {
		d := sha1.Sum(msg)
		digest = d[:]
	}
	var sig []byte
	var err error
	switch k := privateKey(t, signerID).(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(nil, k, h, digest)
	case *ecdsa.PrivateKey:
		sig, err = ecdsa.SignASN1(rand.Reader, k, digest)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// policyJSON is a custom policy with one statement.
func policyJSON(resource string, dlt time.Time, extra string) string {
	return `{"Statement":[{"Resource":"` + resource + `","Condition":{"DateLessThan":{"AWS:EpochTime":` +
		itoa(dlt.Unix()) + `}` + extra + `}}]}`
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// cookieSet describes a signed cookie set; the zero Hash means SHA-1 with no
// CloudFront-Hash-Algorithm cookie.
type cookieSet struct {
	keyID    string // CloudFront-Key-Pair-Id
	signer   string // private key used (defaults to keyID)
	hash     crypto.Hash
	hashName string // CloudFront-Hash-Algorithm value (defaults from hash)
	policy   string // custom policy; empty for canned
	expires  int64  // canned expiry
	url      string // URL signed by a canned policy
}

func (c cookieSet) header(t testing.TB) string {
	t.Helper()
	signer := c.signer
	if signer == "" {
		signer = c.keyID
	}
	h := c.hash
	if h == 0 {
		h = crypto.SHA1
	}
	var parts []string
	var msg []byte
	if c.policy != "" {
		msg = []byte(c.policy)
		parts = append(parts, "CloudFront-Policy="+enc(msg))
	} else {
		msg = []byte(CannedPolicyForTest(c.url, c.expires))
		parts = append(parts, "CloudFront-Expires="+itoa(c.expires))
	}
	parts = append(parts, "CloudFront-Signature="+enc(sign(t, signer, h, msg)), "CloudFront-Key-Pair-Id="+c.keyID)
	name := c.hashName
	if name == "" && h == crypto.SHA256 {
		name = "SHA256"
	}
	if name != "" {
		parts = append(parts, "CloudFront-Hash-Algorithm="+name)
	}
	return strings.Join(parts, "; ")
}

// CannedPolicyForTest writes the canned policy independently of CannedPolicy.
func CannedPolicyForTest(url string, expires int64) string {
	return `{"Statement":[{"Resource":"` + url + `","Condition":{"DateLessThan":{"AWS:EpochTime":` + itoa(expires) + `}}}]}`
}

// signedURL appends signed URL parameters the way AWS's signers do.
func signedURL(t testing.TB, rawURL, keyID, signer string, h crypto.Hash, policy string, expires int64) string {
	t.Helper()
	if signer == "" {
		signer = keyID
	}
	if h == 0 {
		h = crypto.SHA1
	}
	sep := "?"
	if strings.Contains(rawURL, "?") {
		sep = "&"
	}
	var q string
	if policy != "" {
		q = "Policy=" + enc([]byte(policy)) + "&Signature=" + enc(sign(t, signer, h, []byte(policy)))
	} else {
		msg := CannedPolicyForTest(rawURL, expires)
		q = "Expires=" + itoa(expires) + "&Signature=" + enc(sign(t, signer, h, []byte(msg)))
	}
	q += "&Key-Pair-Id=" + keyID
	if h == crypto.SHA256 {
		q += "&Hash-Algorithm=SHA256"
	}
	return rawURL + sep + q
}

func cryptoHash(bits int) crypto.Hash {
	if bits == 256 {
		return crypto.SHA256
	}
	return crypto.SHA1
}
