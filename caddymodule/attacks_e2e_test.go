package caddymodule_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/xepauth/caddy-xepauth/internal/session"
	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// The attacks of an outside security review, each through a real Caddy
// and Prosody, named after the attack.

// tweak is the site's JSON config, open for a test to change: the apps,
// the HTTP server, the gate handler, and the reverse_proxy after it.
type tweak struct {
	apps, server, gate, proxy map[string]any
}

// loadTweaked loads o with edit applied to the JSON config.
func (s *site) loadTweaked(o options, edit func(tweak)) {
	s.t.Helper()
	var cfg map[string]any
	if err := jsonUnmarshal(s.config(o), &cfg); err != nil {
		s.t.Fatal(err)
	}
	apps := cfg["apps"].(map[string]any)
	server := apps["http"].(map[string]any)["servers"].(map[string]any)["gate"].(map[string]any)
	handle := server["routes"].([]any)[0].(map[string]any)["handle"].([]any)
	edit(tweak{apps: apps, server: server, gate: handle[0].(map[string]any), proxy: handle[len(handle)-1].(map[string]any)})
	if err := caddy.Load(jsonMarshal(s.t, cfg), true); err != nil {
		s.t.Fatalf("load config: %v", err)
	}
}

// proxyTo points the site's reverse_proxy at addr.
func (tw tweak) proxyTo(addr string) {
	tw.proxy["upstreams"] = []any{map[string]any{"dial": addr}}
}

// aliceCookie is a valid session cookie for alice@localhost on the test
// site, as a login would have made it.
func aliceCookie(t *testing.T) string {
	now := time.Now()
	return cookieFor(t, session.Session{JID: "alice@localhost", Authenticated: now, Issued: now, Expires: now.Add(time.Hour)},
		"127.0.0.1", testSessionKey)
}

func TestAUserHeaderSpelledWithDotsOrUnderscoresNeverReachesTheUpstream(t *testing.T) {
	s := newSite(t)
	// Caddy drops such names unless told to keep them; a site with a
	// backend that needs one keeps it, and then only the gate stands
	// between the client's spelling and PHP's $_SERVER.
	s.loadTweaked(options{}, func(tw tweak) {
		tw.server["expected_dot_headers"] = []string{"X.Forwarded.User"}
		tw.server["expected_underscore_headers"] = []string{"X_Forwarded_User"}
	})
	b := s.browser()
	resp, _ := getAs(b, "/page", aliceCookie(t), "X.Forwarded.User", "admin@localhost", "X_Forwarded_User", "admin@localhost")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with a session: %d", resp.StatusCode)
	}
	up, _ := s.upstream.lastRequest()
	for name, v := range up.Header {
		if sameName := len(name) == len("X-Forwarded-User") && name != "X-Forwarded-User" && (name[1] == '.' || name[1] == '_'); sameName {
			t.Errorf("the upstream got the client's %s: %q", name, v)
		}
	}
	if v := up.Header.Values("X-Forwarded-User"); len(v) != 1 || v[0] != "alice@localhost" {
		t.Errorf("upstream X-Forwarded-User = %q, want alice@localhost", v)
	}
}

func TestAConnectionHeaderNamingTheUserHeaderDoesNotStripTheIdentity(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	b := s.browser()
	for _, conn := range []string{"X-Forwarded-User", "keep-alive, x_forwarded_user"} {
		resp, body := getAs(b, "/page", aliceCookie(t), "Connection", conn)
		if resp.StatusCode != http.StatusOK || body != "hello alice@localhost" {
			t.Errorf("Connection: %s: the upstream answered %d %q, want it to see alice@localhost", conn, resp.StatusCode, body)
		}
	}
}

// preflight is a request of a CORS preflight's shape, with what an
// attacker adds to it.
func preflight(path string, hdr ...string) []string {
	return append([]string{"Origin", "https://evil.example", "Access-Control-Request-Method", "PUT"}, hdr...)
}

func TestAPreflightShapedRequestWithoutASessionNeverReachesTheUpstream(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	c := newAPIClient(s, false)
	for _, method := range []string{"OPTIONS"} {
		resp, body := c.Send(method, "/admin/delete.php?id=7", "", preflight("", "Cookie", "theme=dark")...)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Access-Control-Allow-Origin") != "" ||
			resp.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("preflight without a session: %d %v\n%s", resp.StatusCode, resp.Header, body)
		}
	}
	if _, hits := s.upstream.lastRequest(); hits != 0 {
		t.Errorf("the upstream got %d requests from a client without a session", hits)
	}
}

