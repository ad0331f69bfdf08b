package caddymodule_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

const otherSessionKey = "7RUrHRzFNnFysYW7Da4ju2GKlM4makQCwOkoEfaoWnU="

// cookieFor seals a session as the gate would, with the given keys.
func cookieFor(t *testing.T, s session.Session, site string, secrets ...string) string {
	t.Helper()
	var keys []session.Key
	for _, sec := range secrets {
		k, err := session.KeyFromSecret([]byte(sec))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	ring, err := session.NewRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ring.Seal(s, site)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// loadWith loads the site's config after edit has changed the handler's
// part of it.
func (s *site) loadWith(o options, edit func(gate map[string]any)) error {
	s.t.Helper()
	raw := s.config(o)
	var cfg map[string]any
	if err := jsonUnmarshal(raw, &cfg); err != nil {
		s.t.Fatal(err)
	}
	gate := cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)["gate"].(map[string]any)["routes"].([]any)[0].(map[string]any)["handle"].([]any)[0].(map[string]any)
	edit(gate)
	return caddy.Load(jsonMarshal(s.t, cfg), true)
}

// get asks for path as an API client with the session cookie value.
func getAs(b *browser, path, cookie string, hdr ...string) (*http.Response, string) {
	b.T.Helper()
	return b.Do("GET", path, nil, append([]string{"Accept", "application/json", "Cookie", "xmpp_auth=" + cookie}, hdr...)...)
}

func TestKeyRotationLogsNobodyOut(t *testing.T) {
	s := newSite(t)
	now := time.Now()
	alive := session.Session{JID: "alice@localhost", Issued: now, Expires: now.Add(time.Hour)}
	old := cookieFor(t, alive, "127.0.0.1", testSessionKey)
	fresh := cookieFor(t, alive, "127.0.0.1", otherSessionKey)
	b := s.browser()

	steps := []struct {
		keys           []string
		oldOK, freshOK bool
	}{
		{[]string{testSessionKey}, true, false},
		{[]string{otherSessionKey, testSessionKey}, true, true}, // the new key signs, both verify
		{[]string{otherSessionKey}, false, true},                // the old key is gone
	}
	for i, st := range steps {
		if err := s.loadWith(options{}, func(g map[string]any) { g["session_keys"] = st.keys }); err != nil {
			t.Fatal(err)
		}
		if resp, _ := getAs(b, "/", old); (resp.StatusCode == http.StatusOK) != st.oldOK {
			t.Errorf("step %d: cookie of the old key: %d", i, resp.StatusCode)
		}
		if resp, _ := getAs(b, "/", fresh); (resp.StatusCode == http.StatusOK) != st.freshOK {
			t.Errorf("step %d: cookie of the new key: %d", i, resp.StatusCode)
		}
	}
}

func TestIdleTimeoutRefreshesAtMostOnceAMinuteWithinTheLifetime(t *testing.T) {
	s := newSite(t)
	if err := s.loadWith(options{Lifetime: "1h"}, func(g map[string]any) { g["idle_timeout"] = "10m" }); err != nil {
		t.Fatal(err)
	}
	now := time.Now()

	recent := session.Session{JID: "alice@localhost", Authenticated: now.Add(-time.Minute), Issued: now.Add(-10 * time.Second), Expires: now.Add(10 * time.Minute)}
	resp, _ := getAs(s.browser(), "/", cookieFor(t, recent, "127.0.0.1", testSessionKey))
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 0 {
		t.Errorf("a cookie issued 10s ago: %d, cookies %v (want no refresh)", resp.StatusCode, resp.Cookies())
	}

	due := session.Session{JID: "alice@localhost", Authenticated: now.Add(-5 * time.Minute), Issued: now.Add(-2 * time.Minute), Expires: now.Add(8 * time.Minute)}
	resp, _ = getAs(s.browser(), "/", cookieFor(t, due, "127.0.0.1", testSessionKey))
	cs := resp.Cookies()
	if resp.StatusCode != http.StatusOK || len(cs) != 1 || cs[0].Name != "xmpp_auth" || cs[0].MaxAge < 590 || cs[0].MaxAge > 600 {
		t.Fatalf("a cookie issued 2 minutes ago: %d, cookies %+v (want a refresh for 10 more minutes)", resp.StatusCode, cs)
	}
	if resp, _ := getAs(s.browser(), "/", cs[0].Value); resp.StatusCode != http.StatusOK {
		t.Errorf("the refreshed cookie: %d", resp.StatusCode)
	}

	nearEnd := session.Session{JID: "alice@localhost", Authenticated: now.Add(-55 * time.Minute), Issued: now.Add(-2 * time.Minute), Expires: now.Add(5 * time.Minute)}
	resp, _ = getAs(s.browser(), "/", cookieFor(t, nearEnd, "127.0.0.1", testSessionKey))
	if cs := resp.Cookies(); len(cs) != 1 || cs[0].MaxAge > 5*60 {
		t.Errorf("refresh 5 minutes before the end of the lifetime: %+v (must not go past the lifetime)", cs)
	}

	past := session.Session{JID: "alice@localhost", Authenticated: now.Add(-2 * time.Hour), Issued: now.Add(-time.Minute), Expires: now.Add(9 * time.Minute)}
	if resp, _ := getAs(s.browser(), "/", cookieFor(t, past, "127.0.0.1", testSessionKey)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a cookie past the absolute lifetime: %d", resp.StatusCode)
	}
}

func TestCookieDomainSharesOneLoginAcrossItsHosts(t *testing.T) {
	s := newSite(t)
	if err := s.loadWith(options{}, func(g map[string]any) {
		g["cookie_domain"] = "example.test"
		g["cookie_path"] = "/"
		g["cookie_same_site"] = "strict"
		g["idle_timeout"] = "10m"
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	shared := session.Session{JID: "alice@localhost", Authenticated: now.Add(-5 * time.Minute), Issued: now.Add(-2 * time.Minute), Expires: now.Add(time.Hour)}
	domainCookie := cookieFor(t, shared, ".example.test", testSessionKey)
	hostCookie := cookieFor(t, shared, "wiki.example.test", testSessionKey)

	for _, host := range []string{"wiki.example.test", "git.example.test"} {
		resp, _ := doHost(s.browser(), host, domainCookie)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s with the domain's cookie: %d", host, resp.StatusCode)
		}
		cs := resp.Cookies()
		if len(cs) != 1 || cs[0].Domain != "example.test" || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Path != "/" {
			t.Errorf("%s refreshed the cookie as %+v", host, cs)
		}
	}
	if resp, _ := doHost(s.browser(), "git.example.test", hostCookie); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a host-only cookie accepted as the domain's: %d", resp.StatusCode)
	}

	for _, bad := range []string{"co.uk", "github.io", "localhost", "example.org/x"} {
		err := s.loadWith(options{}, func(g map[string]any) { g["cookie_domain"] = bad })
		if err == nil || !strings.Contains(err.Error(), "cookie_domain") {
			t.Errorf("cookie_domain %q: err = %v", bad, err)
		}
	}
}

// doHost sends an API request with another Host header.
func doHost(b *browser, host, cookie string) (*http.Response, string) {
	b.T.Helper()
	return b.Do("GET", "/", nil, "Host", host, "Accept", "application/json", "Cookie", "xmpp_auth="+cookie)
}

func TestLogoutRevokesTheSessionEverywhere(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	now := time.Now()
	live := session.Session{ID: [16]byte{1, 2, 3}, JID: "alice@localhost", Issued: now, Expires: now.Add(time.Hour)}
	cookie := cookieFor(t, live, "127.0.0.1", testSessionKey)
	b := s.browser()
	if resp, _ := getAs(b, "/", cookie); resp.StatusCode != http.StatusOK {
		t.Fatalf("before logout: %d", resp.StatusCode)
	}

	// The site's own logout link: the browser names the page it was on.
	resp, body := b.Do("GET", "/.xmpp-auth/logout", nil, "Cookie", "xmpp_auth="+cookie, "Referer", b.Base+"/page")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "You are logged out") {
		t.Fatalf("logout: %d\n%s", resp.StatusCode, body)
	}
	cleared := false
	for _, c := range resp.Cookies() {
		cleared = cleared || (c.Name == "xmpp_auth" && c.MaxAge < 0)
	}
	if !cleared {
		t.Errorf("logout did not clear the cookie: %v", resp.Cookies())
	}

	// A copy of the cookie, kept elsewhere, no longer works...
	if resp, _ := getAs(b, "/", cookie); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the copied cookie after logout: %d", resp.StatusCode)
	}
	if !revocationStored(t, s.storage, "01020300000000000000000000000000") {
		t.Errorf("the revocation of session 010203… is not in storage")
	}
	// ...not even after a restart, which reads the list from storage.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	s.load(options{})
	if resp, _ := getAs(b, "/", cookie); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the copied cookie after a restart: %d", resp.StatusCode)
	}
	// An API client logs out with 204.
	if resp, _ := getAs(b, "/.xmpp-auth/logout", cookie); resp.StatusCode != http.StatusNoContent {
		t.Errorf("API logout: %d", resp.StatusCode)
	}
}

