package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/xepauth/caddy-xepauth/caddymodule"
	"github.com/xepauth/caddy-xepauth/internal/session"
	"github.com/xepauth/caddy-xepauth/internal/webtest"
	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// testSessionKey is 32 random bytes in base64, as a session key must be.
const testSessionKey = "+xE4tok5l2S0IejtCbxLUW2VMLXnnKOQ9XmMilx8BWQ="

// site is a real Prosody, an upstream that records what reaches it, and an
// in-process Caddy with the gate in front of that upstream.
type site struct {
	t        *testing.T
	p        *xmpptest.Server
	addr     string // Caddy's listener, 127.0.0.1:port
	storage  string
	upstream *recorder
	log      string // Caddy's log file, for tests that set one
}

// recorder is the upstream: it remembers the last request it got.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	last *http.Request
	hits int
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.last, r.hits = req.Clone(context.Background()), r.hits+1
	r.mu.Unlock()
	fmt.Fprintf(w, "hello %s", req.Header.Get("X-Forwarded-User"))
}

func (r *recorder) lastRequest() (*http.Request, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.hits
}

// options vary the handler's config between tests.
type options struct {
	Allow        []string
	LoginTimeout string
	Lifetime     string
	Deny         []string
	StoredKey    bool           // no session_key: the gate makes one and keeps it in storage
	Limits       map[string]any // the app's limits, when set
}

// xmppServer is the XMPP server that the end-to-end tests of this package
// take turns on (they never run in parallel: Caddy's config is global).
var xmppServer xmpptest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	xmppServer.Close()
	os.Exit(code)
}

// newSite is a site on the XMPP server the tests share.
func newSite(t *testing.T) *site {
	t.Helper()
	return siteOn(t, xmppServer.Server(t))
}

// newSiteWithOwnServer is a site on an XMPP server of its own, for a test
// that stops, kills or pauses it.
func newSiteWithOwnServer(t *testing.T) *site {
	t.Helper()
	return siteOn(t, xmpptest.NewServer(t, xmpptest.Config{}))
}

func siteOn(t *testing.T, p *xmpptest.Server) *site {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(rec)
	t.Cleanup(rec.Close)
	s := &site{t: t, p: p, addr: freeAddr(t), storage: t.TempDir(), upstream: rec}
	t.Cleanup(func() { _ = caddy.Stop() })
	return s
}

// freeAddr is a loopback address nobody listens on.
func freeAddr(t *testing.T) string { return webtest.FreeAddr(t) }

func (s *site) config(o options) []byte {
	if o.LoginTimeout == "" {
		o.LoginTimeout = "10s"
	}
	if o.Lifetime == "" {
		o.Lifetime = "1h"
	}
	gate := map[string]any{"handler": "xmpp_auth", "login_timeout": o.LoginTimeout, "session_lifetime": o.Lifetime, "session_keys": []string{testSessionKey}}
	if o.StoredKey {
		delete(gate, "session_keys")
	}
	if o.Allow != nil {
		gate["allow"] = o.Allow
	}
	if o.Deny != nil {
		gate["deny"] = o.Deny
	}
	app := map[string]any{"server": s.p.ComponentAddr, "domain": s.p.ComponentDomain, "secret": s.p.ComponentSecret}
	if o.Limits != nil {
		app["limits"] = o.Limits
	}
	cfg := map[string]any{
		"admin":   map[string]any{"disabled": true},
		"storage": map[string]any{"module": "file_system", "root": s.storage},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "WARN"}}},
		"apps": map[string]any{
			"xmpp_auth": app,
			"http": map[string]any{"servers": map[string]any{"gate": map[string]any{
				"listen":          []string{s.addr},
				"automatic_https": map[string]any{"disable": true},
				// The gate's answers to API clients are errors (so that a
				// site can restyle them); this site writes them as the
				// README's handle_errors example does.
				"errors": plainErrors,
				// The site is named, as a site block is: a login names it by
				// the Host only when a host matcher does (sitehost.go).
				// The example.test names are for the cookie_domain tests.
				"routes": []any{map[string]any{"match": []any{map[string]any{"host": []string{"127.0.0.1", "example.test", "*.example.test"}}}, "handle": []any{
					gate,
					map[string]any{"handler": "headers", "response": map[string]any{"set": map[string]any{"X-Auth-User": []string{"{http.auth.user.id}"}}}},
					map[string]any{"handler": "reverse_proxy", "upstreams": []any{map[string]any{"dial": strings.TrimPrefix(s.upstream.URL, "http://")}}},
				}}},
			}}},
		},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