// bodyRecorder is an upstream that records everything of each request,
// the body included, and answers like a PHP script that ignores the
// method: the action done, and a page.
type bodyRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // method, request URI, body and cookies of each request
}

func (u *bodyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.seen = append(u.seen, fmt.Sprintf("%s %s body=%q cookie=%q user=%q", r.Method, r.RequestURI, body, r.Header.Get("Cookie"), r.Header.Get("X-Forwarded-User")))
	if v := r.Header.Get("X-Placeholders"); v != "" {
		u.seen = append(u.seen, "placeholders "+v)
	}
	u.mu.Unlock()
	w.Header().Set("Access-Control-Allow-Origin", "https://app.example")
	w.Header().Set("Access-Control-Allow-Methods", "PUT")
	w.Header().Set("Set-Cookie", "app=private")
	fmt.Fprint(w, "deleted; the private page")
}

func TestPassPreflightHandsTheUpstreamOnlyThePathAndReturnsOnlyCORS(t *testing.T) {
	s := newSite(t)
	up := &bodyRecorder{}
	up.Server = httptest.NewServer(up)
	t.Cleanup(up.Close)
	s.loadTweaked(options{}, func(tw tweak) {
		tw.gate["pass_preflight"] = true
		tw.proxyTo(strings.TrimPrefix(up.URL, "http://"))
		// What a site's config reads of the request after the gate: the
		// query, the URI as the client sent it, a request header.
		tw.proxy["headers"] = map[string]any{"request": map[string]any{"set": map[string]any{
			"X-Placeholders": []string{"query={http.request.uri.query} uri={http.request.uri} orig_uri={http.request.orig_uri} orig_query={http.request.orig_uri.query} cookie={http.request.header.Cookie}"},
		}}}
	})
	resp, body := s.sendPreflightWithBody("/admin/delete.php?id=7", "confirm=yes", "Cookie", "theme=dark; xmpp_auth=x",
		"X-Forwarded-User", "admin@localhost", "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Set-Cookie") != "" ||
		resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("preflight answer: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	want := []string{`OPTIONS /admin/delete.php body="" cookie="" user=""`, "placeholders query= uri=/admin/delete.php orig_uri=/admin/delete.php orig_query= cookie="}
	if !slices.Equal(up.seen, want) {
		t.Errorf("the upstream got %q, want only %q", up.seen, want)
	}
}

// A site's error route (handle_errors) answers with the real writer and
// may hand the request to an application that trusts the user header: a
// passed preflight that the upstream fails never gets there.
func TestAPassedPreflightTheUpstreamFailsNeverReachesTheErrorRoutes(t *testing.T) {
	s := newSite(t)
	up := &bodyRecorder{}
	up.Server = httptest.NewServer(up)
	t.Cleanup(up.Close)
	s.loadTweaked(options{}, func(tw tweak) {
		tw.gate["pass_preflight"] = true
		tw.proxyTo(freeAddr(t)) // nothing listens: reverse_proxy fails with 502
		tw.server["errors"] = map[string]any{"routes": []any{map[string]any{"handle": []any{
			map[string]any{"handler": "reverse_proxy", "upstreams": []any{map[string]any{"dial": strings.TrimPrefix(up.URL, "http://")}}},
		}}}}
	})
	resp, body := s.sendPreflightWithBody("/admin/delete.php?id=7", "confirm=yes", "Cookie", "app=1", "X-Forwarded-User", "admin@localhost")
	if resp.StatusCode != http.StatusBadGateway || len(body) != 0 || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("preflight answer: %d %v %q, want 502 and nothing", resp.StatusCode, resp.Header, body)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.seen) != 0 {
		t.Errorf("the error route's application got %q", up.seen)
	}
}

// sendPreflightWithBody sends a CORS preflight without a session, with a
// body and the extra headers hdr, and returns the answer and its body.
func (s *site) sendPreflightWithBody(path, body string, hdr ...string) (*http.Response, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest("OPTIONS", "http://"+s.addr+path, strings.NewReader(body))
	for i, h := 0, preflight("", hdr...); i < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, got
}

// upgrader is an upstream that answers any request with 101 Switching
// Protocols and then echoes whatever it is sent: the far end of a tunnel.
func upgrader(t *testing.T) (addr string, tunnels *atomic.Int32) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	tunnels = new(atomic.Int32)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				tunnels.Add(1)
				fmt.Fprint(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
				_, _ = io.Copy(c, br)
			}()
		}
	}()
	return l.Addr().String(), tunnels
}

