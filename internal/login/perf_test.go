package login

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

// perfHandler is a gate as the server makes it, with what the session
// check reads: the key ring, the revocation list (holding a few other
// sessions) and the settings.
func perfHandler(tb testing.TB) *Gate {
	tb.Helper()
	g := testGate(tb, testService(tb, nil, nil), Config{}, Env{})
	var others []revocation
	for i := range 100 {
		others = append(others, revocation{id: [16]byte{byte(i), 1}, until: time.Now().Add(time.Hour)})
	}
	// No storage: the list holds them, and says it could not keep them.
	_ = g.svc.revoked.revoke(context.Background(), others...)
	return g
}

// perfRequest is an authenticated request as a browser sends it (a valid
// session cookie among three others of the site), with the context Caddy's
// server gives every request before the handlers see it.
func perfRequest(tb testing.TB, h *Gate) *http.Request {
	tb.Helper()
	now := time.Now()
	r := httptest.NewRequest("GET", "http://wiki.example.org/page?id=7", nil)
	r.Host = "wiki.example.org"
	v, err := h.ring.Seal(session.Session{JID: "alice@example.org", Authenticated: now, Issued: now, Expires: now.Add(time.Hour)}, h.cookieSite(r))
	if err != nil {
		tb.Fatal(err)
	}
	r.Header.Set("Cookie", "_ga=GA1.2.1234567890.1700000000; theme=dark; xmpp_auth="+v+"; lang=en-GB")
	r.Header.Set("Accept", "text/html,application/xhtml+xml")
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	return r
}

// BenchmarkSessionCheck is the per-request cost of the gate for a visitor
// who is logged in: the Cookie header scanned for the gate's cookie, the
// cookie opened (HMAC-SHA256 and expiry), the lifetime and the revocation
// list checked. Compare with BenchmarkHMACSHA256 of internal/session, its
// floor.
func BenchmarkSessionCheck(b *testing.B) {
	h := perfHandler(b)
	r := perfRequest(b, h)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := h.session(w, r); !ok {
			b.Fatal("no session")
		}
	}
}

// BenchmarkPass is what the gate does to an authenticated request before
// handing it on: the user header set, the gate's cookies taken out.
func BenchmarkPass(b *testing.B) {
	h := perfHandler(b)
	r := perfRequest(b, h)
	cookie := r.Header["Cookie"][0]
	cookies := make([]string, 1)
	b.ReportAllocs()
	for b.Loop() {
		cookies[0] = cookie
		r.Header["Cookie"] = cookies
		h.pass(r, "alice@example.org")
	}
	if got := r.Header.Get("Cookie"); got != "_ga=GA1.2.1234567890.1700000000; theme=dark; lang=en-GB" {
		b.Fatalf("cookies passed on: %q", got)
	}
}

// BenchmarkWaitPage is the page a login form is answered with: the
// heaviest part of a login on the gate's side.
func BenchmarkWaitPage(b *testing.B) {
	h := perfHandler(b)
	r := perfRequest(b, h)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		if err := h.renderPage(w, r, http.StatusOK, page{Kind: "wait", Return: "/page?id=7", JID: "alice@example.org", Code: "K7QF2M", Seconds: 120}); err != nil {
			b.Fatal(err)
		}
	}
}