// plainErrors are error routes that write an error as one line of text,
// as the README's handle_errors example does.
var plainErrors = map[string]any{"routes": []any{map[string]any{"handle": []any{map[string]any{
	"handler":     "static_response",
	"status_code": "{http.error.status_code}",
	"headers":     map[string]any{"Content-Type": []string{"text/plain; charset=utf-8"}},
	"body":        "{http.error.status_code} {http.error.status_text}: {http.error.message}\n",
}}}}}

// load (re)loads Caddy with o, as the admin API's /load does.
func (s *site) load(o options) {
	s.t.Helper()
	if err := caddy.Load(s.config(o), true); err != nil {
		s.t.Fatalf("load config: %v", err)
	}
}

// browser is webtest's browser: cookies kept, HTML asked for, redirects
// shown, the login's secret kept.
type browser = webtest.Browser

func (s *site) browser() *browser { return webtest.NewBrowser(s.t, "http://"+s.addr) }

// approvedTo is where an approved login sends the visitor, or "".
func approvedTo(resp *http.Response, body string) string {
	return webtest.ApprovedTo(resp, body, "xmpp_auth")
}

// codeOnPage finds the code on the waiting page.
var codeOnPage = webtest.CodeOnPage

// csrfField finds the login form's token.
var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestLoginByApprovalReachesTheUpstreamAsTheJID(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	// alice answers by hand, after the test has read the waiting page: an
	// automatic answer could beat the browser to it.
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	b := s.browser()

	resp, body := b.Do("GET", "/private/page?x=1", nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `name="jid"`) || !strings.Contains(body, `value="/private/page?x=1"`) {
		t.Fatalf("first visit: %d\n%s", resp.StatusCode, body)
	}
	if _, hits := s.upstream.lastRequest(); hits != 0 {
		t.Fatal("the upstream was reached without a session")
	}

	resp, body = b.Submit("alice@localhost", "/private/page?x=1")
	m := codeOnPage.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(body, "alice@localhost") {
		t.Fatalf("waiting page: %d\n%s", resp.StatusCode, body)
	}
	req, err := alice.NextRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if req.ID != m[1] {
		t.Errorf("page shows code %s, alice was asked to confirm %s", m[1], req.ID)
	}
	if req.URL != b.Base+"/private/page?x=1" || req.Method != "GET" {
		t.Errorf("alice was asked about %s %s", req.Method, req.URL)
	}
	approve(t, alice, req)

	resp, body = b.Outcome()
	if to := approvedTo(resp, body); to != "/private/page?x=1" {
		t.Fatalf("after approval: %d, sent to %q\n%s", resp.StatusCode, to, body)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "xmpp_auth" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure || len(cookie.Value) > 1024 {
		t.Fatalf("session cookie: %+v", cookie)
	}

	// The client forges the identity header and carries a cookie of the
	// application's own: the first is replaced, the second kept.
	u, _ := url.Parse(b.Base)
	b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: "theme", Value: "dark"}})
	resp, body = b.Do("GET", "/private/page?x=1", nil, "X-Forwarded-User", "admin@localhost", "X_Forwarded_User", "admin@localhost")
	if resp.StatusCode != http.StatusOK || body != "hello alice@localhost" {
		t.Fatalf("with the session: %d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Auth-User"); got != "alice@localhost" {
		t.Errorf("{http.auth.user.id} = %q", got)
	}
	up, _ := s.upstream.lastRequest()
	if v := up.Header.Values("X-Forwarded-User"); len(v) != 1 || v[0] != "alice@localhost" {
		t.Errorf("upstream X-Forwarded-User = %q", v)
	}
	if v := up.Header.Values("X_Forwarded_User"); len(v) != 0 {
		t.Errorf("upstream got the forged X_Forwarded_User %q", v)
	}
	names := []string{}
	for _, c := range up.Cookies() {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "theme" {
		t.Errorf("upstream got cookies %v, want only theme", names)
	}

	// The login was cashed in once; the waiting page no longer knows it.
	if resp, _ := b.Do("GET", "/.xmpp-auth/wait", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("waiting page after login: %d", resp.StatusCode)
	}
	// The gate's pages never reach the upstream.
	_, hits := s.upstream.lastRequest()
	if resp, _ := b.Do("GET", "/.xmpp-auth/anything", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown gate page: %d", resp.StatusCode)
	}
	if _, after := s.upstream.lastRequest(); after != hits {
		t.Error("a gate page reached the upstream")
	}
}

func TestEachOutcomeHasItsOwnPage(t *testing.T) {
	s := newSite(t)
	s.load(options{Allow: []string{"localhost"}, LoginTimeout: "1s"})
	denier := s.p.NewUser(t, "denier", xmpptest.Deny)
	silent := s.p.NewUser(t, "silent", xmpptest.Silent)
	_ = denier
	_ = silent

	tests := []struct {
		name     string
		jid      string
		status   int
		contains string
	}{
		{"denied", "denier@localhost", http.StatusForbidden, "refused"},
		{"timed out", "silent@localhost", http.StatusUnauthorized, "No answer came"},
		{"unreachable", "nobody@localhost", http.StatusServiceUnavailable, "could not be reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := s.browser()
			resp, body := b.Submit(tt.jid, "/back")
			if resp.StatusCode == http.StatusOK {
				resp, body = b.Outcome()
			} // else the outcome came before the browser asked for the waiting page
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.contains) || !strings.Contains(body, `href="/back"`) {
				t.Errorf("got %d\n%s", resp.StatusCode, body)
			}
		})
	}

	t.Run("not allowed, and nothing is sent", func(t *testing.T) {
		resp, body := s.browser().Submit("eve@elsewhere.example", "/")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "may not log in") {
			t.Errorf("got %d\n%s", resp.StatusCode, body)
		}
	})
	t.Run("not an address", func(t *testing.T) {
		resp, body := s.browser().Submit("not an address", "/")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not an XMPP address") || !strings.Contains(body, `value="not an address"`) {
			t.Errorf("got %d\n%s", resp.StatusCode, body)
		}
	})
	t.Run("a form posted from another site", func(t *testing.T) {
		b := s.browser()
		resp, _ := b.Do("POST", "/.xmpp-auth/login", url.Values{"jid": {"silent@localhost"}, "csrf": {b.FormToken()}}, "Origin", "https://evil.example")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("got %d", resp.StatusCode)
		}
	})
	t.Run("a form without its token, or with another browser's", func(t *testing.T) {
		b, other := s.browser(), s.browser()
		b.FormToken() // b has its pre-login cookie
		for _, token := range []string{"", "forged", other.FormToken()} {
			resp, body := b.Do("POST", "/.xmpp-auth/login", url.Values{"jid": {"silent@localhost"}, "csrf": {token}})
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "send it again") || !csrfField.MatchString(body) {
				t.Errorf("token %q: %d\n%s", token, resp.StatusCode, body)
			}
		}
	})
}

