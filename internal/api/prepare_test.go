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
	store.Sent(ctx) // the read is under way (held here)
	iss := s.issuer()
	deadline := time.Now().Add(10 * time.Second)
	for iss.Signatures() <= s.base.Load() {
		if time.Now().After(deadline) {
			s.waited <- false
			return store.User{}, store.Grant{}, false, errors.New("no signature while the grant read was held")
		}
		time.Sleep(time.Millisecond) // polling a condition, not timing anything
	}
	s.waited <- true
	return s.Store.GetUserGrant(ctx, email, courseID)
}

// TestAccessSignsBesideGrantRead: with an in-memory key, the first /access
// of a course signs its cookies while the user and grant are being read
// (route.prepare), and the answer hands out that very signature: one
// signature in all.
func TestAccessSignsBesideGrantRead(t *testing.T) {
	var e *env
	ws := &signWaitingStore{issuer: func() *cfsign.Issuer { return e.issuer }, waited: make(chan bool, 4)}
	e = newEnv(t, withStore(func(s store.Store) store.Store { ws.Store = s; return ws }))
	token := e.login(t, alice, alicePW)
	before := e.issuer.Signatures()
	ws.base.Store(before)
	resp := e.do(withSession(req(http.MethodPost, "/api/courses/"+courseIntro+"/access", "", "Origin", ownOrigin), token))
	if !<-ws.waited {
		t.Fatal("no signature was made before the user and grant read returned")
	}
	if resp.StatusCode != http.StatusOK || len(cloudFrontCookies(resp)) == 0 {
		t.Fatalf("access: %d, cookies %v: %s", resp.StatusCode, cloudFrontCookies(resp), readBody(t, resp))
	}
	if n := e.issuer.Signatures() - before; n != 1 {
		t.Errorf("%d signatures for one /access, want 1 (the one made beside the read)", n)
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
