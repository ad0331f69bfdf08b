package login

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
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
