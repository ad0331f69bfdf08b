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

// Browsers drop a SameSite=None cookie without Secure, and a __Host-
// cookie whose path is not /: either would be a login that never sticks.
func TestTheSessionCookieHasTheAttributesBrowsersRequire(t *testing.T) {
	for _, tt := range []struct {
		name     string
		cfg      Config
		https    bool
		wantName string
		secure   bool
		path     string
	}{
		{"SameSite=None on plain HTTP", Config{CookieSameSite: "none"}, false, "xmpp_auth", true, "/"},
		{"a cookie path on HTTPS", Config{CookiePath: "/app", PathPrefix: "/app/.xmpp-auth/"}, true, "__Host-xmpp_auth", true, "/"},
		{"a cookie path on plain HTTP", Config{CookiePath: "/app", PathPrefix: "/app/.xmpp-auth/"}, false, "xmpp_auth", false, "/app"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := testGate(t, testService(t, nil, nil), tt.cfg, Env{})
			r := httptest.NewRequest("GET", "http://wiki.example.org/app/", nil)
			if tt.https {
				r = httptest.NewRequest("GET", "https://wiki.example.org/app/", nil)
			}
			w := httptest.NewRecorder()
			if err := g.issueSession(w, r, "alice@example.org"); err != nil {
				t.Fatal(err)
			}
			cookies := w.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("cookies %v", cookies)
			}
			c := cookies[0]
			if c.Name != tt.wantName || c.Secure != tt.secure || c.Path != tt.path || !c.HttpOnly {
				t.Errorf("got %s Secure=%v Path=%s HttpOnly=%v; want %s Secure=%v Path=%s HttpOnly", c.Name, c.Secure, c.Path, c.HttpOnly, tt.wantName, tt.secure, tt.path)
			}
		})
	}
}
