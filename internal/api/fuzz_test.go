package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cfgate/cfgate/internal/password"
)

// cheapPasswords verifies with the real internal/password.Verify, and makes
// DummyVerify a real Verify against a cheap (m=64 KiB, t=1) hash instead of
// the production-cost one, so the fuzzer spends its time on the handler.
type cheapPasswords struct{ dummyHash string }

func (c cheapPasswords) Verify(hash, pw string) (bool, error) { return password.Verify(hash, pw) }
func (c cheapPasswords) DummyVerify(pw string) bool {
	ok, _ := password.Verify(c.dummyHash, pw)
	return ok && false
}

// FuzzLoginBody: no request body makes the login handler panic, answer
// anything but a JSON error or a login, or answer 200 unless the body is
// exactly one JSON object carrying a seeded user's email and password.
func FuzzLoginBody(f *testing.F) {
	for _, s := range []string{
		loginBodyJSON(alice, alicePW),
		loginBodyJSON(alice, "wrong"),
		loginBodyJSON("  ALICE@example.test", alicePW),
		loginBodyJSON(carol, carolPW),
		`{"email":"bob@example.test","password":"hunter2 but longer"}`,
		`{"email":"alice@example.test","password":"correct horse battery staple","x":1}`,
		`{"email":"alice@example.test","password":"correct horse battery staple"}{}`,
		`{"email":"alice@example.test","email":"bob@example.test","password":"hunter2 but longer"}`,
		`{"Email":"alice@example.test","PASSWORD":"correct horse battery staple"}`,
		`{"email":"alice@example.test\u0000","password":"correct horse battery staple"}`,
		`{"email":null,"password":null}`,
		`[]`, `{`, `null`, ``, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, withConfig(func(c *Config) {
		c.LockoutThreshold = 1 << 30
		c.Metrics = io.Discard
		c.Passwords = cheapPasswords{dummyHash: cheapHash("dummy")}
	}))
	e.h.log = slog.New(slog.DiscardHandler)
	valid := map[string]string{alice: alicePW, bob: bobPW}

	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/api/login", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		resp := w.Result()
		switch resp.StatusCode {
		case http.StatusOK:
			var lb loginBody
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&lb); err != nil || lb.Email == nil || lb.Password == nil {
				t.Fatalf("200 for a body that does not decode strictly: %q", body)
			}
			email := strings.ToLower(strings.TrimSpace(*lb.Email))
			if pw, ok := valid[email]; !ok || pw != *lb.Password {
				t.Fatalf("200 without valid credentials: %q", body)
			}
			if findCookie(resp, SessionCookie) == nil {
				t.Fatalf("200 without a session cookie")
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
			if n := len(resp.Header.Values("Set-Cookie")); n != 0 {
				t.Fatalf("status %d sets %d cookies", resp.StatusCode, n)
			}
			var eb map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || eb["error"] == "" || len(eb) != 1 {
				t.Fatalf("status %d body is not {\"error\":…}: %v", resp.StatusCode, err)
			}
		default:
			t.Fatalf("unexpected status %d for %q", resp.StatusCode, body)
		}
	})
}
