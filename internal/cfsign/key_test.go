package cfsign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func TestParseAlgorithm(t *testing.T) {
	tests := []struct {
		in   string
		want Algorithm
		hash string
		ok   bool
	}{
		{"RSA-SHA1", RSASHA1, "SHA1", true},
		{"rsa-sha1", RSASHA1, "SHA1", true},
		{"RSA-SHA256", RSASHA256, "SHA256", true},
		{"ecdsa-sha256", ECDSASHA256, "SHA256", true},
		{"", "", "", false},
		{"RSA", "", "", false},
		{"ECDSA-SHA1", "", "", false},
		{"RSA-SHA1 ", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAlgorithm(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseAlgorithm(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if got != tt.want {
				t.Errorf("ParseAlgorithm(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got.HashName() != tt.hash {
				t.Errorf("HashName() = %q, want %q", got.HashName(), tt.hash)
			}
		})
	}
}

func TestParsePrivateKeyPEM(t *testing.T) {
	rsaKey, ecKey := testRSASigner(t), testECDSASigner(t)
	tests := []struct {
		file    string
		want    crypto.PublicKey // nil: error expected
		wantErr string
	}{
		{file: "test-only-rsa2048.pkcs1.pem", want: &rsaKey.PublicKey},
		{file: "test-only-rsa2048.pkcs8.pem", want: &rsaKey.PublicKey},
		{file: "test-only-ecdsa-p256.sec1.pem", want: &ecKey.PublicKey},
		{file: "test-only-ecdsa-p256.pkcs8.pem", want: &ecKey.PublicKey},
		{file: "test-only-rsa1024.pkcs1.pem", want: "parses; NewKey rejects the size"},
		{file: "test-only-ecdsa-p384.sec1.pem", want: "parses; NewKey rejects the curve"},
		{file: "test-only-ed25519.pkcs8.pem", wantErr: "unsupported private key type"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := ParsePrivateKeyPEM(readTestdata(t, tt.file))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := tt.want.(interface{ Equal(crypto.PublicKey) bool }); ok && !want.Equal(s.Public()) {
				t.Errorf("public key differs from the PKCS#1/SEC1 parse")
			}
		})
	}

	pkcs1 := readTestdata(t, "test-only-rsa2048.pkcs1.pem")
	body := strings.Split(string(pkcs1), "\n")[1]
	bad := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "no PEM private key"},
		{"garbage", "hello", "no PEM private key"},
		{"certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", `"CERTIFICATE" is not a private key`},
		{"public key", string(mustPublicPEM(t, &rsaKey.PublicKey)), `"PUBLIC KEY" is not a private key`},
		{"truncated body", "-----BEGIN RSA PRIVATE KEY-----\n" + body + "\n-----END RSA PRIVATE KEY-----\n", "malformed RSA PRIVATE KEY"},
		{"pkcs1 label on pkcs8", strings.ReplaceAll(string(readTestdata(t, "test-only-rsa2048.pkcs8.pem")), "PRIVATE KEY", "RSA PRIVATE KEY"), "malformed RSA PRIVATE KEY"},
		{"encrypted pkcs8", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"},
		{"legacy encrypted", "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END RSA PRIVATE KEY-----\n", "encrypted"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParsePrivateKeyPEM([]byte(tt.in))
			if err == nil || s != nil {
				t.Fatalf("ParsePrivateKeyPEM = %v, %v; want error", s, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), body[:16]) {
				t.Errorf("error leaks key material: %q", err)
			}
		})
	}
}

func mustPublicPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	b, err := MarshalPublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, alg := range allAlgorithms {
		t.Run(string(alg), func(t *testing.T) {
			s, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewKey("KGEN", alg, s); err != nil {
				t.Fatalf("generated key rejected: %v", err)
			}
			priv, err := MarshalPrivateKeyPEM(s)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(priv, []byte("-----BEGIN PRIVATE KEY-----\n")) {
				t.Errorf("private PEM is not PKCS#8: %.30q", priv)
			}
			back, err := ParsePrivateKeyPEM(priv)
			if err != nil {
				t.Fatal(err)
			}
			if !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(s.Public()) {
				t.Error("private key round trip changed the key")
			}
			pubPEM, err := MarshalPublicKeyPEM(s.Public())
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(pubPEM)
			if block == nil || block.Type != "PUBLIC KEY" {
				t.Fatalf("public PEM block = %v", block)
			}
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(s.Public()) {
				t.Error("public key round trip changed the key")
			}
		})
	}
	if _, err := GenerateKey("DSA"); err == nil {
		t.Error("GenerateKey(DSA) succeeded")
	}
	if _, err := MarshalPrivateKeyPEM(&opaqueSigner{inner: testECDSASigner(t)}); err == nil {
		t.Error("MarshalPrivateKeyPEM of an opaque signer succeeded")
	}
}