func TestAPreflightWithAnUpgradeNeverOpensATunnelToTheUpstream(t *testing.T) {
	for _, pass := range []bool{false, true} {
		t.Run(fmt.Sprintf("pass_preflight %v", pass), func(t *testing.T) {
			s := newSite(t)
			addr, tunnels := upgrader(t)
			s.loadTweaked(options{}, func(tw tweak) {
				if pass {
					tw.gate["pass_preflight"] = true
				}
				tw.proxyTo(addr)
			})
			for _, upgrade := range []bool{true, false} {
				c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				req := "OPTIONS /ws HTTP/1.1\r\nHost: " + s.addr + "\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n"
				if upgrade {
					req += "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				}
				if _, err := io.WriteString(c, req+"\r\n"); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("upgrade %v: %v", upgrade, err)
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusSwitchingProtocols {
					t.Errorf("upgrade %v: Caddy answered 101: a client without a session has a tunnel to the upstream", upgrade)
				}
			}
			if n := tunnels.Load(); n != 0 && !pass {
				t.Errorf("the upstream got %d requests from a client without a session", n)
			}
		})
	}
}

func TestABrowserScriptWithoutASessionGetsNoPasswordDialog(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	c := newAPIClient(s, false)
	for _, hdr := range [][]string{
		{"Sec-Fetch-Mode", "cors", "Origin", "http://" + s.addr},
		{"Sec-Fetch-Mode", "same-origin"},
		{"Sec-Fetch-Mode", "no-cors"},
		{"Origin", "https://app.example"},
		// On plain HTTP a browser sends no Fetch Metadata, and no Origin
		// with a same-origin GET: its User-Agent tells it.
		{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36", "Accept", "*/*"},
		{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", "Accept", "image/avif,image/webp,*/*"},
		preflight(""),
	} {
		method := "GET"
		if hdr[0] == "Origin" && len(hdr) > 2 {
			method = "OPTIONS"
		}
		resp, body := c.Send(method, "/api/items", "", hdr...)
		var answer struct{ Error, Login string }
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "" ||
			json.Unmarshal([]byte(body), &answer) != nil || answer.Login != "/.xmpp-auth/login" {
			t.Errorf("%s %v: %d %v\n%s", method, hdr, resp.StatusCode, resp.Header, body)
		}
	}
	// A script that tried Basic credentials and failed is not challenged
	// either.
	resp, body := c.Send("GET", "/api/items", basicAuth("nobody@localhost", "abc"), "Sec-Fetch-Mode", "cors", "Origin", "http://"+s.addr)
	if resp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("a script's failed Basic login is challenged again: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	// Plain API clients keep XEP-0070's challenge.
	if resp, body := c.Send("GET", "/api/items", ""); !isChallenge(resp, body) {
		t.Errorf("an API client: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
}

func TestALoweredIdleTimeoutEndsSessionsIdleLongerThanTheNewOne(t *testing.T) {
	s := newSite(t)
	s.loadTweaked(options{Lifetime: "24h"}, func(tw tweak) { tw.gate["idle_timeout"] = "2h" })
	now := time.Now()
	// Made when the idle timeout was 24h: the cookie itself would last
	// until tomorrow.
	idle := func(d time.Duration) string {
		return cookieFor(t, session.Session{JID: "alice@localhost", Authenticated: now.Add(-d), Issued: now.Add(-d), Expires: now.Add(24*time.Hour - d)},
			"127.0.0.1", testSessionKey)
	}
	b := s.browser()
	if resp, _ := getAs(b, "/page", idle(5*time.Hour)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a session idle for 5h under a 2h idle timeout: %d, want 401", resp.StatusCode)
	}
	if resp, _ := getAs(b, "/page", idle(time.Hour)); resp.StatusCode != http.StatusOK {
		t.Errorf("a session idle for 1h under a 2h idle timeout: %d, want 200", resp.StatusCode)
	}
}

func TestValidSessionsOfTwoPeopleInOneRequestCountAsLoggedOut(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	now := time.Now()
	mallory := cookieFor(t, session.Session{JID: "mallory@localhost", Authenticated: now, Issued: now, Expires: now.Add(time.Hour)},
		"127.0.0.1", testSessionKey)
	// A sibling site planted mallory's own session for a longer path, so
	// the browser sends it first.
	resp, _ := s.browser().Do("GET", "/page", nil, "Cookie", "xmpp_auth="+mallory+"; xmpp_auth="+aliceCookie(t))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("valid sessions of mallory and alice: %d, want 401", resp.StatusCode)
	}
	if _, hits := s.upstream.lastRequest(); hits != 0 {
		t.Error("the upstream was reached as one of two people")
	}
}

// loadHTTPS serves the site over HTTPS with a certificate for 127.0.0.1
// made here, and returns a browser for it.
func (s *site) loadHTTPS(o options) *browser {
	s.t.Helper()
	certPEM, keyPEM := selfSigned(s.t)
	s.loadTweaked(o, func(tw tweak) {
		tw.apps["tls"] = map[string]any{"certificates": map[string]any{"load_pem": []any{
			map[string]any{"certificate": certPEM, "key": keyPEM},
		}}}
		tw.server["tls_connection_policies"] = []any{map[string]any{}}
	})
	b := s.browser()
	b.Base = "https://" + s.addr
	b.Client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the test's own certificate
	return b
}

// selfSigned makes a certificate for 127.0.0.1 and its key, in PEM.
func selfSigned(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

func TestOnHTTPSASessionPlantedFromASiblingSiteIsIgnored(t *testing.T) {
	s := newSite(t)
	b := s.loadHTTPS(options{})
	alice := s.p.NewUser(t, "alice", xmpptest.Approve)
	_ = alice
	now := time.Now()
	mallory := cookieFor(t, session.Session{JID: "mallory@localhost", Authenticated: now, Issued: now, Expires: now.Add(time.Hour)},
		"127.0.0.1", testSessionKey)
	// evil.example.com can set "xmpp_auth" for example.com and a longer
	// path; it cannot set a __Host- cookie.
	if resp, _ := getAs(b, "/page", mallory); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("mallory's session under the plain name on HTTPS: %d, want 401", resp.StatusCode)
	}
	if _, hits := s.upstream.lastRequest(); hits != 0 {
		t.Fatal("the upstream was reached with a plantable session cookie")
	}

	// The gate's own session cookie is host-only.
	if resp, body := b.Submit("alice@localhost", "/page"); resp.StatusCode != http.StatusOK {
		t.Fatalf("login form: %d\n%s", resp.StatusCode, body)
	}
	resp, body := b.Outcome()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.Contains(c.Name, "xmpp_auth") && c.Value != "" {
			session = c
		}
	}
	if session == nil || session.Name != "__Host-xmpp_auth" || !session.Secure || session.Path != "/" || session.Domain != "" {
		t.Fatalf("session cookie on HTTPS: %+v (%d %s)", session, resp.StatusCode, body)
	}
	if resp, body := b.Do("GET", "/page", nil); resp.StatusCode != http.StatusOK || body != "hello alice@localhost" {
		t.Errorf("with the session: %d %q", resp.StatusCode, body)
	}
}

func TestACopyOfALoginsCookiesSeesNoCodeAndGetsNoSession(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	// The attacker's browser starts a login for alice's address and holds
	// the page that shows the code.
	attacker := s.browser()
	resp, page := attacker.Submit("alice@localhost", "/")
	m := codeOnPage.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("waiting page: %d\n%s", resp.StatusCode, page)
	}
	code := m[1]
	// On plain HTTP a sibling site plants copies of every cookie of that
	// login in alice's browser, and links her to the waiting page.
	u, _ := url.Parse(attacker.Base + "/.xmpp-auth/wait")
	var cookies []string
	for _, c := range attacker.Client.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	victim := s.browser()
	planted := strings.Join(cookies, "; ")
	resp, body := victim.Do("GET", "/.xmpp-auth/wait", nil, "Cookie", planted)
	if strings.Contains(body, code) {
		t.Fatalf("a browser holding copies of the login's cookies sees its code (%d):\n%s", resp.StatusCode, body)
	}
	req, err := alice.NextRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	approve(t, alice, req)
	// Whatever the copy's holder asks, it gets no session.
	for _, try := range []struct{ method, path, secret string }{
		{"GET", "/.xmpp-auth/status", ""},
		{"POST", "/.xmpp-auth/status", ""},
		{"POST", "/.xmpp-auth/status", "guess"},
		{"GET", "/.xmpp-auth/wait", ""},
		{"POST", "/.xmpp-auth/wait", ""},
	} {
		var form url.Values
		if try.method == "POST" {
			form = url.Values{"k": {try.secret}}
		}
		resp, body := victim.Do(try.method, try.path, form, "Cookie", planted)
		for _, c := range resp.Cookies() {
			if c.Name == "xmpp_auth" && c.Value != "" {
				t.Errorf("%s %s by the copy's holder cashed in the login (%d):\n%s", try.method, try.path, resp.StatusCode, body)
			}
		}
		if strings.Contains(body, code) {
			t.Errorf("%s %s shows the copy's holder the code", try.method, try.path)
		}
	}
	// The page that posted the form is the one that cashes in.
	if resp, body := attacker.Outcome(); approvedTo(resp, body) != "/" {
		t.Errorf("the page that started the login: %d\n%s", resp.StatusCode, body)
	}
}

// submitFrom posts the login form as b, from client address ip (the site
// trusts X-Forwarded-For from loopback: loadBehindProxy).
func submitFrom(b *browser, ip, jid string) (*http.Response, string) {
	b.T.Helper()
	return b.Submit(jid, "/", "X-Forwarded-For", ip)
}

func TestTwelveLoginsForOneAddressFromOneSourceDoNotLockTheOwnerOut(t *testing.T) {
	s := newSite(t)
	loadBehindProxy(t, s)
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	statuses := flood(t, s, 12, func(int) string { return "alice@localhost" }, func(int) string { return "203.0.113.9" })
	if asks := countAsks(alice, 500*time.Millisecond); asks != 3 || statuses[http.StatusOK] != 3 {
		t.Errorf("12 posts from one source: %v, alice asked %d times; want 3 asked, the rest refused", statuses, asks)
	}
	owner := s.browser()
	if resp, body := submitFrom(owner, "198.51.100.20", "alice@localhost"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the owner's own login, from another network: %d\n%.400s", resp.StatusCode, body)
	}
	req, err := alice.NextRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	approve(t, alice, req)
	if resp, body := owner.Outcome(); approvedTo(resp, body) != "/" {
		t.Errorf("the owner's login: %d\n%s", resp.StatusCode, body)
	}
}

// apiSite serves the /auth API with its default networks at /auth;
// trusted, when not empty, is the server's trusted_proxies, and strict
// sets trusted_proxies_strict. Caddy's log goes to the file s.log.
func apiSite(t *testing.T, trusted string, strict bool) *site {
	s := newSite(t)
	var cfg map[string]any
	if err := jsonUnmarshal(s.apiConfig(), &cfg); err != nil {
		t.Fatal(err)
	}
	s.log = filepath.Join(t.TempDir(), "caddy.log")
	cfg["logging"] = map[string]any{"logs": map[string]any{"default": map[string]any{
		"level": "WARN", "writer": map[string]any{"output": "file", "filename": s.log},
	}}}
	srv := cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)["api"].(map[string]any)
	delete(srv, "trusted_proxies")
	if trusted != "" {
		srv["trusted_proxies"] = map[string]any{"source": "static", "ranges": []string{trusted}}
	}
	if strict {
		srv["trusted_proxies_strict"] = 1
	}
	if err := caddy.Load(jsonMarshal(t, cfg), true); err != nil {
		t.Fatalf("load config: %v", err)
	}
	return s
}

func TestTheAuthAPIRefusesAClientNamedBehindAnUntrustedProxy(t *testing.T) {
	// A proxy on this host that Caddy was not told about: every caller
	// has the proxy's loopback address, and only X-Forwarded-For names
	// the real one.
	s := apiSite(t, "", false)
	status, body, _ := s.call("/auth?"+djangoQuery("alice@localhost", "example.org", "GET", "5", "abcd"), "X-Forwarded-For", "203.0.113.5")
	if status != http.StatusForbidden {
		t.Errorf("a caller at 203.0.113.5 through an unknown proxy: %d %s, want 403", status, body)
	}
	// Through that proxy, a caller on a private network is still one.
	status, body, _ = s.call("/auth?jid=bad", "X-Forwarded-For", "10.1.2.3")
	if status != http.StatusBadRequest {
		t.Errorf("a caller at 10.1.2.3 through the same proxy: %d %s, want 400 (admitted, then a bad jid)", status, body)
	}
}

func TestTheAuthAPIRefusesASpoofedClientIPBehindANonStrictTrustedProxy(t *testing.T) {
	s := apiSite(t, "127.0.0.1/32", false)
	// The client wrote the first address; the proxy appended the real one.
	status, body, _ := s.call("/auth?"+djangoQuery("alice@localhost", "example.org", "GET", "5", "abcd"), "X-Forwarded-For", "10.9.9.9, 203.0.113.5")
	if status != http.StatusForbidden {
		t.Errorf("X-Forwarded-For: 10.9.9.9, 203.0.113.5: %d %s, want 403", status, body)
	}
	s.call("/auth?jid=bad", "X-Forwarded-For", "10.1.2.3")
	log, _ := os.ReadFile(s.log)
	if n := strings.Count(string(log), "trusts proxies non-strictly"); n != 1 {
		t.Errorf("the log warns %d times of trusting proxies without trusted_proxies_strict, want once:\n%s", n, log)
	}
}

func TestTheAuthAPIAdmitsAPrivateCallerBehindAStrictTrustedProxy(t *testing.T) {
	s := apiSite(t, "127.0.0.1/32", true)
	if status, body, _ := s.call("/auth?jid=bad", "X-Forwarded-For", "10.1.2.3"); status != http.StatusBadRequest {
		t.Errorf("a private caller: %d %s, want 400 (admitted, then a bad jid)", status, body)
	}
	if status, body, _ := s.call("/auth?jid=bad", "X-Forwarded-For", "203.0.113.5"); status != http.StatusForbidden {
		t.Errorf("a public caller: %d %s, want 403", status, body)
	}
	if log, _ := os.ReadFile(s.log); strings.Contains(string(log), "trusts proxies non-strictly") {
		t.Errorf("the log warns of non-strict proxies on a strict server:\n%s", log)
	}
}

func TestAnAddressThatXMPPServersReadAsAnotherAccountIsRefusedEverywhere(t *testing.T) {
	s := newSite(t)
	s.load(options{Deny: []string{"aliss@localhost"}})
	// ejabberd authenticates "aliß" as the account aliss (stringprep folds
	// ß to ss), while PRECIS keeps ß: asking aliß would let aliss past
	// the deny rule, and into the upstream under another name.
	for _, addr := range []string{"aliß@localhost", "x\u1f80@localhost", "ali@faß.de", "x\U0002f874@localhost"} {
		resp, body := s.browser().Submit(addr, "/")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "read in more than one way") {
			t.Errorf("the form with %s: %d\n%.300s", addr, resp.StatusCode, body)
		}
		resp, body = newAPIClient(s, false).Send("GET", "/page", basicAuth(url.QueryEscape(addr), "abc123"))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "stringprep") {
			t.Errorf("Basic credentials for %s: %d %s", addr, resp.StatusCode, body)
		}
	}
	if _, hits := s.upstream.lastRequest(); hits != 0 {
		t.Error("the upstream was reached")
	}
	api := newAPISite(t)
	status, body, _ := api.call("/auth?" + djangoQuery("aliß@localhost", "example.org", "GET", "5", "abcd"))
	if status != http.StatusBadRequest || !strings.Contains(body, "stringprep") {
		t.Errorf("the /auth API with aliß@localhost: %d %s", status, body)
	}
}

