package api

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/store"
)

// signWaitingStore holds GetUserGrant until the issuer has made more
// signatures than base (set before the request), or gives up after a while
// with an error. Without a signature made beside the read, none can come
// before the read returns: access signs only after it.
type signWaitingStore struct {
	store.Store
	issuer func() *cfsign.Issuer
	base   atomic.Uint64
	waited chan bool // whether the signature came before the read returned
}

func (s *signWaitingStore) GetUserGrant(ctx context.Context, email, courseID string) (store.User, store.Grant, bool, error) {
	if err := s.hold(ctx); err != nil {
		return store.User{}, store.Grant{}, false, err
	}
	return s.Store.GetUserGrant(ctx, email, courseID)
}

// GetSessionGrant is held as GetUserGrant (the read with a user hint).
func (s *signWaitingStore) GetSessionGrant(ctx context.Context, idHash, email, courseID string) (store.SessionGrant, error) {
	if err := s.hold(ctx); err != nil {
		return store.SessionGrant{}, err
	}
	return s.Store.GetSessionGrant(ctx, idHash, email, courseID)
}

// hold signals that the read is under way, then waits for the signature.
func (s *signWaitingStore) hold(ctx context.Context) error {
	store.Sent(ctx) // the read is under way (held here)
	iss := s.issuer()
	deadline := time.Now().Add(10 * time.Second)
	for iss.Signatures() <= s.base.Load() {
		if time.Now().After(deadline) {
			s.waited <- false
			return errors.New("no signature while the read was held")
		}
		time.Sleep(time.Millisecond) // polling a condition, not timing anything
	}
	s.waited <- true
	return nil
}

// TestAccessSignsBesideGrantRead: with an in-memory key, the first /access
// of a course signs its cookies while the user and grant are being read
// (route.prepare), and the answer hands out that very signature: one
// signature in all. So too with a user hint, where that read is the
// request's only one.
func TestAccessSignsBesideGrantRead(t *testing.T) {
	for _, hinted := range []bool{false, true} {
		var e *env
		ws := &signWaitingStore{issuer: func() *cfsign.Issuer { return e.issuer }, waited: make(chan bool, 4)}
		e = newEnv(t, withStore(func(s store.Store) store.Store { ws.Store = s; return ws }))
		token, hint := e.loginHinted(t, alice, alicePW)
		r := req(http.MethodPost, "/api/courses/"+courseIntro+"/access", "", "Origin", ownOrigin)
		if hinted {
			r = withHint(r, token, hint)
		} else {
			r = withSession(r, token)
		}
		before := e.issuer.Signatures()
		ws.base.Store(before)
		resp := e.do(r)
		if !<-ws.waited {
			t.Fatalf("hint %v: no signature was made before the read returned", hinted)
		}
		if resp.StatusCode != http.StatusOK || len(cloudFrontCookies(resp)) == 0 {
			t.Fatalf("hint %v: access: %d, cookies %v: %s", hinted, resp.StatusCode, cloudFrontCookies(resp), readBody(t, resp))
		}
		if n := e.issuer.Signatures() - before; n != 1 {
			t.Errorf("hint %v: %d signatures for one /access, want 1 (the one made beside the read)", hinted, n)
		}
	}
}

// unsentStore reads users and grants without ever signalling that the read
// is under way (store.OnSent), as a read whose request was never written.
type unsentStore struct{ store.Store }

func (s unsentStore) GetUserGrant(_ context.Context, email, courseID string) (store.User, store.Grant, bool, error) {
	return s.Store.GetUserGrant(context.Background(), email, courseID) // not the caller's context: no OnSent function
}

// TestAccessPreparesOnlyOnceSent: the early signature waits for the read's
// request to be on its way; a read that ends without one (here, a viewer
// refused for want of a grant) leaves nothing signed. Started at once, as
// it was, it would sign for this viewer (checkCourse waits for it).
func TestAccessPreparesOnlyOnceSent(t *testing.T) {
	e := newEnv(t, withStore(func(s store.Store) store.Store { return unsentStore{s} }))
	token := e.login(t, alice, alicePW)
	before := e.issuer.Signatures()
	resp := e.do(withSession(req(http.MethodPost, "/api/courses/advanced-streaming/access", "", "Origin", ownOrigin), token))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("access without a grant: %d", resp.StatusCode)
	}
	if n := e.issuer.Signatures() - before; n != 0 {
		t.Errorf("%d signatures for a viewer without a grant whose read sent nothing, want 0", n)
	}
	resp = e.do(withSession(req(http.MethodPost, "/api/courses/"+courseIntro+"/access", "", "Origin", ownOrigin), token))
	if resp.StatusCode != http.StatusOK || len(cloudFrontCookies(resp)) == 0 {
		t.Fatalf("access with a grant: %d, cookies %v", resp.StatusCode, cloudFrontCookies(resp))
	}
	if n := e.issuer.Signatures() - before; n != 1 {
		t.Errorf("%d signatures after one granted /access, want 1 (the route's own)", n)
	}
}

// TestAccessNeverSignsEarlyWithKMS: a key that does not sign in memory (a
// KMS key: each signature a charged call) is used only after every check:
// a viewer without a grant causes no signature at all.
func TestAccessNeverSignsEarlyWithKMS(t *testing.T) {
	signer, err := cfsign.ParsePrivateKeyPEM(testSigningKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingSigner{Signer: signer} // opaque to cfsign, as kmssign is
	key, err := cfsign.NewKey(testKeyID, cfsign.RSASHA1, cs)
	if err != nil {
		t.Fatal(err)
	}
	if key.InMemory() {
		t.Fatal("a wrapped signer counts as in memory")
	}
	e := newEnv(t, withKeys(keysource.Static{K: key}))
	token := e.login(t, alice, alicePW)
	probes := cs.n.Load() // NewKey's probe
	resp := e.do(withSession(req(http.MethodPost, "/api/courses/advanced-streaming/access", "", "Origin", ownOrigin), token))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("access without a grant: %d", resp.StatusCode)
	}
	if n := cs.n.Load() - probes; n != 0 {
		t.Errorf("%d signatures for a viewer without a grant, want 0", n)
	}
	resp = e.do(withSession(req(http.MethodPost, "/api/courses/"+courseIntro+"/access", "", "Origin", ownOrigin), token))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("access with a grant: %d", resp.StatusCode)
	}
	if n := cs.n.Load() - probes; n != 1 {
		t.Errorf("%d signatures for one granted /access, want 1", n)
	}
}