func TestNewKey(t *testing.T) {
	rsaKey, ecKey := testRSASigner(t), testECDSASigner(t)
	parse := func(name string) crypto.Signer {
		s, err := ParsePrivateKeyPEM(readTestdata(t, name))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name    string
		id      string
		alg     Algorithm
		signer  crypto.Signer
		wantErr string // "" = ok
	}{
		{"rsa sha1", "K2JCJMDEHXQW5F", RSASHA1, rsaKey, ""},
		{"rsa sha256", "K2JCJMDEHXQW5F", RSASHA256, rsaKey, ""},
		{"ecdsa", "K2JCJMDEHXQW5F", ECDSASHA256, ecKey, ""},
		{"legacy key pair id", "APKAEIBAERJR2EXAMPLE", RSASHA1, rsaKey, ""},
		{"opaque rsa (KMS-like)", "KKMS", RSASHA256, &opaqueSigner{inner: rsaKey}, ""},
		{"opaque ecdsa (KMS-like)", "KKMS", ECDSASHA256, &opaqueSigner{inner: ecKey}, ""},
		{"empty id", "", RSASHA1, rsaKey, "empty key pair id"},
		{"id with slash", "K/../x", RSASHA1, rsaKey, "letters and digits"},
		{"id with space", "K1 ", RSASHA1, rsaKey, "letters and digits"},
		{"long id", strings.Repeat("K", 129), RSASHA1, rsaKey, "longer than"},
		{"unknown alg", "K1", "RSA-MD5", rsaKey, "unknown algorithm"},
		{"nil signer", "K1", RSASHA1, nil, "nil signer"},
		{"rsa key for ecdsa", "K1", ECDSASHA256, rsaKey, "needs an ECDSA P-256 key, got an RSA key"},
		{"ecdsa key for rsa sha1", "K1", RSASHA1, ecKey, "needs an RSA key, got an ECDSA key"},
		{"ecdsa key for rsa sha256", "K1", RSASHA256, ecKey, "needs an RSA key"},
		{"rsa 1024", "K1", RSASHA1, parse("test-only-rsa1024.pkcs1.pem"), "1024 bits"},
		{"p384", "K1", ECDSASHA256, parse("test-only-ecdsa-p384.sec1.pem"), "P-384, want P-256"},
		{"ed25519", "K1", ECDSASHA256, edKey, "unsupported public key type"},
		{"signer fails", "K1", RSASHA1, failingSigner{pub: &rsaKey.PublicKey}, "kms: unavailable"},
		{"signer of another key", "K1", RSASHA1, failingSigner{pub: &rsaKey.PublicKey, badSig: true}, "does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKey(tt.id, tt.alg, tt.signer)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewKey err = %v, want %q", err, tt.wantErr)
				}
				if k != nil {
					t.Error("NewKey returned a key with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.ID != tt.id || k.Algorithm != tt.alg || k.Signer != tt.signer {
				t.Errorf("NewKey fields = %q %q %T", k.ID, k.Algorithm, k.Signer)
			}
		})
	}
}