func TestAnAddressAtAnIPAddressIsNotAskedUnlessAllowed(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	for _, addr := range []string{"x@10.0.0.5", "x@[::1]", "x@127.1", "x@2130706433", "x@0x7f000001"} {
		resp, body := s.browser().Submit(addr, "/")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "IP address") {
			t.Errorf("the form with %s: %d\n%.300s", addr, resp.StatusCode, body)
		}
		resp, body = newAPIClient(s, false).Send("GET", "/page", basicAuth(url.QueryEscape(addr), "abc123"))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "IP address") {
			t.Errorf("Basic credentials for %s: %d %s", addr, resp.StatusCode, body)
		}
	}
	api := newAPISite(t)
	if status, body, _ := api.call("/auth?" + djangoQuery("x@10.0.0.5", "example.org", "GET", "5", "abcd")); status != http.StatusBadRequest {
		t.Errorf("the /auth API with x@10.0.0.5: %d %s", status, body)
	}
	// A site that names the address's domain in allow asks it (once the
	// gate has connected: until then the page says the XMPP server is
	// unreachable).
	s.load(options{Allow: []string{"10.0.0.5"}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := s.browser().Submit("x@10.0.0.5", "/")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("the form with x@10.0.0.5 when allow names 10.0.0.5: %d\n%.300s", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hostLogin posts the login form for jid as a browser that reached the
// site by the name host: the form fetched, and posted from, that name.
func hostLogin(b *browser, host, jid string) (*http.Response, string) {
	b.T.Helper()
	_, page := b.Do("GET", "/.xmpp-auth/login", nil, "Host", host)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		b.T.Fatalf("no login form for %s:\n%.300s", host, page)
	}
	return b.Do("POST", "/.xmpp-auth/login", url.Values{"jid": {jid}, "return": {"/"}, "csrf": {m[1]}}, "Host", host, "Origin", "http://"+host)
}

func TestOnASiteThatAnswersAnyHostTheHostHeaderNamesNoSite(t *testing.T) {
	s := newSite(t)
	bob := s.p.NewUser(t, "bob", xmpptest.Silent)
	catchAll := func(siteName string) {
		s.loadTweaked(options{}, func(tw tweak) {
			delete(tw.server["routes"].([]any)[0].(map[string]any), "match")
			if siteName != "" {
				tw.gate["site_name"] = siteName
			}
		})
	}
	catchAll("")
	// The attacker's Host would name the site in bob's XMPP message.
	b := s.browser()
	resp, body := hostLogin(b, "bank.example", "bob@localhost")
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("a login with Host: bank.example on a catch-all site: %d\n%.300s", resp.StatusCode, body)
	}
	resp, body = newAPIClient(s, false).Send("GET", "/page", basicAuth("bob@localhost", "abc123"), "Host", "bank.example")
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Basic credentials with Host: bank.example on a catch-all site: %d %s", resp.StatusCode, body)
	}
	if req, ok := nextRequestWithin(bob, 300*time.Millisecond); ok {
		t.Fatalf("bob was asked about %s", req.URL)
	}
	// With site_name, the site names itself.
	// site_name names the site in the text, but the URL in the message
	// would still be on the visitor's Host: refused all the same.
	catchAll("The Wiki")
	resp, body = hostLogin(s.browser(), "bank.example", "bob@localhost")
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("a login with Host: bank.example on a catch-all site with site_name: %d\n%.300s", resp.StatusCode, body)
	}
	if req, ok := nextRequestWithin(bob, 300*time.Millisecond); ok {
		t.Fatalf("bob was asked about %s", req.URL)
	}
	// A host the site names is asked, by the site's name.
	s.loadTweaked(options{}, func(tw tweak) { tw.gate["site_name"] = "The Wiki" })
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := s.browser().Submit("bob@localhost", "/")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("a login on a named host: %d\n%.300s", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if req, err := bob.NextRequest(context.Background()); err != nil || !strings.Contains(req.Body, "The Wiki") {
		t.Errorf("bob's message: %v\n%s", err, req.Body)
	}
}

