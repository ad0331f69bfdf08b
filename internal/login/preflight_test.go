package login

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestPreflightWriterPassesOnlyTheCORSAnswer(t *testing.T) {
	rec := httptest.NewRecorder()
	w := &preflightWriter{w: rec}
	w.Header().Set("Access-Control-Allow-Origin", "https://app.example")
	w.Header().Set("Access-Control-Allow-Methods", "PUT")
	w.Header().Set("Vary", "Origin")
	w.Header().Set("Set-Cookie", "app=secret")
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("X-Secret", "1")
	_, _ = w.Write([]byte("<html>the private page</html>"))
	if rec.Body.Len() != 0 || rec.Code != http.StatusOK {
		t.Errorf("body %q, status %d", rec.Body.String(), rec.Code)
	}
	for _, k := range []string{"Set-Cookie", "Content-Type", "X-Secret"} {
		if rec.Header().Get(k) != "" {
			t.Errorf("%s passed", k)
		}
	}
	for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Vary"} {
		if rec.Header().Get(k) == "" {
			t.Errorf("%s was dropped", k)
		}
	}
}

func TestPreflightWriterNeverSwitchesProtocols(t *testing.T) {
	rec := httptest.NewRecorder()
	w := &preflightWriter{w: rec}
	w.Header().Set("Upgrade", "websocket")
	w.Header().Set("Connection", "Upgrade")
	w.WriteHeader(http.StatusSwitchingProtocols)
	if rec.Code != http.StatusBadGateway || rec.Header().Get("Upgrade") != "" || rec.Header().Get("Connection") != "" {
		t.Errorf("101 from the upstream became %d %v", rec.Code, rec.Header())
	}
	// reverse_proxy reaches the connection through http.ResponseController
	// (Unwrap, Hijack); a preflight must not offer it.
	if _, _, err := http.NewResponseController(&preflightWriter{w: hijackable{rec}}).Hijack(); !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("the preflight's writer can be hijacked: %v", err)
	}
	if err := http.NewResponseController(&preflightWriter{w: hijackable{rec}}).Flush(); !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("the preflight's writer reaches the connection to flush: %v", err)
	}
}

// hijackable is a writer that offers the connection, as net/http's does.
type hijackable struct{ *httptest.ResponseRecorder }

func (hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errors.New("hijacked")
}

// preflight sends a CORS preflight to s with the extra headers hdr.
func (s *testSite) preflight(path string, body string, hdr ...string) *http.Response {
	s.t.Helper()
	return s.preflightBody(path, strings.NewReader(body), hdr...)
}

// preflightBody is preflight with a body of any reader: one of unknown
// length is sent chunked.
func (s *testSite) preflightBody(path string, body io.Reader, hdr ...string) *http.Response {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodOptions, s.srv.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "PUT")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// upstreamRead is what the upstream read of one request while it was the
// upstream's to read: once the handler returns, the server closes the
// body, and a body read after that is empty whatever was sent.
type upstreamRead struct {
	body             string
	contentLength    int64
	transferEncoding []string
}

// newReadingSite is a testSite whose upstream also reads each request's
// body as it comes, and returns what it read. Its requests share one
// connection: a gate that changed the server's own request (its length
// set to 0 while the body sent is still unread) would make net/http read
// the next request on it concurrently with that body, and drop it.
func newReadingSite(t *testing.T, g *Gate) (*testSite, func() []upstreamRead) {
	s := &testSite{t: t, g: g}
	var reads []upstreamRead
	s.srv = httptest.NewUnstartedServer(Serve(g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			body = append(body, " (then "+err.Error()+")"...)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.upstream = append(s.upstream, r.Clone(context.Background()))
		reads = append(reads, upstreamRead{string(body), r.ContentLength, r.TransferEncoding})
	})))
	// The server's own log says when it could not read the connection
	// (it recovers from the panic and drops the connection, which the
	// client may retry on a new one).
	var serverLog strings.Builder
	var logMu sync.Mutex
	s.srv.Config.ErrorLog = log.New(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return serverLog.Write(p)
	}), "", 0)
	s.srv.Start()
	t.Cleanup(func() {
		s.srv.Close()
		logMu.Lock()
		defer logMu.Unlock()
		if serverLog.Len() != 0 {
			t.Errorf("the server failed on the connection:\n%s", serverLog.String())
		}
	})
	return s, func() []upstreamRead {
		s.mu.Lock()
		defer s.mu.Unlock()
		return append([]upstreamRead(nil), reads...)
	}
}

func (s *testSite) upstreamRequests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.upstream...)
}

func TestAPreflightWithoutASessionGetsTheGates401ByDefault(t *testing.T) {
	s := newTestSite(t, testGate(t, testService(t, nil, nil), Config{}, Env{}))
	if resp := s.preflight("/api", ""); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if n := len(s.upstreamRequests()); n != 0 {
		t.Errorf("the upstream got %d requests", n)
	}
}

