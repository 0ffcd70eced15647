package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/store"
)

// TestAccessExpiryCappedByGrantAndSession: cookies never outlive the grant
// or the session they were issued under. The bucketed expiry (now + 10m
// rounded up to 5m) applies only when both end later. So too with the user
// hint, where the session is read in the same round as the grant.
func TestAccessExpiryCappedByGrantAndSession(t *testing.T) {
	bucketed := time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC) // t0 + 10m, rounded up
	tests := []expiryCapCase{
		{"both later: bucketed", 0, time.Hour, http.StatusOK, bucketed, "granted"},
		{"grant ends first", 3*time.Minute + 500*time.Millisecond, time.Hour, http.StatusOK, t0.Add(3 * time.Minute), "granted"},
		{"session ends first", time.Hour, 2 * time.Minute, http.StatusOK, t0.Add(2 * time.Minute), "granted"},
		{"grant ends within the second", 400 * time.Millisecond, time.Hour, http.StatusForbidden, time.Time{}, "grant_expired"},
		{"session ends within the second", 0, 400 * time.Millisecond, http.StatusUnauthorized, time.Time{}, "session_expired"},
	}
	for _, hinted := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s, hint %v", tt.name, hinted), func(t *testing.T) { tt.run(t, hinted) })
		}
	}
}

type expiryCapCase struct {
	name        string
	grantEnds   time.Duration // from now; 0: no expiry
	sessionEnds time.Duration
	wantStatus  int
	wantExpires time.Time
	wantReason  string
}

func (tt expiryCapCase) run(t *testing.T, hinted bool) {
	e := newEnv(t)
	ctx := context.Background()
	now := e.clock.Now()
	g := store.Grant{Email: alice, CourseID: courseIntro}
	if tt.grantEnds != 0 {
		g.Expires = now.Add(tt.grantEnds)
	}
	if err := e.st.PutGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	token, idHash := newSessionToken()
	if err := e.st.CreateSession(ctx, store.Session{IDHash: idHash, Email: alice, CreatedAt: now, Expires: now.Add(tt.sessionEnds)}); err != nil {
		t.Fatal(err)
	}
	r := req("POST", "/api/courses/"+courseIntro+"/access", "")
	if hinted {
		r = withHint(r, token, sealHint(token, alice))
	} else {
		r = withSession(r, token)
	}
	resp := e.do(r)
	if resp.StatusCode != tt.wantStatus {
		t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.wantStatus, readBody(t, resp))
	}
	if got := e.lastEMF(t)["Reason"]; got != tt.wantReason {
		t.Errorf("metric reason = %v, want %s", got, tt.wantReason)
	}
	if tt.wantStatus != http.StatusOK {
		if n := len(cloudFrontCookies(resp)); n != 0 {
			t.Errorf("%d CloudFront cookies on a denial", n)
		}
		return
	}
	var body accessBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if got, want := body.Expires, tt.wantExpires.Format(time.RFC3339); got != want {
		t.Errorf("expires = %s, want %s", got, want)
	}
	policy, err := cfsign.Decode(findCookie(resp, "CloudFront-Policy").Value)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Condition struct {
				DateLessThan struct {
					Epoch int64 `json:"AWS:EpochTime"`
				}
			}
		}
	}
	if err := json.Unmarshal(policy, &p); err != nil || len(p.Statement) != 1 {
		t.Fatalf("policy %s: %v", policy, err)
	}
	if got, want := p.Statement[0].Condition.DateLessThan.Epoch, tt.wantExpires.Unix(); got != want {
		t.Errorf("DateLessThan = %d, want %d", got, want)
	}
}
