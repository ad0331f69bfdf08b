package caddymodule_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/xepauth/caddy-xepauth/internal/webtest"
	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// apiClient is webtest's API client.
type apiClient = webtest.APIClient

func newAPIClient(s *site, keepCookies bool) *apiClient {
	return webtest.NewAPIClient(s.t, "http://"+s.addr, keepCookies)
}

// basicAuth is the XEP-0070 §4.3.1 header: user is the JID (non-ASCII
// already percent-encoded by the caller), password the transaction id.
func basicAuth(user, txid string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+txid))
}

// newTxID is a transaction id as a client would choose it.
func newTxID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// asksTo returns the confirm requests u receives within wait.
func asksTo(u *xmpptest.User, wait time.Duration) []xmpptest.Request {
	var got []xmpptest.Request
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		r, err := u.NextRequest(ctx)
		cancel()
		if err != nil {
			return got
		}
		got = append(got, r)
	}
}

func sessionCookieOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "xmpp_auth" && c.Value != "" {
			return c
		}
	}
	return nil
}

// isChallenge tells the plain XEP-0070 challenge: 401, Basic realm="xmpp",
// plain text, no page and no redirect.
func isChallenge(resp *http.Response, body string) bool {
	return resp.StatusCode == http.StatusUnauthorized &&
		resp.Header.Get("WWW-Authenticate") == `Basic realm="xmpp"` &&
		strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") &&
		!strings.Contains(body, "<") && resp.Header.Get("Location") == "" && !json.Valid([]byte(body))
}