// TestSignPolicyRoundTrip signs with each algorithm, through an opaque
// crypto.Signer as well, and verifies with crypto/rsa and crypto/ecdsa.
func TestSignPolicyRoundTrip(t *testing.T) {
	policy := []byte(`{"Statement":[{"Resource":"https://d.example/courses/a/*","Condition":{"DateLessThan":{"AWS:EpochTime":1767323400}}}]}`)
	for _, alg := range allAlgorithms {
		for _, opaque := range []bool{false, true} {
			name := string(alg)
			if opaque {
				name += "/opaque"
			}
			t.Run(name, func(t *testing.T) {
				k := testKey(t, alg)
				if opaque {
					o := &opaqueSigner{inner: k.Signer}
					var err error
					if k, err = NewKey(k.ID, alg, o); err != nil {
						t.Fatal(err)
					}
					defer func() {
						if o.calls < 2 {
							t.Errorf("opaque signer used %d times, want the probe and the policy", o.calls)
						}
					}()
				}
				sig, err := k.SignPolicy(policy)
				if err != nil {
					t.Fatal(err)
				}
				verifyTest(t, k, policy, sig)
				tampered := bytes.Clone(policy)
				tampered[20] ^= 1
				if Verify(alg, k.Signer.Public(), tampered, sig) == nil {
					t.Error("signature verifies over a tampered policy")
				}
			})
		}
	}
}

// TestSHA1MatchesSDK checks that Key.SignPolicy for RSA-SHA1 computes what
// feature/cloudfront/sign's Policy.Sign computes (PKCS#1 v1.5 is deterministic),
// and that encodePolicy gives the bytes the SDK signs and puts in the cookie.
func TestSHA1MatchesSDK(t *testing.T) {
	k := testKey(t, RSASHA1)
	p := newPolicy("https://d.example/courses/a/*", fixedNow, Conditions{NotBefore: fixedNow.Add(-60e9), SourceIP: mustPrefix(t, "192.0.2.0/24")})
	sdkSig, sdkPol, err := p.Sign(k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	js, err := encodePolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Encode(js), string(sdkPol); got != want {
		t.Fatalf("encodePolicy differs from the SDK:\n got %s\nwant %s", got, want)
	}
	sig, err := k.SignPolicy(js)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Encode(sig), string(sdkSig); got != want {
		t.Errorf("SignPolicy differs from the SDK's Policy.Sign")
	}
	if err := rsa.VerifyPKCS1v15(&testRSASigner(t).PublicKey, crypto.SHA1, digest(RSASHA1, js), sig); err != nil {
		t.Error(err)
	}
}

func TestKeyNotFromNewKey(t *testing.T) {
	k := &Key{ID: "K1", Algorithm: RSASHA1, Signer: testRSASigner(t)}
	if _, err := k.SignPolicy([]byte("x")); err == nil {
		t.Error("SignPolicy on a literal Key succeeded")
	}
	iss, err := NewIssuer(IssuerConfig{Domain: "d.example"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Issue(k, "a", Conditions{}); err == nil {
		t.Error("Issue with a literal Key succeeded")
	}
	good := testKey(t, RSASHA1)
	good.ID = "KOTHER"
	if _, err := iss.Issue(good, "a", Conditions{}); err == nil || !strings.Contains(err.Error(), "modified") {
		t.Errorf("Issue with a modified Key: err = %v", err)
	}
	alg := testKey(t, RSASHA1)
	alg.Algorithm = RSASHA256
	if _, err := SignURL(alg, "https://d.example/a.pdf", fixedNow); err == nil || !strings.Contains(err.Error(), "modified") {
		t.Errorf("SignURL with a modified Algorithm: err = %v", err)
	}
	if _, err := SignURL(nil, "https://d.example/a.pdf", fixedNow); err == nil {
		t.Error("SignURL with nil key succeeded")
	}
}

// TestNewKeyRefusesMismatchedHalves: an in-memory key is not probed, so its
// halves are checked instead; a private key carrying another key's public
// half is refused, for RSA and ECDSA.
func TestNewKeyRefusesMismatchedHalves(t *testing.T) {
	for _, alg := range []Algorithm{RSASHA1, ECDSASHA256} {
		t.Run(string(alg), func(t *testing.T) {
			a, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			b, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewKey("K2JCJMDEHXQW5F", alg, a); err != nil {
				t.Fatalf("consistent key refused: %v", err)
			}
			switch a := a.(type) {
			case *rsa.PrivateKey:
				a.PublicKey = b.(*rsa.PrivateKey).PublicKey
			case *ecdsa.PrivateKey:
				a.PublicKey = b.(*ecdsa.PrivateKey).PublicKey
			default:
				t.Fatalf("GenerateKey gave %T", a)
			}
			if _, err := NewKey("K2JCJMDEHXQW5F", alg, a); err == nil {
				t.Fatal("a private key with another key's public half was accepted")
			}
		})
	}
}
