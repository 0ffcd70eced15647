package api

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"time"
)

// The user hint. /access needs the session, and then the user and the
// grant of the session's user: two DynamoDB round trips in a row, because
// the user is known only once the session has been read. The hint cookie
// (UserHintCookie) names the session's user, so that the session, the user
// and the grant are read together (store.GetSessionGrant): one round trip.
//
// The hint is not trusted. The user and grant read with it are used only
// when the session read in the same request belongs to that user
// (store.SessionGrant.Matched); otherwise the handler reads the session's own
// user and grant, as it does without a hint. A missing or stale hint costs
// the viewer one more round trip and nothing else; a forged one gains its
// maker nothing.
//
// The email is sealed (AES-256-GCM, random nonce) under a key derived with
// HKDF-SHA-256 from the session token, so the cookie tells whoever sees it
// without the session cookie nothing but the address's length, and a hint
// copied from another session does not open. Anyone holding the session
// cookie can already read the email (GET /api/session answers it); the hint
// discloses no more. The key is the token's alone, not a server secret: a
// client can seal a hint for a token of its own making, and such a request
// gets the session's one-round read (a 3-item BatchGetItem: 3 read units
// rather than the 1 of a session GetItem) and, on a course of the
// catalogue, the early signature (at most one per course and expiry bucket,
// kept in the signature cache) before it is refused with 401. The web ACL's
// per-address rate limits bound that, as they bound any unauthenticated call.

// UserHintCookie is the name of the user hint cookie. It has the session
// cookie's attributes and lifetime.
const UserHintCookie = "cfgate_user"

// hintInfo is HKDF's info for the hint key: it keeps that key apart from any
// other key one might derive from the token.
const hintInfo = "cfgate user hint v1"

// maxHintLen bounds a hint cookie's value: base64url of a 12-byte nonce, an
// address of at most maxEmailLen bytes and a 16-byte tag.
const maxHintLen = (12 + maxEmailLen + 16 + 2) / 3 * 4

// hintAEAD returns the hint cipher of a session token.
func hintAEAD(token string) cipher.AEAD {
	key, err := hkdf.Key(sha256.New, []byte(token), nil, hintInfo, 32)
	if err != nil {
		panic("cfgate: hint key: " + err.Error()) // only for a length HKDF cannot give
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("cfgate: hint cipher: " + err.Error()) // a 32-byte key always makes one
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		panic("cfgate: hint cipher: " + err.Error())
	}
	return aead
}

// sealHint returns the hint cookie value naming email for the session token.
func sealHint(token, email string) string {
	return base64.RawURLEncoding.EncodeToString(hintAEAD(token).Seal(nil, nil, []byte(email), nil))
}

// openHint returns the email that hint names for the session token, or ""
// when it does not open (absent, malformed, altered, or sealed for another
// token).
func openHint(token, hint string) string {
	if hint == "" || len(hint) > maxHintLen {
		return ""
	}
	sealed, err := base64.RawURLEncoding.Strict().DecodeString(hint)
	if err != nil {
		return ""
	}
	email, err := hintAEAD(token).Open(nil, nil, sealed, nil)
	if err != nil || len(email) > maxEmailLen {
		return ""
	}
	return string(email)
}

// userHint returns the email the request's hint cookie names for the
// session token ("" if none).
func userHint(r *http.Request, token string) string {
	c, err := r.Cookie(UserHintCookie)
	if err != nil {
		return ""
	}
	return openHint(token, c.Value)
}

// setUserHint sets the hint cookie naming email for the session token, to
// last as long as the session (until expires).
func (h *Handler) setUserHint(w http.ResponseWriter, token, email string, expires, now time.Time) {
	maxAge := int(expires.Sub(now) / time.Second)
	if maxAge <= 0 {
		return
	}
	http.SetCookie(w, h.apiCookie(UserHintCookie, sealHint(token, email), maxAge))
}