func TestALoginHoldsAtMostFourStatusPollsAtOnce(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	b := s.browser()
	if resp, body := b.Submit("alice@localhost", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("waiting page: %d\n%s", resp.StatusCode, body)
	}
	form := url.Values{"k": {b.Secret}}
	var wg sync.WaitGroup
	early := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			_, body := b.Do("POST", "/.xmpp-auth/status", form)
			early <- body
		})
	}
	// Held open: none answers before the outcome.
	select {
	case body := <-early:
		t.Fatalf("one of four polls was answered at once: %s", body)
	case <-time.After(500 * time.Millisecond):
	}
	resp, body := b.Do("POST", "/.xmpp-auth/status", form)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, `"busy"`) {
		t.Fatalf("a fifth poll while four are held: %d %s", resp.StatusCode, body)
	}
	req, err := alice.NextRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	approve(t, alice, req)
	wg.Wait()
}

// newSiteOn is newSite on a server of the given kind, whatever
// XEPAUTH_XMPP_SERVER says: the attack needs that server.
func newSiteOn(t *testing.T, kind xmpptest.Kind) *site {
	t.Helper()
	return siteOn(t, xmpptest.NewServerOf(t, kind, xmpptest.Config{}))
}

func TestOnEjabberdARespelledNameCannotLogInAsAnotherAccount(t *testing.T) {
	s := newSiteOn(t, xmpptest.KindEjabberd)
	s.load(options{LoginTimeout: "3s"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// x当 (U+5F53) is the victim's account; the attacker owns x弳 (U+5F33)
	// and logs in to XMPP as x followed by U+2F874, which ejabberd
	// authenticates as x弳 (stringprep) and stamps as typed, and which
	// PRECIS reads as x当.
	for _, account := range []string{"x当", "x弳"} {
		if err := s.p.Register(ctx, account, account+"pw"); err != nil {
			t.Fatal(err)
		}
	}
	attacker, err := s.p.ConnectRaw(ctx, "x\U0002F874", "x弳pw")
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	// The victim is online, and does not answer.
	victim, err := s.p.ConnectRaw(ctx, "x当", "x当pw")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()

	b := s.browser()
	var page string
	for deadline := time.Now().Add(10 * time.Second); ; {
		var resp *http.Response
		resp, page = b.Submit("x当@localhost", "/")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("the login form for x当@localhost: %d\n%.300s", resp.StatusCode, page)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code := codeOnPage.FindStringSubmatch(page)[1]
	// The attacker sees the code on the page and types it in a chat.
	if err := attacker.Send(fmt.Sprintf(`<message to='%s' type='chat'><body>%s</body></message>`, s.p.ComponentDomain, code)); err != nil {
		t.Fatal(err)
	}
	if resp, body := b.Outcome(); approvedTo(resp, body) != "" || !strings.Contains(body, "No answer came") {
		t.Errorf("after the attacker typed the code: %d\n%.300s", resp.StatusCode, body)
	}
	if _, hits := s.upstream.lastRequest(); hits != 0 {
		t.Error("the upstream was reached as x当@localhost")
	}
}

func TestATrailerNamedAsTheUserHeaderNeverReachesTheUpstream(t *testing.T) {
	s := newSite(t)
	// An upstream that reads the body to its end and reports the
	// trailers it got.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%q %q", r.Header.Values("X-Forwarded-User"), r.Trailer)
	}))
	t.Cleanup(up.Close)
	s.loadTweaked(options{}, func(tw tweak) { tw.proxyTo(strings.TrimPrefix(up.URL, "http://")) })
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "POST /trailer HTTP/1.1\r\nHost: %s\r\nCookie: xmpp_auth=%s\r\nTransfer-Encoding: chunked\r\nTrailer: X-Forwarded-User, X_Forwarded_User\r\nTE: trailers\r\n\r\n"+
		"4\r\nabcd\r\n0\r\nX-Forwarded-User: evil@localhost\r\nX_Forwarded_User: evil@localhost\r\nX-Other: kept\r\n\r\n", s.addr, aliceCookie(t))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "evil") || !strings.Contains(string(body), `"alice@localhost"`) {
		t.Errorf("the upstream saw: %d %s", resp.StatusCode, body)
	}
}

