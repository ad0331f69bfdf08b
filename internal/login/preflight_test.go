package login

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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
	req, err := http.NewRequest(http.MethodOptions, s.srv.URL+path, strings.NewReader(body))
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

func TestAPassedPreflightReachesTheUpstreamWithNothingToActOn(t *testing.T) {
	s := newTestSite(t, testGate(t, testService(t, nil, nil), Config{PassPreflight: true}, Env{}))
	resp := s.preflight("/api?delete=all", "payload=1",
		"Content-Type", "application/x-www-form-urlencoded",
		"Cookie", "app=1", "X-Http-Method-Override", "DELETE", "X-Original-Url", "/admin",
		"X-Forwarded-User", "admin@example.org", "X-Forwarded-Method", "DELETE", "X-Forwarded-Uri", "/admin",
		"X-Api-Key", "k", "Remote-User", "admin", "Forwarded", "for=10.0.0.1", "X.Forwarded.User", "admin",
		"Access-Control-Request-Headers", "content-type")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preflight: %d", resp.StatusCode)
	}
	got := s.upstreamRequests()
	if len(got) != 1 {
		t.Fatalf("the upstream got %d requests, want 1", len(got))
	}
	r := got[0]
	body, _ := io.ReadAll(r.Body)
	if len(body) != 0 || r.URL.RawQuery != "" || r.URL.Path != "/api" {
		t.Errorf("the upstream read path %q query %q body %q", r.URL.Path, r.URL.RawQuery, body)
	}
	for _, k := range []string{"Cookie", "Content-Type", "X-Http-Method-Override", "X-Original-Url", "X-Forwarded-User",
		"X-Forwarded-Method", "X-Forwarded-Uri", "X-Api-Key", "Remote-User", "Forwarded", "X.Forwarded.User"} {
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
