// Package webtest holds the end-to-end test helpers the packages share:
// free loopback addresses, a browser that logs in as the gate's pages
// expect, and an API client. A test talks to a real server with them, in
// process (caddymodule) or as the built binary (binarytest, the demo).
package webtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Prefix is the gate's default path_prefix, where its pages are.
const Prefix = "/.xmpp-auth/"

// FreeAddr returns a loopback address (host:port) nobody listened on a
// moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FreePort returns a loopback port nobody listened on a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	addr, err := net.ResolveTCPAddr("tcp", FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return addr.Port
}

// Browser is an HTTP client that keeps cookies, asks for HTML, shows
// redirects to the test instead of following them, and keeps the login's
// secret from the last waiting page it was answered with, as the page's
// script does.
type Browser struct {
	T      testing.TB
	Base   string // scheme://host:port of the site
	Client *http.Client
	Secret string
}

// NewBrowser is a browser for the site at base.
func NewBrowser(t testing.TB, base string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{T: t, Base: base, Client: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var (
	csrfField   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	secretField = regexp.MustCompile(`name="k" value="([^"]+)"`)
	// CodeOnPage finds the code on the waiting page.
	CodeOnPage = regexp.MustCompile(`<p class="code"[^>]*>([A-Z0-9]+)</p>`)
)

// Do sends a request for path, with form (POSTed by a form of the site:
// its Origin is set) when not nil, and more header name/value pairs, and
// returns the answer with its body read.
func (b *Browser) Do(method, path string, form url.Values, hdr ...string) (*http.Response, string) {
	b.T.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.Base+path, body)
	if err != nil {
		b.T.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.Base)
	}
	setHeaders(req, hdr)
	resp, out := send(b.T, b.Client, req)
	if m := secretField.FindStringSubmatch(out); m != nil {
		b.Secret = m[1]
	}
	return resp, out
}

// setHeaders sets header name/value pairs on req; "Host" sets the host
// the request names.
func setHeaders(req *http.Request, hdr []string) {
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
}

// send makes the request and reads the whole answer.
func send(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// FormToken fetches the login form, as a person would, and returns its
// token.
func (b *Browser) FormToken() string {
	b.T.Helper()
	_, body := b.Do("GET", Prefix+"login", nil)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.T.Fatalf("the login form has no token:\n%s", body)
	}
	return m[1]
}

// Submit fills in and posts the login form and returns the answer: the
// waiting page when the confirmation went out.
func (b *Browser) Submit(jid, ret string, hdr ...string) (*http.Response, string) {
	b.T.Helper()
	return b.Do("POST", Prefix+"login", url.Values{"jid": {jid}, "return": {ret}, "csrf": {b.FormToken()}}, hdr...)
}

// Outcome waits as the waiting page's script does: it long-polls status
// with the login's secret, which answers an approval itself (the session
// cookie set, the return path in the JSON); for any other outcome it posts
// the secret to the waiting page and returns that page.
func (b *Browser) Outcome() (*http.Response, string) {
	b.T.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, state := b.Do("POST", Prefix+"status", url.Values{"k": {b.Secret}})
		switch {
		case strings.Contains(state, `"approved"`):
			return resp, state
		case !strings.Contains(state, `"pending"`):
			return b.Continue()
		}
	}
	b.T.Fatal("login still pending after 20s")
	return nil, ""
}

// Continue presses the waiting page's button, as a browser without
// JavaScript does: the waiting page again, the outcome's page, or, once
// approved, a redirect with the session cookie.
func (b *Browser) Continue() (*http.Response, string) {
	b.T.Helper()
	return b.Do("POST", Prefix+"wait", url.Values{"k": {b.Secret}})
}

// ApprovedTo is where an approved login sends the visitor, read from the
// status answer Outcome returned, or "" when that answer is no approval
// with a session cookie named cookie.
func ApprovedTo(resp *http.Response, body, cookie string) string {
	hasCookie := false
	for _, c := range resp.Cookies() {
		hasCookie = hasCookie || c.Name == cookie && c.Value != ""
	}
	var a struct{ State, Location string }
	if !hasCookie || resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &a) != nil || a.State != "approved" {
		return ""
	}
	return a.Location
}

// APIClient is a script's HTTP client: it asks for JSON and follows no
// redirect; with keepCookies it keeps the session cookie a Basic login
// gets.
type APIClient struct {
	T      testing.TB
	Base   string
	Client *http.Client
}

// NewAPIClient is an API client for the site at base.
func NewAPIClient(t testing.TB, base string, keepCookies bool) *APIClient {
	c := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if keepCookies {
		c.Jar, _ = cookiejar.New(nil)
	}
	return &APIClient{T: t, Base: base, Client: c}
}

// Send makes one request; auth, when not empty, is the Authorization
// header. hdr are more header name/value pairs (Accept defaults to
// application/json; "Host" sets the request's host).
func (a *APIClient) Send(method, path, auth string, hdr ...string) (*http.Response, string) {
	a.T.Helper()
	req, err := http.NewRequest(method, a.Base+path, nil)
	if err != nil {
		a.T.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	setHeaders(req, hdr)
	return send(a.T, a.Client, req)
}

// SyncBuffer is a bytes.Buffer that a server, a subprocess or a logger
// may write while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