func TestTheAuthAPIReadsTheForwardedHeaderToo(t *testing.T) {
	s := apiSite(t, "", false)
	for _, fwd := range []string{"for=203.0.113.5", `for="[2001:db8::1]:4711";proto=https`, "for=10.0.0.1, for=203.0.113.5", "for=unknown", "for=_hidden"} {
		status, body, _ := s.call("/auth?"+djangoQuery("alice@localhost", "example.org", "GET", "5", "abcd"), "Forwarded", fwd)
		if status != http.StatusForbidden {
			t.Errorf("Forwarded: %s: %d %s, want 403", fwd, status, body)
		}
	}
	if status, body, _ := s.call("/auth?jid=bad", "Forwarded", "for=10.1.2.3;proto=http"); status != http.StatusBadRequest {
		t.Errorf("Forwarded: for=10.1.2.3: %d %s, want 400 (admitted, then a bad jid)", status, body)
	}
}

func TestALinkOnAnotherSiteCannotLogTheVisitorOut(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	cookie := aliceCookie(t)
	b := s.browser()
	loggedIn := func() bool {
		resp, _ := getAs(b, "/page", cookie)
		return resp.StatusCode == http.StatusOK
	}
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	for name, hdr := range map[string][]string{
		"a link, on HTTPS":            {"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Accept", "text/html"},
		"a link, on plain HTTP":       {"Referer", "http://evil.example/", "Accept", "text/html", "User-Agent", firefox},
		"an image, on plain HTTP":     {"Referer", "http://evil.example/", "Accept", "image/*", "User-Agent", firefox},
		"a link without referrer":     {"Accept", "text/html", "User-Agent", firefox},
		"a form posted from the site": {"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"},
	} {
		method := "GET"
		if name == "a form posted from the site" {
			method = "POST"
		}
		resp, body := b.Do(method, "/.xmpp-auth/logout", nil, append([]string{"Cookie", "xmpp_auth=" + cookie}, hdr...)...)
		if !loggedIn() {
			t.Fatalf("%s logged the visitor out (%d)", name, resp.StatusCode)
		}
		if strings.Contains(hdr[len(hdr)-1], "text/html") || name == "a link without referrer" {
			if !strings.Contains(body, `action="/.xmpp-auth/logout"`) {
				t.Errorf("%s: no page with a button to log out:\n%.300s", name, body)
			}
		}
	}
	// The site's own link, and its button, do.
	if resp, _ := b.Do("GET", "/.xmpp-auth/logout", nil, "Cookie", "xmpp_auth="+cookie, "Referer", b.Base+"/page", "Accept", "text/html"); resp.StatusCode != http.StatusOK || loggedIn() {
		t.Errorf("the site's own logout link: %d, still logged in: %v", resp.StatusCode, loggedIn())
	}
}
