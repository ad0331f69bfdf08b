package login

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

// A domain-wide session belongs to the hosts under the domain, not to
// another domain whose name merely ends the same way.
func TestADomainWideSessionOpensNothingOnADomainThatOnlyEndsLikeIt(t *testing.T) {
	g := testGate(t, testService(t, nil, nil), Config{CookieDomain: "example.org"}, Env{})
	now := time.Now()
	v, err := g.ring.Seal(session.Session{JID: "alice@example.org", Authenticated: now, Issued: now, Expires: now.Add(time.Hour)}, ".example.org")
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"example.org": true, "wiki.example.org": true, "a.b.example.org": true,
		"evilexample.org": false, "example.org.evil.net": false,
	} {
		r := httptest.NewRequest("GET", "http://"+host+"/page", nil)
		r.Header.Set("Accept", "application/json")
		r.AddCookie(&http.Cookie{Name: "xmpp_auth", Value: v})
		reached := false
		_ = g.ServeHTTP(httptest.NewRecorder(), r, HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			reached = true
			return nil
		}))
		if reached != want {
			t.Errorf("%s: reached the upstream %v, want %v", host, reached, want)
		}
	}
}
