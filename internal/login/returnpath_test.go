package login

import (
	"strings"
	"testing"
)

func TestSafeReturnKeepsOnlyLocalPaths(t *testing.T) {
	tests := map[string]string{
		// Kept: paths on this site, rebuilt and escaped.
		"/":                   "/",
		"/wiki/Page?x=1":      "/wiki/Page?x=1",
		"/wiki/Page?x=1#frag": "/wiki/Page?x=1", // a fragment never comes from a request
		"/a b":                "/a%20b",
		"/@evil.example":      "/@evil.example",
		"/%2F%2Fevil.example": "/%2F%2Fevil.example",
		"/a//b":               "/a//b",
		"/caf%C3%A9?q=%26":    "/caf%C3%A9?q=%26",
		// Refused: anything that names another host or is not a plain path.
		"":                              "/",
		"//evil.example":                "/",
		"///evil.example":               "/",
		"/\\evil.example":               "/",
		"/\\/evil.example":              "/",
		"\\\\evil.example":              "/",
		"https://evil.example/":         "/",
		"http:/evil.example":            "/",
		"evil.example":                  "/",
		"javascript:alert(1)":           "/",
		"data:text/html,x":              "/",
		" /leading-space":               "/",
		"/ok\r\nSet-Cookie: a=b":        "/",
		"/tab\t/x":                      "/",
		"/nul\x00":                      "/",
		"/del\x7f":                      "/",
		"/a\\b":                         "/",
		"/" + strings.Repeat("a", 2000): "/",
		// Dot segments: a browser resolves them, and "/.//x" becomes "//x".
		"/..//evil.example":  "/",
		"/.//evil.example":   "/",
		"/%2e//evil.example": "/",
		"/a/%2E%2E//evil.ex": "/",
		"/a/../b":            "/",
		// An encoded slash the URL cannot keep as written ("<" must be
		// escaped) is decoded when the path is rebuilt, into "//".
		"/%2F/evil.example<": "/",
	}
	for in, want := range tests {
		if got := safeReturn(in); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAccessRules(t *testing.T) {
	l, err := parseAccess([]string{"Alice@Example.org", "example.net", "@example.com"}, []string{"intern@example.net", "bad.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for jid, want := range map[string]bool{
		"alice@example.org": true, "bob@example.org": false,
		"anyone@example.net": true, "x@example.com": true, "x@sub.example.net": false,
		"intern@example.net": false,
	} {
		if got := l.admits(jid); got != want {
			t.Errorf("admits(%q) = %v, want %v", jid, got, want)
		}
	}
	if empty, _ := parseAccess(nil, nil); !empty.admits("anyone@anywhere") {
		t.Error("no rules must admit everyone")
	}
	if denyOnly, _ := parseAccess(nil, []string{"spam.example"}); denyOnly.admits("x@spam.example") || !denyOnly.admits("x@ok.example") {
		t.Error("a deny list alone must deny its entries and admit the rest")
	}
	for _, bad := range []string{"alice@example.org/phone", "a b@example.org", ""} {
		if _, err := parseAccess([]string{bad}, nil); err == nil {
			t.Errorf("allow %q accepted", bad)
		}
		if _, err := parseAccess(nil, []string{bad}); err == nil {
			t.Errorf("deny %q accepted", bad)
		}
	}
}

func TestStripCookiesKeepsTheOthers(t *testing.T) {
	h := map[string][]string{"Cookie": {"a=1; xmpp_auth=SECRET; b=2", "xmpp_auth_login=L", "c=3"}}
	stripCookies(h, "xmpp_auth", "xmpp_auth_login")
	got := strings.Join(h["Cookie"], " | ")
	if got != "a=1; b=2 | c=3" {
		t.Errorf("cookies left: %q", got)
	}
}