func TestBasicApprovalServesTheRequestAndSetsASession(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	bob := s.p.NewUser(t, "bob", xmpptest.Approve)
	c := newAPIClient(s, true)
	tx := newTxID()

	resp, body := c.Send("GET", "/api/items?x=1", basicAuth("bob@localhost", tx), "X-Forwarded-User", "admin@localhost")
	if resp.StatusCode != http.StatusOK || body != "hello bob@localhost" {
		t.Fatalf("with approved credentials: %d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Auth-User"); got != "bob@localhost" {
		t.Errorf("{http.auth.user.id} = %q", got)
	}
	if ck := sessionCookieOf(resp); ck == nil || !ck.HttpOnly {
		t.Errorf("session cookie: %+v", ck)
	}
	up, hits := s.upstream.lastRequest()
	if v := up.Header.Values("X-Forwarded-User"); len(v) != 1 || v[0] != "bob@localhost" {
		t.Errorf("upstream X-Forwarded-User = %q", v)
	}
	if v := up.Header.Get("Authorization"); v != "" {
		t.Errorf("the upstream got the gate's credentials %q", v)
	}
	asks := asksTo(bob, 300*time.Millisecond)
	if len(asks) != 1 {
		t.Fatalf("bob was asked %d times", len(asks))
	}
	if a := asks[0]; a.ID != tx || a.Method != "GET" || a.URL != c.Base+"/api/items?x=1" {
		t.Errorf("bob was asked to confirm %s %s with id %q", a.Method, a.URL, a.ID)
	}

	// The cookie alone is enough from now on.
	resp, body = c.Send("GET", "/api/other", "")
	if resp.StatusCode != http.StatusOK || body != "hello bob@localhost" {
		t.Fatalf("with the cookie: %d %q", resp.StatusCode, body)
	}
	if _, after := s.upstream.lastRequest(); after != hits+1 {
		t.Errorf("upstream hits %d, want %d", after, hits+1)
	}
	if n := len(asksTo(bob, 200*time.Millisecond)); n != 0 {
		t.Errorf("the cookie caused %d more asks", n)
	}
}

func TestBasicDenialIs403(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	s.p.NewUser(t, "denier", xmpptest.Deny)
	resp, body := newAPIClient(s, false).Send("DELETE", "/api/items/1", basicAuth("denier@localhost", newTxID()))
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || sessionCookieOf(resp) != nil {
		t.Fatalf("denied: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	if _, hits := s.upstream.lastRequest(); hits != 0 {
		t.Error("a denied request reached the upstream")
	}
}

func TestBasicTimeoutIs401WithTheChallenge(t *testing.T) {
	s := newSite(t)
	s.load(options{LoginTimeout: "1s"})
	silent := s.p.NewUser(t, "silent", xmpptest.Silent)
	start := time.Now()
	resp, body := newAPIClient(s, false).Send("GET", "/api/items", basicAuth("silent@localhost", newTxID()))
	took := time.Since(start)
	if !isChallenge(resp, body) || sessionCookieOf(resp) != nil {
		t.Fatalf("timed out: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	if took < time.Second || took > 5*time.Second {
		t.Errorf("the request was held %v with login_timeout 1s", took)
	}
	if n := len(asksTo(silent, 100*time.Millisecond)); n != 1 {
		t.Errorf("silent was asked %d times", n)
	}
	if _, hits := s.upstream.lastRequest(); hits != 0 {
		t.Error("a timed-out request reached the upstream")
	}
}

func TestBasicUnreachableIs503(t *testing.T) {
	s := newSiteWithOwnServer(t)
	s.load(options{})
	c := newAPIClient(s, false)
	resp, body := c.Send("GET", "/api/items", basicAuth("nobody@localhost", newTxID()))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("unknown account: %d\n%s", resp.StatusCode, body)
	}

	// With the XMPP server down nothing is sent and the answer is at once.
	if err := s.p.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		start := time.Now()
		resp, body = c.Send("GET", "/api/items", basicAuth("nobody@localhost", newTxID()))
		if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, "XMPP server unreachable") {
			if d := time.Since(start); d > time.Second {
				t.Errorf("answered after %v", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server down: %d\n%s", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, hits := s.upstream.lastRequest(); hits != 0 {
		t.Error("an unconfirmed request reached the upstream")
	}
}

func TestBasicJIDWithNonASCIIIsPercentDecoded(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	elodie := s.p.NewUser(t, "élodie", xmpptest.Approve)
	tx := "caf%C3%A9-" + newTxID() // "café-…": the id is percent-encoded too
	resp, body := newAPIClient(s, false).Send("GET", "/", basicAuth("%C3%A9lodie@localhost", tx))
	if resp.StatusCode != http.StatusOK || body != "hello élodie@localhost" {
		t.Fatalf("élodie: %d %q", resp.StatusCode, body)
	}
	asks := asksTo(elodie, 300*time.Millisecond)
	if len(asks) != 1 || asks[0].ID != "café-"+strings.TrimPrefix(tx, "caf%C3%A9-") {
		t.Fatalf("élodie was asked %+v", asks)
	}
}

func TestBasicHEADCredentialsServeTheNextRequestOnce(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	carol := s.p.NewUser(t, "carol", xmpptest.Approve)
	c := newAPIClient(s, false) // no cookies: the credentials alone must do
	auth := basicAuth("carol@localhost", newTxID())

	resp, _ := c.Send("HEAD", "/report.pdf", auth)
	if resp.StatusCode != http.StatusOK || sessionCookieOf(resp) == nil {
		t.Fatalf("HEAD: %d, cookie %v", resp.StatusCode, sessionCookieOf(resp))
	}
	resp, body := c.Send("GET", "/report.pdf", auth)
	if resp.StatusCode != http.StatusOK || body != "hello carol@localhost" || sessionCookieOf(resp) == nil {
		t.Fatalf("GET after HEAD: %d %q", resp.StatusCode, body)
	}
	up, _ := s.upstream.lastRequest()
	if up.Method != "GET" || up.Header.Get("X-Forwarded-User") != "carol@localhost" {
		t.Errorf("upstream got %s as %q", up.Method, up.Header.Get("X-Forwarded-User"))
	}
	asks := asksTo(carol, 300*time.Millisecond)
	if len(asks) != 1 || asks[0].Method != "HEAD" {
		t.Fatalf("carol was asked %+v, want one HEAD", asks)
	}

	// Once more only.
	resp, body = c.Send("GET", "/report.pdf", auth)
	if !isChallenge(resp, body) {
		t.Errorf("third use: %d\n%s", resp.StatusCode, body)
	}
	if n := len(asksTo(carol, 200*time.Millisecond)); n != 0 {
		t.Errorf("the third use sent %d asks", n)
	}
}

func TestBasicReusedTransactionIDIsRefusedWithoutAsking(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	dave := s.p.NewUser(t, "dave", xmpptest.Approve)
	c := newAPIClient(s, false)
	tx := newTxID()
	if resp, body := c.Send("GET", "/a", basicAuth("dave@localhost", tx)); resp.StatusCode != http.StatusOK {
		t.Fatalf("first use: %d %q", resp.StatusCode, body)
	}
	// Again, with another method, or with the address written differently
	// (JIDs are compared once normalised): refused, and nothing is sent.
	for _, again := range []struct{ method, user string }{
		{"GET", "dave@localhost"}, {"POST", "dave@localhost"}, {"GET", "Dave@LOCALHOST"}, {"GET", "dave@localhost/laptop"},
	} {
		resp, body := c.Send(again.method, "/a", basicAuth(again.user, tx))
		if !isChallenge(resp, body) || !strings.Contains(body, "used") {
			t.Errorf("%s as %s again: %d\n%s", again.method, again.user, resp.StatusCode, body)
		}
	}
	if n := len(asksTo(dave, 300*time.Millisecond)); n != 1 {
		t.Errorf("dave was asked %d times", n)
	}
	if _, hits := s.upstream.lastRequest(); hits != 1 {
		t.Errorf("upstream hits %d, want 1", hits)
	}
}

func TestBasicIdenticalConcurrentRequestsShareOneAsk(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	erin := s.p.NewUser(t, "erin", xmpptest.Silent)
	auth := basicAuth("erin@localhost", newTxID())

	var wg sync.WaitGroup
	results := make([]string, 3)
	send := func(i int) {
		defer wg.Done()
		resp, body := newAPIClient(s, false).Send("GET", "/same", auth)
		results[i] = fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
	wg.Add(1)
	go send(0)
	req, err := erin.NextRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(2)
	go send(1)
	go send(2)
	// The same credentials on another request are refused while the ask
	// is pending, and ask nothing.
	resp, body := newAPIClient(s, false).Send("GET", "/other", auth)
	if !isChallenge(resp, body) || !strings.Contains(body, "in use") {
		t.Errorf("same id, other URL: %d\n%s", resp.StatusCode, body)
	}
	time.Sleep(500 * time.Millisecond) // let the identical requests join
	approve(t, erin, req)
	wg.Wait()
	for i, r := range results {
		if r != "200 hello erin@localhost" {
			t.Errorf("request %d: %s", i, r)
		}
	}
	if n := len(asksTo(erin, 300*time.Millisecond)); n != 0 {
		t.Errorf("%d more asks for identical requests", n)
	}
}

func TestBasicNotAllowedJIDIs403WithoutAnAsk(t *testing.T) {
	s := newSite(t)
	s.load(options{Allow: []string{"alice@localhost"}})
	mallory := s.p.NewUser(t, "mallory", xmpptest.Approve)
	resp, body := newAPIClient(s, false).Send("GET", "/", basicAuth("mallory@localhost", newTxID()))
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("not allowed: %d\n%s", resp.StatusCode, body)
	}
	if n := len(asksTo(mallory, 300*time.Millisecond)); n != 0 {
		t.Errorf("mallory was asked %d times", n)
	}
}

func TestBasicAsksAreLimitedLikeTheForm(t *testing.T) {
	s := newSite(t)
	s.load(options{LoginTimeout: "2s"})
	frank := s.p.NewUser(t, "frank", xmpptest.Silent)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			newAPIClient(s, false).Send("GET", "/", basicAuth("frank@localhost", newTxID()))
		}()
	}
	for range 3 {
		if _, err := frank.NextRequest(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := newAPIClient(s, false).Send("GET", "/", basicAuth("frank@localhost", newTxID()))
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "nothing was sent") {
		t.Errorf("fourth open ask: %d\n%s", resp.StatusCode, body)
	}
	if n := len(asksTo(frank, 300*time.Millisecond)); n != 0 {
		t.Errorf("the fourth ask was sent anyway (%d)", n)
	}
	wg.Wait()
}

func TestAPIClientsWithoutCredentialsGetAPlain401(t *testing.T) {
	s := newSite(t)
	s.load(options{})
	c := newAPIClient(s, false)
	shapes := [][]string{
		{"Accept", "application/json"},
		{"Accept", "*/*"},                                       // curl
		{"Accept", "*/*", "X-Requested-With", "XMLHttpRequest"}, // XHR
		{"Accept", "application/json", "Content-Type", "application/json"},
		{"Authorization", "Bearer some-token-of-the-application"}, // not ours
	}
	for _, hdr := range shapes {
		for _, method := range []string{"GET", "POST"} {
			resp, body := c.Send(method, "/api/items", "", hdr...)
			if !isChallenge(resp, body) {
				t.Errorf("%s %v: %d %v\n%s", method, hdr, resp.StatusCode, resp.Header, body)
			}
		}
	}
	if _, hits := s.upstream.lastRequest(); hits != 0 {
		t.Error("a request without credentials reached the upstream")
	}
}

// wsUpstream answers a WebSocket upgrade with 101 and then echoes the raw
// bytes it gets; other requests get "hello <user>".
type wsUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	upgrades []http.Header
}

func (u *wsUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		fmt.Fprintf(w, "hello %s", r.Header.Get("X-Forwarded-User"))
		return
	}
	u.mu.Lock()
	u.upgrades = append(u.upgrades, r.Header.Clone())
	u.mu.Unlock()
	conn, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	if brw.Flush() != nil {
		return
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.Copy(conn, brw.Reader)
}

func (u *wsUpstream) seen() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]http.Header(nil), u.upgrades...)
}