func TestEveryCookieOfTheNameIsTried(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	now := time.Now()
	valid := cookieFor(t, session.Session{JID: "alice@localhost", Issued: now, Expires: now.Add(time.Hour)}, "127.0.0.1", testSessionKey)
	stale := cookieFor(t, session.Session{JID: "alice@localhost", Issued: now, Expires: now.Add(time.Hour)}, ".example.test", testSessionKey)
	resp, _ := s.browser().Do("GET", "/", nil, "Accept", "application/json", "Cookie", "xmpp_auth="+stale+"; xmpp_auth="+valid)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a valid cookie sent after another site's: %d", resp.StatusCode)
	}
}

func TestCookieAttributesThatWouldBreakTheGateAreConfigErrors(t *testing.T) {
	s := newSite(t)
	for name, edit := range map[string]func(map[string]any){
		"path_prefix outside cookie_path": func(g map[string]any) { g["cookie_path"] = "/app" },
		"a __Host- cookie name":           func(g map[string]any) { g["cookie_name"] = "__Host-gate" },
		"an unknown SameSite":             func(g map[string]any) { g["cookie_same_site"] = "sometimes" },
	} {
		if err := s.loadWith(options{}, edit); err == nil {
			t.Errorf("%s: the config loaded", name)
		}
	}
	if err := s.loadWith(options{}, func(g map[string]any) { g["cookie_path"] = "/app"; g["path_prefix"] = "/app/.login/" }); err != nil {
		t.Errorf("path_prefix under cookie_path: %v", err)
	}
}

// revocationStored reports whether an entry under the storage's revocation
// list names the session id (hex); entries have random names, so it reads
// them all.
func revocationStored(t *testing.T, storage, id string) bool {
	t.Helper()
	dir := filepath.Join(storage, "xmpp_auth", "revoked")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Logf("read %s: %v", dir, err)
		return false
	}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, id+" ") {
				return true
			}
		}
	}
	return false
}
