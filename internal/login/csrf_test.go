package login

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAFormTokenCountsOnlyWithAPreLoginCookieOfFullLength(t *testing.T) {
	k := newCSRFKey()
	for pre, want := range map[string]bool{
		strings.Repeat("p", 16): true,
		strings.Repeat("p", 15): false, // guessable, or planted short
		"a":                     false,
	} {
		r := httptest.NewRequest("POST", "http://wiki.example.org/.xmpp-auth/login", nil)
		r.AddCookie(&http.Cookie{Name: "xmpp_auth_pre", Value: pre})
		if got := k.valid(r, "xmpp_auth_pre", k.token(pre, "wiki.example.org")); got != want {
			t.Errorf("pre-login cookie of %d bytes with its own token: %v, want %v", len(pre), got, want)
		}
	}
	r := httptest.NewRequest("POST", "http://wiki.example.org/.xmpp-auth/login", nil)
	r.AddCookie(&http.Cookie{Name: "xmpp_auth_pre", Value: strings.Repeat("p", 16)})
	if k.valid(r, "xmpp_auth_pre", "") || k.valid(r, "xmpp_auth_pre", k.token(strings.Repeat("q", 16), "wiki.example.org")) ||
		k.valid(r, "xmpp_auth_pre", k.token(strings.Repeat("p", 16), "other.example.org")) {
		t.Error("an empty token, another cookie's or another site's is accepted")
	}
}