// dialUpgrade sends a WebSocket handshake by hand and returns the response
// and the connection, ready for raw bytes after a 101.
func dialUpgrade(t *testing.T, addr string, hdr ...string) (*http.Response, *bufio.Reader, net.Conn) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "GET /ws HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", addr)
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, br, conn
}

func TestWebSocketPassesWithASessionAndGets401Without(t *testing.T) {
	s := newSite(t)
	ws := &wsUpstream{}
	ws.Server = httptest.NewServer(ws)
	t.Cleanup(ws.Close)
	cfg := strings.Replace(string(s.config(options{})), strings.TrimPrefix(s.upstream.URL, "http://"), strings.TrimPrefix(ws.URL, "http://"), 1)
	if err := caddy.Load([]byte(cfg), true); err != nil {
		t.Fatal(err)
	}
	s.p.NewUser(t, "gina", xmpptest.Approve)

	// Without a session: 401, never the login page, even for a client
	// that accepts HTML; a browser's gets no Basic challenge (it would
	// open the password dialog), another client's does.
	resp, _, _ := dialUpgrade(t, s.addr, "Accept", "text/html,*/*", "Sec-Fetch-Mode", "websocket")
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "" ||
		strings.Contains(string(body), "<") || !json.Valid(body) {
		t.Fatalf("a browser's upgrade without a session: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	resp, _, _ = dialUpgrade(t, s.addr, "Accept", "*/*")
	body, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="xmpp"` ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("another client's upgrade without a session: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	if n := len(ws.seen()); n != 0 {
		t.Fatalf("the upstream got %d upgrades without a session", n)
	}

	// With a session: the upstream gets the upgrade, as the user, and the
	// tunnel carries bytes both ways.
	c := newAPIClient(s, true)
	resp, text := c.Send("GET", "/", basicAuth("gina@localhost", newTxID()))
	ck := sessionCookieOf(resp)
	if resp.StatusCode != http.StatusOK || ck == nil {
		t.Fatalf("login: %d %q", resp.StatusCode, text)
	}
	resp, br, conn := dialUpgrade(t, s.addr, "Cookie", ck.Name+"="+ck.Value)
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("upgrade with a session: %d %v", resp.StatusCode, resp.Header)
	}
	if _, err := io.WriteString(conn, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo: %q %v", line, err)
	}
	seen := ws.seen()
	if len(seen) != 1 || seen[0].Get("X-Forwarded-User") != "gina@localhost" || strings.Contains(seen[0].Get("Cookie"), "xmpp_auth") {
		t.Errorf("upstream upgrades: %v", seen)
	}
}
