package cfsign

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIssueNotAfter: a grant or session that ends before the bucketed
// expiry caps the policy's DateLessThan, so cookies never outlive it.
func TestIssueNotAfter(t *testing.T) {
	k := testKey(t, RSASHA1)
	iss := newTestIssuer(t, IssuerConfig{}) // now 03:04:05, expiry 03:15:00
	bucketed := time.Date(2026, 1, 2, 3, 15, 0, 0, time.UTC)
	tests := []struct {
		name     string
		notAfter time.Time
		want     time.Time
		wantErr  error
	}{
		{"none", time.Time{}, bucketed, nil},
		{"later than the bucket", bucketed.Add(time.Hour), bucketed, nil},
		{"exactly the bucket", bucketed, bucketed, nil},
		{"earlier, rounded down to the second", fixedNow.Add(3*time.Minute + 700*time.Millisecond), fixedNow.Add(3 * time.Minute), nil},
		{"less than a second ahead", fixedNow.Add(500 * time.Millisecond), time.Time{}, ErrNotAfterPassed},
		{"passed", fixedNow.Add(-time.Minute), time.Time{}, ErrNotAfterPassed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, err := iss.Issue(k, "intro-to-hls", Conditions{NotAfter: tt.notAfter})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || len(cc.Cookies) != 0 {
					t.Fatalf("Issue = %d cookies, %v; want %v", len(cc.Cookies), err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !cc.Expires.Equal(tt.want) {
				t.Errorf("Expires = %v, want %v", cc.Expires, tt.want)
			}
			policy, err := Decode(cookieMap(cc.Cookies)[CookiePolicy].Value)
			if err != nil {
				t.Fatal(err)
			}
			if want := `"AWS:EpochTime":` + itoa(tt.want.Unix()); !strings.Contains(string(policy), want) {
				t.Errorf("policy %s lacks %s", policy, want)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
