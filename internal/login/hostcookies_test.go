package login

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// On HTTPS the cookies that tie a login to a browser carry the __Host-
// prefix, which a sibling site cannot set; on plain HTTP they cannot.
func TestLoginCookiesAreHostOnlyOnHTTPS(t *testing.T) {
	h := testGate(t, testService(t, nil, nil), Config{}, Env{})
	for _, tt := range []struct {
		url, pre, login, loginPath string
		secure                     bool
	}{
		{"https://wiki.example.com/", "__Host-xmpp_auth_pre", "__Host-xmpp_auth_login", "/", true},
		{"http://wiki.example.com/", "xmpp_auth_pre", "xmpp_auth_login", "/.xmpp-auth/", false},
	} {
		r := httptest.NewRequest("GET", tt.url, nil)
		w := httptest.NewRecorder()
		token := h.formToken(w, r)
		cookies := w.Result().Cookies()
		if len(cookies) != 1 || cookies[0].Name != tt.pre || cookies[0].Path != "/" || cookies[0].Secure != tt.secure || cookies[0].Domain != "" {
			t.Fatalf("%s: pre-login cookie %+v", tt.url, cookies)
		}
		if h.loginCookieName(r) != tt.login || h.loginCookiePath(r) != tt.loginPath {
			t.Errorf("%s: login cookie %s at %s", tt.url, h.loginCookieName(r), h.loginCookiePath(r))
		}

		// The form posted back with that cookie is accepted; with the
		// same value planted under the plain name, it is not on HTTPS.
		post := func(cookieName string) bool {
			r := httptest.NewRequest("POST", tt.url, strings.NewReader("csrf="+token))
			r.AddCookie(&http.Cookie{Name: cookieName, Value: cookies[0].Value})
			return h.svc.csrf.valid(r, h.preCookieName(r), token)
		}
		if !post(tt.pre) {
			t.Errorf("%s: the form with its own cookie is refused", tt.url)
		}
		if tt.secure && post("xmpp_auth_pre") {
			t.Errorf("%s: a pre-login cookie without the prefix (plantable from a sibling) is accepted", tt.url)
		}

		// Neither reaches the upstream.
		hdr := http.Header{"Cookie": {"a=1; __Host-xmpp_auth_pre=x; __Host-xmpp_auth_login=y; xmpp_auth_pre=z; b=2"}}
		h.stripGateCookies(hdr)
		if got := hdr.Get("Cookie"); got != "a=1; b=2" {
			t.Errorf("the upstream gets %q", got)
		}
	}
}