// A preflight has no body. One that comes with a body, of a known length
// or chunked, reaches the upstream without it: no bytes, no length, no
// Transfer-Encoding, nothing an upstream that ignores the method could
// read as a form.
func TestAPassedPreflightReachesTheUpstreamWithNothingToActOn(t *testing.T) {
	s, reads := newReadingSite(t, testGate(t, testService(t, nil, nil), Config{PassPreflight: true}, Env{}))
	resp := s.preflight("/api?delete=all", "payload=1",
		"Content-Type", "application/x-www-form-urlencoded",
		"Cookie", "app=1", "X-Http-Method-Override", "DELETE", "X-Original-Url", "/admin",
		"X-Forwarded-User", "admin@example.org", "X-Forwarded-Method", "DELETE", "X-Forwarded-Uri", "/admin",
		"X-Api-Key", "k", "Remote-User", "admin", "Forwarded", "for=10.0.0.1", "X.Forwarded.User", "admin",
		"Access-Control-Request-Headers", "content-type")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preflight: %d", resp.StatusCode)
	}
	if resp := s.preflightBody("/api", io.MultiReader(strings.NewReader("payload=2"))); resp.StatusCode != http.StatusOK {
		t.Fatalf("preflight with a chunked body: %d", resp.StatusCode)
	}
	got := s.upstreamRequests()
	if len(got) != 2 {
		t.Fatalf("the upstream got %d requests, want 2", len(got))
	}
	for i, read := range reads() {
		if read.body != "" || read.contentLength != 0 || len(read.transferEncoding) != 0 {
			t.Errorf("preflight %d: the upstream read body %q, Content-Length %d, Transfer-Encoding %q; want no body, 0 and none",
				i+1, read.body, read.contentLength, read.transferEncoding)
		}
	}
	r := got[0]
	if r.URL.RawQuery != "" || r.URL.Path != "/api" {
		t.Errorf("the upstream read path %q query %q", r.URL.Path, r.URL.RawQuery)
	}
	for _, k := range []string{"Cookie", "Content-Type", "X-Http-Method-Override", "X-Original-Url", "X-Forwarded-User",
		"X-Forwarded-Method", "X-Forwarded-Uri", "X-Api-Key", "Remote-User", "Forwarded", "X.Forwarded.User",
		"Content-Length", "Transfer-Encoding"} {
		if v := r.Header.Values(k); len(v) != 0 {
			t.Errorf("the upstream got %s: %s", k, v)
		}
	}
	for _, k := range []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"} {
		if r.Header.Get(k) == "" {
			t.Errorf("the upstream did not get %s", k)
		}
	}
}

func TestAnUpgradingPreflightNeverReachesTheUpstream(t *testing.T) {
	s := newTestSite(t, testGate(t, testService(t, nil, nil), Config{PassPreflight: true}, Env{}))
	if resp := s.preflight("/ws", "", "Connection", "Upgrade", "Upgrade", "websocket"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("upgrading preflight: %d", resp.StatusCode)
	}
	if n := len(s.upstreamRequests()); n != 0 {
		t.Errorf("the upstream got %d requests", n)
	}
}

func TestPreflightWriterAwaitsTheFinalAnswerAfterEarlyHints(t *testing.T) {
	rec := httptest.NewRecorder()
	w := &preflightWriter{w: rec}
	w.Header().Set("Link", "</app.js>; rel=preload")
	w.WriteHeader(http.StatusEarlyHints)
	w.Header().Set("Access-Control-Allow-Origin", "https://app.example")
	w.WriteHeader(http.StatusNoContent)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") == "" || rec.Header().Get("Link") != "" {
		t.Errorf("after 103 then 204: %d %v", rec.Code, rec.Header())
	}
}

// The server's error routes (Caddy's handle_errors) answer with the real
// writer and read the request the gate was handed: a preflight that the
// upstream fails must not get there, nor leave anything on that request.
func TestAPreflightTheUpstreamFailsIsAnsweredByTheGateAlone(t *testing.T) {
	g := testGate(t, testService(t, nil, nil), Config{PassPreflight: true}, Env{})
	r := httptest.NewRequest("OPTIONS", "http://wiki.example.org/static/missing?id=7", strings.NewReader("action=delete"))
	r.Header.Set("Origin", "http://evil.example")
	r.Header.Set("Access-Control-Request-Method", "GET")
	r.Header.Set("X-Forwarded-User", "admin@example.org")
	r.Header.Set("Cookie", "app_session=abc")
	w := httptest.NewRecorder()
	err := g.ServeHTTP(w, r, HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("X-Secret", "1")
		return errors.New("file not found")
	}))
	if err != nil {
		t.Errorf("the upstream's error went on to the server's error routes: %v", err)
	}
	if w.Code != http.StatusBadGateway || w.Body.Len() != 0 || w.Header().Get("X-Secret") != "" {
		t.Errorf("answer %d %v %q, want 502 with nothing", w.Code, w.Header(), w.Body.String())
	}
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("X-Forwarded-User") != "" || r.Header.Get("Cookie") != "" || r.URL.RawQuery != "" ||
		r.RequestURI != "/static/missing" || len(body) != 0 {
		t.Errorf("the request left for what comes after the gate: %v %q %q body %q", r.Header, r.URL, r.RequestURI, body)
	}
}

// writerFunc is an io.Writer of a function.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
