package binarytest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/webtest"
	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// echo is what the upstream saw of a request.
type echo struct {
	User    string   `json:"user"`
	Cookies []string `json:"cookies"`
}

// upstream is the legacy application behind the gate: it answers with the
// user header and the names of the cookies it received.
func upstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := echo{User: r.Header.Get("X-Forwarded-User"), Cookies: []string{}}
		for _, c := range r.Cookies() {
			e.Cookies = append(e.Cookies, c.Name)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// caddyProcess is `caddy run` in the background.
type caddyProcess struct {
	t       *testing.T
	stderr  *webtest.SyncBuffer
	exited  chan struct{}
	waitErr error
	prosody *xmpptest.Server
}

// startCaddy runs the binary on the Caddyfile and waits until addr
// accepts connections. Cleanup kills it.
func startCaddy(t *testing.T, caddyfile, addr string, p *xmpptest.Server) *caddyProcess {
	t.Helper()
	dir := t.TempDir()
	// Named Caddyfile, so `caddy run` picks the Caddyfile adapter itself.
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := caddyCommand(context.Background(), t, "run", "--config", path)
	cp := &caddyProcess{t: t, stderr: new(webtest.SyncBuffer), exited: make(chan struct{}), prosody: p}
	cmd.Stdout = cp.stderr
	cmd.Stderr = cp.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start caddy: %v", err)
	}
	go func() {
		cp.waitErr = cmd.Wait()
		close(cp.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-cp.exited
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return cp
		}
		select {
		case <-cp.exited:
			cp.fatalf("caddy run exited before listening on %s: %v", addr, cp.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			cp.fatalf("caddy did not listen on %s within 30s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fatalf fails the test with Caddy's log and Prosody's log attached.
func (cp *caddyProcess) fatalf(format string, args ...any) {
	cp.t.Helper()
	msg := fmt.Sprintf(format, args...)
	msg += "\n--- caddy stderr ---\n" + tail(cp.stderr.String(), 60)
	if cp.prosody != nil {
		msg += "\n--- prosody log ---\n" + cp.prosody.LogTail(30)
	}
	cp.t.Fatal(msg)
}

// TestLoginThroughBinary logs a browser in through the real binary, the
// real Prosody and a scripted XMPP user who approves.
func TestLoginThroughBinary(t *testing.T) {
	t.Parallel()
	binary(t) // skip first under -short without a binary, before starting Prosody
	p := xmpptest.NewServer(t, xmpptest.Config{})
	alice := p.NewUser(t, "alice", xmpptest.Approve)
	aliceJID := "alice@" + p.Domain
	app := upstream(t)

	host := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	base := "http://" + host
	caddyfile := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	storage file_system %s
	xmpp_auth {
		server %s
		domain %s
		secret %s
	}
}

%s {
	bind 127.0.0.1
	xmpp_auth
	reverse_proxy %s
}
`, freePort(t), filepath.Join(t.TempDir(), "storage"),
		p.ComponentAddr, p.ComponentDomain, p.ComponentSecret,
		base, strings.TrimPrefix(app.URL, "http://"))
	cp := startCaddy(t, caddyfile, host, p)

	// short keeps failure messages readable: a page without its style sheet.
	short := func(body string) string {
		if _, after, ok := strings.Cut(body, "</style>"); ok {
			body = "[…]" + after
		}
		if len(body) > 2000 {
			body = body[:2000] + "[…]"
		}
		return body
	}

	// A non-browser client gets XEP-0070's challenge.
	resp, body := webtest.NewAPIClient(t, base, false).Send("GET", "/", "")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="xmpp"` {
		cp.fatalf("non-browser GET /: %s, WWW-Authenticate %q; want 401 with Basic realm=\"xmpp\"\n%s",
			resp.Status, resp.Header.Get("WWW-Authenticate"), short(body))
	}

	// A browser, with a cookie of the application's own, which must reach
	// it untouched.
	browser := webtest.NewBrowser(t, base)
	baseURL, _ := url.Parse(base)
	browser.Client.Jar.SetCookies(baseURL, []*http.Cookie{{Name: "theme", Value: "dark", Path: "/"}})
	resp, body = browser.Do("GET", "/", nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `name="jid"`) {
		cp.fatalf("browser GET /: %s; want 401 with the login form (input name=\"jid\"):\n%s", resp.Status, short(body))
	}

	// Post the login form. Until the component has connected to Prosody
	// (in the background, after Caddy started) the gate answers 503
	// "unreachable"; that is a page to retry from, so retry.
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, body = browser.Submit(aliceJID, "/")
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `class="code"`) || browser.Secret == "" {
		cp.fatalf("POST /.xmpp-auth/login: %s; want 200 with the waiting page, its code and its secret\n%s", resp.Status, short(body))
	}

	// Alice's client approves on its own; the waiting page's continue
	// button (as a browser without JavaScript presses it, with the
	// login's secret the page holds) turns into a redirect back to where
	// the visitor was going.
	deadline = time.Now().Add(10 * time.Second)
	for {
		resp, body = browser.Continue()
		if resp.StatusCode == http.StatusSeeOther {
			break
		}
		if resp.StatusCode != http.StatusOK {
			cp.fatalf("POST /.xmpp-auth/wait: %s; want 200 (waiting) and then 303\n%s", resp.Status, short(body))
		}
		if time.Now().After(deadline) {
			cp.fatalf("POST /.xmpp-auth/wait still waiting after 10s\n%s", short(body))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if loc := resp.Header.Get("Location"); loc != "/" {
		cp.fatalf("POST /.xmpp-auth/wait: 303 to %q, want \"/\"", loc)
	}

	// What alice's client was asked.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	asked, err := alice.NextRequest(ctx)
	if err != nil {
		cp.fatalf("alice's client saw no confirm request: %v", err)
	}
	if asked.Method != "GET" || asked.URL != base+"/" {
		t.Errorf("alice was asked to confirm %s %s; want GET %s/", asked.Method, asked.URL, base)
	}

	// Logged in. A header the client forges and a stale login cookie sent
	// by hand must not reach the upstream; the jar adds the session cookie.
	resp, body = browser.Do("GET", "/", nil, "X-Forwarded-User", "mallory@localhost", "Cookie", "xmpp_auth_login=stale")
	if resp.StatusCode != http.StatusOK {
		cp.fatalf("GET / after login: %s; want 200 from the upstream\n%s", resp.Status, short(body))
	}
	var seen echo
	if err := json.Unmarshal([]byte(body), &seen); err != nil {
		cp.fatalf("GET / after login: not the upstream's answer: %v\n%s", err, body)
	}
	if seen.User != aliceJID {
		t.Errorf("upstream saw X-Forwarded-User %q, want %q", seen.User, aliceJID)
	}
	for _, gateCookie := range []string{"xmpp_auth", "xmpp_auth_login"} {
		if slices.Contains(seen.Cookies, gateCookie) {
			t.Errorf("upstream received the gate's cookie %s (cookies: %q)", gateCookie, seen.Cookies)
		}
	}
	if !slices.Contains(seen.Cookies, "theme") {
		t.Errorf("upstream did not receive the application's own cookie theme (cookies: %q)", seen.Cookies)
	}
	if t.Failed() {
		t.Logf("caddy stderr:\n%s", tail(cp.stderr.String(), 60))
	}
}
