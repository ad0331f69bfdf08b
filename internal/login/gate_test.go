package login

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

// The allow and deny lists are read on every request, so a person denied
// after logging in is shut out at once, session or not.
func TestASessionOfAnAddressDeniedSinceOpensNothing(t *testing.T) {
	g := testGate(t, testService(t, nil, nil), Config{Deny: []string{"mallory@example.org"}}, Env{})
	now := time.Now()
	v, err := g.ring.Seal(session.Session{JID: "mallory@example.org", Authenticated: now, Issued: now, Expires: now.Add(time.Hour)}, "wiki.example.org")
	if err != nil {
		t.Fatal(err)
	}
	for _, accept := range []string{"text/html", "application/json"} {
		r := httptest.NewRequest("GET", "http://wiki.example.org/page", nil)
		r.Header.Set("Accept", accept)
		r.AddCookie(&http.Cookie{Name: "xmpp_auth", Value: v})
		w := httptest.NewRecorder()
		err := g.ServeHTTP(w, r, HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			t.Errorf("%s: a denied address reached the upstream", accept)
			return nil
		}))
		var se *StatusError
		if w.Code != http.StatusForbidden && (!errors.As(err, &se) || se.Status != http.StatusForbidden) {
			t.Errorf("%s: answer %d, err %v, want 403", accept, w.Code, err)
		}
	}
}