func TestNonBrowserClientsGetTheXEP0070Challenge(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	for _, accept := range []string{"application/json", "*/*", ""} {
		b := s.browser()
		resp, body := b.Do("GET", "/api/items", nil, "Accept", accept)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="xmpp"` ||
			strings.Contains(body, "<html") || resp.Header.Get("Location") != "" {
			t.Errorf("Accept %q: %d %v\n%s", accept, resp.StatusCode, resp.Header, body)
		}
	}
}

func TestOnlyAValidCookieForThisSiteOpensTheGate(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	key, err := session.KeyFromSecret([]byte(testSessionKey))
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := session.NewRing(key)
	otherKey, _ := session.GenerateKey()
	otherRing, _ := session.NewRing(otherKey)
	now := time.Now()
	seal := func(r *session.Ring, jid, site string, issued, expires time.Time) string {
		v, err := r.Seal(session.Session{JID: jid, Issued: issued, Expires: expires}, site)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	valid := seal(ring, "alice@localhost", "127.0.0.1", now, now.Add(time.Hour))
	tampered := []byte(valid)
	tampered[20] ^= 1
	tests := []struct {
		name   string
		value  string
		status int
	}{
		{"valid", valid, http.StatusOK},
		{"forged by another key", seal(otherRing, "alice@localhost", "127.0.0.1", now, now.Add(time.Hour)), http.StatusUnauthorized},
		{"expired", seal(ring, "alice@localhost", "127.0.0.1", now.Add(-2*time.Hour), now.Add(-time.Hour)), http.StatusUnauthorized},
		{"tampered", string(tampered), http.StatusUnauthorized},
		{"for another site", seal(ring, "alice@localhost", "wiki.example.org", now, now.Add(time.Hour)), http.StatusUnauthorized},
		{"truncated", valid[:len(valid)-5], http.StatusUnauthorized},
		{"garbage", "not-a-cookie", http.StatusUnauthorized},
		{"10 KB", strings.Repeat("A", 10<<10), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := s.browser()
			resp, _ := b.Do("GET", "/", nil, "Accept", "application/json", "Cookie", "xmpp_auth="+tt.value)
			if resp.StatusCode != tt.status {
				t.Errorf("got %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

func TestReloadDuringAPendingLoginKeepsIt(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	b := s.browser()
	if resp, body := b.Submit("alice@localhost", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("waiting page: %d\n%s", resp.StatusCode, body)
	}
	req, err := alice.NextRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	s.load(options{Lifetime: "2h"}) // a config change: a real reload
	s.load(options{Lifetime: "3h"})

	approve(t, alice, req)
	resp, body := b.Outcome()
	if approvedTo(resp, body) == "" {
		t.Fatalf("after the reload the login ended with %d\n%s", resp.StatusCode, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "xmpp_auth" && c.MaxAge != 3*3600 {
			t.Errorf("cookie lifetime %ds, want the new config's 3h", c.MaxAge)
		}
	}
	if resp, _ := b.Do("GET", "/", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("with the session: %d", resp.StatusCode)
	}
}

func TestGeneratedKeyIsKeptSoARestartLogsNobodyOut(t *testing.T) {
	s := newSite(t)
	s.load(options{StoredKey: true})
	s.p.NewUser(t, "alice", xmpptest.Approve)
	b := s.browser()
	if resp, _ := b.Submit("alice@localhost", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("waiting page: %d", resp.StatusCode)
	}
	if resp, body := b.Outcome(); approvedTo(resp, body) == "" {
		t.Fatalf("login: %d\n%s", resp.StatusCode, body)
	}
	stored, err := os.ReadFile(filepath.Join(s.storage, "xmpp_auth", "session_key"))
	if err != nil || len(stored) < 32 {
		t.Fatalf("no key in storage: %v", err)
	}

	if err := caddy.Stop(); err != nil { // a restart: nothing survives but storage
		t.Fatal(err)
	}
	s.load(options{StoredKey: true})
	if resp, _ := b.Do("GET", "/", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the restart: %d", resp.StatusCode)
	}
	again, _ := os.ReadFile(filepath.Join(s.storage, "xmpp_auth", "session_key"))
	if string(again) != string(stored) {
		t.Error("the stored key changed across the restart")
	}
}

func TestXMPPServerDownNeitherFailsTheConfigNorHangsTheLogin(t *testing.T) {
	s := newSiteWithOwnServer(t)
	if err := s.p.Kill(); err != nil {
		t.Fatal(err)
	}
	s.load(options{}) // must not fail

	resp, body := s.browser().Submit("alice@localhost", "/")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "XMPP server unreachable") {
		t.Fatalf("login with the server down: %d\n%s", resp.StatusCode, body)
	}

	if err := s.p.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	alice := s.p.NewUser(t, "alice", xmpptest.Approve)
	_ = alice
	deadline := time.Now().Add(10 * time.Second)
	for {
		b := s.browser()
		resp, _ := b.Submit("alice@localhost", "/")
		if resp.StatusCode == http.StatusOK {
			if resp, body := b.Outcome(); approvedTo(resp, body) == "" {
				t.Fatalf("login after the server came back: %d\n%s", resp.StatusCode, body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gate did not reconnect within 10s (last answer %d)", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestXMPPServerKilledDuringALoginShowsUnreachableAtOnce(t *testing.T) {
	s := newSiteWithOwnServer(t)
	s.load(options{LoginTimeout: "30s"})
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	b := s.browser()
	if resp, _ := b.Submit("alice@localhost", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("waiting page: %d", resp.StatusCode)
	}
	if _, err := alice.NextRequest(context.Background()); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := s.p.Kill(); err != nil {
		t.Fatal(err)
	}
	resp, body := b.Outcome()
	if d := time.Since(killed); resp.StatusCode != http.StatusServiceUnavailable || d > 2*time.Second {
		t.Fatalf("after the kill: %d after %v\n%s", resp.StatusCode, d, body)
	}
}

func TestLoginsForOneAddressAreLimited(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	for i := range 3 {
		if resp, body := s.browser().Submit("alice@localhost", "/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("login %d: %d\n%s", i, resp.StatusCode, body)
		}
	}
	resp, body := s.browser().Submit("alice@localhost", "/")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Nothing was sent") {
		t.Fatalf("fourth open login: %d\n%s", resp.StatusCode, body)
	}
	got := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := alice.NextRequest(ctx)
		cancel()
		if err != nil {
			break
		}
		got++
	}
	if got != 3 {
		t.Errorf("alice received %d requests, want 3", got)
	}
}

func TestUnresolvedSessionKeyIsAConfigError(t *testing.T) {
	s := newSite(t)
	cfg := strings.Replace(string(s.config(options{})), testSessionKey, "{env.XEPAUTH_TEST_UNSET_VARIABLE}", 1)
	err := caddy.Load([]byte(cfg), true)
	if err == nil || !strings.Contains(err.Error(), "empty once resolved") {
		t.Fatalf("err = %v", err)
	}
}

func TestGatePagesWorkBehindARewrite(t *testing.T) {
	s := newSite(t)
	cfg := strings.Replace(string(s.config(options{})), `"handle":[{"handler":"xmpp_auth"`,
		`"handle":[{"handler":"rewrite","uri":"/index.html"},{"handler":"xmpp_auth"`, 1)
	if !strings.Contains(cfg, `"rewrite"`) {
		t.Fatal("the test config has no rewrite")
	}
	if err := caddy.Load([]byte(cfg), true); err != nil {
		t.Fatal(err)
	}
	s.p.NewUser(t, "alice", xmpptest.Silent)
	b := s.browser()
	resp, body := b.Do("GET", "/deep/link", nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `value="/deep/link"`) {
		t.Fatalf("first visit: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := b.Submit("alice@localhost", "/deep/link"); resp.StatusCode != http.StatusOK || !codeOnPage.MatchString(body) {
		t.Fatalf("login behind a rewrite: %d\n%s", resp.StatusCode, body)
	}
}

func TestALoggedInVisitorWhoMayNotEnterGetsForbiddenNotALoop(t *testing.T) {
	s := newSite(t)
	s.load(options{Allow: []string{"localhost"}, Deny: []string{"eve@localhost"}})
	key, _ := session.KeyFromSecret([]byte(testSessionKey))
	ring, _ := session.NewRing(key)
	now := time.Now()
	eve, _ := ring.Seal(session.Session{JID: "eve@localhost", Issued: now, Expires: now.Add(time.Hour)}, "127.0.0.1")
	outsider, _ := ring.Seal(session.Session{JID: "bob@elsewhere.example", Issued: now, Expires: now.Add(time.Hour)}, "127.0.0.1")

	for name, cookie := range map[string]string{"denied by name": eve, "not in the allowed domain": outsider} {
		t.Run(name, func(t *testing.T) {
			b := s.browser()
			resp, body := b.Do("GET", "/page", nil, "Cookie", "xmpp_auth="+cookie)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "You are logged in as") ||
				!strings.Contains(body, `href="/.xmpp-auth/logout"`) || strings.Contains(body, `name="jid"`) {
				t.Errorf("browser: %d\n%s", resp.StatusCode, body)
			}
			resp, body = b.Do("GET", "/page", nil, "Cookie", "xmpp_auth="+cookie, "Accept", "application/json")
			if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "<html") {
				t.Errorf("API client: %d\n%s", resp.StatusCode, body)
			}
		})
	}
	if _, hits := s.upstream.lastRequest(); hits != 0 {
		t.Error("a forbidden visitor reached the upstream")
	}
	t.Run("a denied address cannot start a login", func(t *testing.T) {
		resp, body := s.browser().Submit("eve@localhost", "/")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "may not log in") {
			t.Errorf("got %d\n%s", resp.StatusCode, body)
		}
	})
}

func TestAFormSentWhileLoggedOutIsNotLostSilently(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	b := s.browser()
	resp, body := b.Do("POST", "/comment?page=7", url.Values{"text": {"hello"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "was not delivered") || !strings.Contains(body, `value="/comment?page=7"`) {
		t.Fatalf("a POST without a session: %d\n%s", resp.StatusCode, body)
	}
	if _, hits := s.upstream.lastRequest(); hits != 0 {
		t.Fatal("the form reached the upstream without a session")
	}
	token := csrfField.FindStringSubmatch(body)[1]
	resp, body = b.Do("POST", "/.xmpp-auth/login", url.Values{"jid": {"alice@localhost"}, "return": {"/comment?page=7"}, "csrf": {token}, "resend": {"1"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login form: %d", resp.StatusCode)
	}
	if !strings.Contains(body, "send your form again") {
		t.Errorf("the waiting page does not say the form must be sent again:\n%s", body)
	}
	req, err := alice.NextRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	approve(t, alice, req)
	resp, body = b.Outcome()
	if to := approvedTo(resp, body); to != "/comment?page=7" {
		t.Fatalf("after approval: %d, sent to %q (a GET of the form's page is what follows)\n%s", resp.StatusCode, to, body)
	}
}

func TestHandlerWithoutTheAppIsAConfigError(t *testing.T) {
	cfg := `{"admin":{"disabled":true},"apps":{"http":{"servers":{"s":{"listen":["` + freeAddr(t) + `"],"routes":[{"handle":[{"handler":"xmpp_auth"}]}]}}}}}`
	err := caddy.Load([]byte(cfg), true)
	t.Cleanup(func() { _ = caddy.Stop() })
	if err == nil || !strings.Contains(err.Error(), "no XMPP component configured") {
		t.Fatalf("err = %v", err)
	}
}

// approve answers a message request as an XEP-0070 client does.
func approve(t *testing.T, u *xmpptest.User, req xmpptest.Request) {
	t.Helper()
	answer := fmt.Sprintf(`<message to='%s' type='normal'><thread>%s</thread><confirm xmlns='http://jabber.org/protocol/http-auth' id='%s' method='GET' url='%s'/></message>`,
		req.From, req.Thread, req.ID, xmlEscape(req.URL))
	if err := u.SendRaw(context.Background(), answer); err != nil {
		t.Fatal(err)
	}
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&apos;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func jsonMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func caddyLoad(cfg []byte) error { return caddy.Load(cfg, true) }
