package cfsign

import (
	"encoding/json"
	"strings"
	"testing"
)

func secretJSON(t testing.TB, id, pemFile, alg string) []byte {
	t.Helper()
	b, err := json.Marshal(Secret{KeyPairID: id, PrivateKey: string(readTestdata(t, pemFile)), Algorithm: Algorithm(alg)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSecret(t *testing.T) {
	ok := []struct {
		name, file, alg string
		want            Algorithm
	}{
		{"rsa pkcs1 sha1", "test-only-rsa2048.pkcs1.pem", "RSA-SHA1", RSASHA1},
		{"rsa pkcs8 sha256", "test-only-rsa2048.pkcs8.pem", "RSA-SHA256", RSASHA256},
		{"ecdsa sec1", "test-only-ecdsa-p256.sec1.pem", "ECDSA-SHA256", ECDSASHA256},
		{"ecdsa pkcs8 lower case alg", "test-only-ecdsa-p256.pkcs8.pem", "ecdsa-sha256", ECDSASHA256},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseSecret(secretJSON(t, "K2JCJMDEHXQW5F", tt.file, tt.alg))
			if err != nil {
				t.Fatal(err)
			}
			if k.ID != "K2JCJMDEHXQW5F" || k.Algorithm != tt.want {
				t.Errorf("key = %s %s, want K2JCJMDEHXQW5F %s", k.ID, k.Algorithm, tt.want)
			}
			sig, err := k.SignPolicy([]byte("policy"))
			if err != nil {
				t.Fatal(err)
			}
			verifyTest(t, k, []byte("policy"), sig)
		})
	}

	t.Run("unknown fields ignored", func(t *testing.T) {
		var m map[string]any
		if err := json.Unmarshal(secretJSON(t, "K1", "test-only-rsa2048.pkcs1.pem", "RSA-SHA1"), &m); err != nil {
			t.Fatal(err)
		}
		m["createdAt"] = "2026-01-01T00:00:00Z"
		m["previous"] = map[string]any{"keyPairId": "K0"}
		b, _ := json.Marshal(m)
		if _, err := ParseSecret(b); err != nil {
			t.Fatal(err)
		}
	})

	rsaPEM := string(readTestdata(t, "test-only-rsa2048.pkcs1.pem"))
	ecPEM := string(readTestdata(t, "test-only-ecdsa-p256.sec1.pem"))
	// Any of these substrings in an error would be key material.
	secrets := []string{
		strings.Split(rsaPEM, "\n")[5][:24],
		strings.Split(ecPEM, "\n")[5][:24],
		strings.Split(rsaPEM, "\n")[1][:24],
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	bad := []struct {
		name, in, wantErr string
	}{
		{"empty", ``, "not valid JSON"},
		{"not json", `-----BEGIN RSA PRIVATE KEY-----`, "not valid JSON"},
		{"pem with bad json", `{"privateKey":"` + strings.Split(rsaPEM, "\n")[5] + `,}`, "not valid JSON"},
		{"array", `[]`, "not a JSON object"},
		{"null", `null`, "keyPairId is missing"},
		{"missing id", `{"privateKey":` + q(rsaPEM) + `,"algorithm":"RSA-SHA1"}`, "keyPairId is missing"},
		{"missing key", `{"keyPairId":"K1","algorithm":"RSA-SHA1"}`, "privateKey is missing"},
		{"missing algorithm", `{"keyPairId":"K1","privateKey":` + q(rsaPEM) + `}`, "algorithm is missing"},
		{"unknown algorithm", `{"keyPairId":"K1","privateKey":` + q(rsaPEM) + `,"algorithm":"RSA-MD5"}`, "unknown algorithm"},
		{"rsa key, ecdsa algorithm", `{"keyPairId":"K1","privateKey":` + q(rsaPEM) + `,"algorithm":"ECDSA-SHA256"}`, "needs an ECDSA P-256 key, got an RSA key"},
		{"ecdsa key, rsa algorithm", `{"keyPairId":"K1","privateKey":` + q(ecPEM) + `,"algorithm":"RSA-SHA1"}`, "needs an RSA key, got an ECDSA key"},
		{"id wrong type", `{"keyPairId":12,"privateKey":` + q(rsaPEM) + `,"algorithm":"RSA-SHA1"}`, `"keyPairId" has the wrong JSON type`},
		{"key wrong type", `{"keyPairId":"K1","privateKey":["` + strings.Split(rsaPEM, "\n")[5] + `"],"algorithm":"RSA-SHA1"}`, `"privateKey" has the wrong JSON type`},
		{"bad id", `{"keyPairId":"K1/../../etc","privateKey":` + q(rsaPEM) + `,"algorithm":"RSA-SHA1"}`, "letters and digits"},
		{"key is base64 without PEM", `{"keyPairId":"K1","privateKey":` + q(strings.Join(strings.Split(rsaPEM, "\n")[1:10], "")) + `,"algorithm":"RSA-SHA1"}`, "no PEM private key"},
		{"corrupted PEM body", `{"keyPairId":"K1","privateKey":` + q(strings.Replace(rsaPEM, "\n", "\nAAAA", 3)) + `,"algorithm":"RSA-SHA1"}`, "malformed RSA PRIVATE KEY"},
		{"rsa 1024", `{"keyPairId":"K1","privateKey":` + q(string(readTestdata(t, "test-only-rsa1024.pkcs1.pem"))) + `,"algorithm":"RSA-SHA1"}`, "1024 bits"},
		{"double-escaped newlines", `{"keyPairId":"K1","privateKey":` + q(strings.ReplaceAll(rsaPEM, "\n", `\n`)) + `,"algorithm":"RSA-SHA1"}`, `literal \n sequences`},
		{"too large", `{"keyPairId":"K1","pad":"` + strings.Repeat("x", 70000) + `"}`, "larger than"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseSecret([]byte(tt.in))
			if err == nil || k != nil {
				t.Fatalf("ParseSecret = %v, %v; want an error", k, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantErr)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error contains key material: %q", err)
				}
			}
		})
	}
}
