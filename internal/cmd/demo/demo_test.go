package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xepauth/caddy-xepauth/internal/webtest"
	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// The end-to-end tests run the demo's own pieces against a real Prosody
// and act as a browser. None is parallel: caddy.Load is process-global.

// TestDemoApproves logs in through the gate with the approver on
// -auto approve, once by message (bare JID) and once by iq (full JID).
func TestDemoApproves(t *testing.T) {
	d := startTestDemo(t, autoApprove, nil)
	b := newBrowser(t, d)
	// An application cookie, to show the gate strips only its own.
	b.setCookie("theme", "dark")

	resp, body := b.get("/", "text/html")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `name="jid"`) {
		t.Fatalf("GET / without a session: %s, want 401 with a jid field; body:\n%s", resp.Status, body)
	}
	resp, _ = b.get("/", "application/json")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("GET / as an API client: %s %q, want 401 with WWW-Authenticate", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}

	if resp, body := b.login("alice@localhost", "/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("waiting page after approval: %s to %q, want 303 to /; body:\n%s", resp.Status, resp.Header.Get("Location"), body)
	}
	resp, body = b.get("/", "text/html")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Hello, alice@localhost") {
		t.Fatalf("GET / with a session: %s, want 200 with Hello, alice@localhost; body:\n%s", resp.Status, body)
	}
	seen := d.upstream.requests()
	if len(seen) != 1 {
		t.Fatalf("the upstream saw %d requests, want 1 (only the one with a session)", len(seen))
	}
	if seen[0].user != "alice@localhost" {
		t.Errorf("the upstream got %s %q, want alice@localhost", userHeader, seen[0].user)
	}
	if !slices.Contains(seen[0].cookies, "theme") {
		t.Errorf("the upstream got cookies %q, want the application's own theme cookie", seen[0].cookies)
	}
	for _, c := range gateCookies {
		if slices.Contains(seen[0].cookies, c) {
			t.Errorf("the upstream got the gate's cookie %s (cookies %q)", c, seen[0].cookies)
		}
	}
	if b.cookie("xmpp_auth") == "" {
		t.Error("the browser has no xmpp_auth session cookie")
	}

	// A full JID is asked by iq, which only this very session can answer.
	b2 := newBrowser(t, d)
	if resp, body := b2.login(d.alice.JID.String(), "/private?x=1"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/private?x=1" {
		t.Fatalf("iq login: %s to %q, want 303 to /private?x=1; body:\n%s", resp.Status, resp.Header.Get("Location"), body)
	}
	if resp, body := b2.get("/private?x=1", "text/html"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Hello, alice@localhost") {
		t.Fatalf("GET /private after the iq login: %s; body:\n%s", resp.Status, body)
	}
}

// TestDemoDenies checks that -auto deny ends both kinds of login on the
// "refused" page, and that nothing reaches the upstream.
func TestDemoDenies(t *testing.T) {
	d := startTestDemo(t, autoDeny, nil)
	for _, who := range []string{"alice@localhost", d.alice.JID.String()} {
		b := newBrowser(t, d)
		resp, body := b.login(who, "/")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("login as %s: waiting page ends with %s, want 403; body:\n%s", who, resp.Status, body)
		}
		if resp, _ := b.get("/", "text/html"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET / after a denied login as %s: %s, want 401", who, resp.Status)
		}
	}
	if n := len(d.upstream.requests()); n != 0 {
		t.Errorf("the upstream saw %d requests after denied logins, want 0", n)
	}
}

// TestDemoAsks drives the interactive approver through its line mode
// (what it uses when stdin is not a terminal): a wrong answer is asked
// again, then y approves and n denies.
func TestDemoAsks(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	d := startTestDemo(t, ask, &keyboard{out: io.Discard, lines: readLines(r)})

	if _, err := io.WriteString(w, "maybe\ny\n"); err != nil {
		t.Fatal(err)
	}
	if resp, body := newBrowser(t, d).login("alice@localhost", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("answered maybe, then y: %s, want 303; body:\n%s", resp.Status, body)
	}
	if _, err := io.WriteString(w, "n\n"); err != nil {
		t.Fatal(err)
	}
	if resp, body := newBrowser(t, d).login("alice@localhost", "/"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("answered n: %s, want 403; body:\n%s", resp.Status, body)
	}
	// With the input gone nobody can approve: the approver denies.
	w.Close()
	if resp, body := newBrowser(t, d).login("alice@localhost", "/"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("input closed: %s, want 403; body:\n%s", resp.Status, body)
	}
}

// startTestDemo starts the demo on a free port with an approver running
// until the test ends. Like xmpptest.NewServer it skips under -short and
// fails, rather than skips, when prosody is missing.
func startTestDemo(t *testing.T, pol policy, keys *keyboard) *demo {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: needs prosody; skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := new(webtest.SyncBuffer)
	d, err := startDemo(ctx, freeAddr(t), out)
	if errors.Is(err, xmpptest.ErrNoProsody) {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("start the demo: %v\n%s", err, out)
	}

	runCtx, stop := context.WithCancel(context.Background())
	a := &approver{alice: d.alice, policy: pol, keys: keys, out: out}
	done := make(chan error, 1)
	go func() { done <- a.run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("approver: %v", err)
		}
		if err := d.close(); err != nil {
			t.Errorf("stop the demo: %v", err)
		}
		if _, err := os.Stat(d.dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the demo's folder %s is still there after close (stat: %v)", d.dir, err)
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", out)
		}
	})
	return d
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string { return webtest.FreeAddr(t) }

// browser is webtest's browser on the demo's site, with the demo's own
// ways: a cookie of the application's, and a login as a browser without
// JavaScript makes it.
type browser struct {
	*webtest.Browser
	base *url.URL
}

func newBrowser(t *testing.T, d *demo) *browser {
	t.Helper()
	base, err := url.Parse(d.siteURL())
	if err != nil {
		t.Fatal(err)
	}
	return &browser{Browser: webtest.NewBrowser(t, strings.TrimSuffix(d.siteURL(), "/")), base: base}
}

func (b *browser) setCookie(name, value string) {
	b.Client.Jar.SetCookies(b.base, []*http.Cookie{{Name: name, Value: value}})
}

// cookie returns the value the browser would send to / for name.
func (b *browser) cookie(name string) string {
	for _, c := range b.Client.Jar.Cookies(b.base) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) get(path, accept string) (*http.Response, string) {
	b.T.Helper()
	return b.Do(http.MethodGet, path, nil, "Accept", accept)
}

// login posts the login form as the page would and then its waiting
// page's continue button until the answer stops saying "pending" (200); it
// returns that last answer.
func (b *browser) login(jid, ret string) (*http.Response, string) {
	b.T.Helper()
	// The demo waits for the component to answer a ping; it carries logins
	// a moment later, once it has checked it is alone on its domain.
	resp, body := b.Submit(jid, ret)
	for deadline := time.Now().Add(5 * time.Second); resp.StatusCode == http.StatusServiceUnavailable && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		resp, body = b.Submit(jid, ret)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `class="code"`) || b.Secret == "" {
		b.T.Fatalf("POST login as %s: %s, want 200 with the waiting page and its login secret; body:\n%s", jid, resp.Status, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, body := b.Continue()
		if resp.StatusCode != http.StatusOK {
			return resp, body
		}
		if time.Now().After(deadline) {
			b.T.Fatalf("login as %s: still pending after 20s; body:\n%s", jid, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAnswerXML parses every answer built from hostile values and checks
// it says what it should, with the values intact.
func TestAnswerXML(t *testing.T) {
	base := xmpptest.Request{
		From: `auth.localhost/x'y"&<z>`, StanzaID: `id'&"1`,
		ID: `AB'C<D`, Method: "GET", URL: `http://h/p?a=1&b='2'"<3>`,
	}
	for _, tc := range []struct {
		kind    string
		approve bool
		typ     string
	}{
		{"iq", true, "result"},
		{"iq", false, "error"},
		{"message", true, "normal"},
		{"message", false, "error"},
	} {
		r := base
		r.Kind = tc.kind
		if tc.kind == "message" {
			r.Thread = `th<&>'"`
		}
		raw, err := answerXML(r, tc.approve)
		if err != nil {
			t.Fatalf("%s approve=%v: %v", tc.kind, tc.approve, err)
		}
		var got struct {
			XMLName xml.Name
			Type    string `xml:"type,attr"`
			To      string `xml:"to,attr"`
			ID      string `xml:"id,attr"`
			Thread  string `xml:"thread"`
			Confirm *struct {
				ID     string `xml:"id,attr"`
				Method string `xml:"method,attr"`
				URL    string `xml:"url,attr"`
			} `xml:"http://jabber.org/protocol/http-auth confirm"`
			Error *struct {
				Type          string    `xml:"type,attr"`
				NotAuthorized *struct{} `xml:"urn:ietf:params:xml:ns:xmpp-stanzas not-authorized"`
			} `xml:"error"`
		}
		if err := xml.Unmarshal([]byte(raw), &got); err != nil {
			t.Fatalf("%s approve=%v: %v in %s", tc.kind, tc.approve, err, raw)
		}
		if got.XMLName.Local != tc.kind || got.Type != tc.typ || got.To != r.From {
			t.Errorf("%s approve=%v: <%s type=%q to=%q>, want <%s type=%q to=%q>", tc.kind, tc.approve,
				got.XMLName.Local, got.Type, got.To, tc.kind, tc.typ, r.From)
		}
		if (tc.kind == "iq" || !tc.approve) && got.ID != r.StanzaID {
			t.Errorf("%s approve=%v: id %q, want %q", tc.kind, tc.approve, got.ID, r.StanzaID)
		}
		if got.Thread != r.Thread {
			t.Errorf("%s approve=%v: thread %q, want %q", tc.kind, tc.approve, got.Thread, r.Thread)
		}
		wantConfirm := tc.kind != "iq" || !tc.approve
		switch {
		case wantConfirm && got.Confirm == nil:
			t.Errorf("%s approve=%v: no <confirm/> in %s", tc.kind, tc.approve, raw)
		case wantConfirm && (got.Confirm.ID != r.ID || got.Confirm.Method != r.Method || got.Confirm.URL != r.URL):
			t.Errorf("%s approve=%v: confirm %+v, want the request's", tc.kind, tc.approve, *got.Confirm)
		}
		if tc.approve != (got.Error == nil) {
			t.Errorf("%s approve=%v: error element present = %v", tc.kind, tc.approve, got.Error != nil)
		}
		if got.Error != nil && (got.Error.Type != "auth" || got.Error.NotAuthorized == nil) {
			t.Errorf("%s approve=%v: error %+v, want auth/not-authorized", tc.kind, tc.approve, *got.Error)
		}
	}

	if _, err := answerXML(xmpptest.Request{Kind: "iq", StanzaID: "1"}, true); err == nil {
		t.Error("a request without a sender got an answer")
	}
}

func TestParsePolicyAndListen(t *testing.T) {
	for in, want := range map[string]policy{"": ask, "approve": autoApprove, "deny": autoDeny} {
		if got, err := parsePolicy(in); err != nil || got != want {
			t.Errorf("parsePolicy(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parsePolicy("yes"); err == nil {
		t.Error(`parsePolicy("yes") accepted`)
	}
	for _, ok := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost:1", "127.0.0.2:65535"} {
		if err := checkListen(ok); err != nil {
			t.Errorf("checkListen(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{":8080", "0.0.0.0:8080", "192.0.2.1:80", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:http", "example.org:80"} {
		if err := checkListen(bad); err == nil {
			t.Errorf("checkListen(%q) accepted", bad)
		}
	}
}

func TestFontCoversCodes(t *testing.T) {
	// xepauth.NewCode's alphabet, plus the characters it leaves out.
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for _, r := range chars {
		rows := strings.Split(font[r], "|")
		if len(rows) != fontRows {
			t.Errorf("glyph %c has %d rows, want %d", r, len(rows), fontRows)
		}
		for _, row := range rows {
			if len(row) != 5 {
				t.Errorf("glyph %c row %q is not 5 wide", r, row)
			}
		}
	}
	if got := bigText("ab2"); len(got) != fontRows {
		t.Errorf("bigText(ab2) = %d rows", len(got))
	}
	for _, s := range []string{"", "A-B", "ÄB", strings.Repeat("A", maxBig+1)} {
		if got := bigText(s); got != nil {
			t.Errorf("bigText(%q) = %q, want nil", s, got)
		}
	}
}

func TestRequestBoxIsSafeToPrint(t *testing.T) {
	box := requestBox(xmpptest.Request{
		Kind: "message", From: "auth.localhost\x1b]0;owned\x07", ID: "ABC234", Method: "GET",
		URL: "http://127.0.0.1:8080/" + strings.Repeat("x", 300) + "\x1b[2J",
	}, "alice@localhost/r")
	if strings.ContainsAny(box, "\x1b\x07") {
		t.Errorf("the box passes control characters to the terminal:\n%q", box)
	}
	lines := strings.Split(strings.Trim(box, "\n"), "\n")
	width := utf8.RuneCountInString(lines[0])
	for _, l := range lines {
		if utf8.RuneCountInString(l) != width {
			t.Errorf("ragged box line %q", l)
		}
	}
	if width > 120 {
		t.Errorf("box is %d wide, want at most 120", width)
	}
	if !strings.Contains(box, "ABC234") || !strings.Contains(box, "█") {
		t.Errorf("the box lacks the code:\n%s", box)
	}
}

func TestKeyboardLines(t *testing.T) {
	var out bytes.Buffer
	k := &keyboard{out: &out, lines: readLines(strings.NewReader("maybe\n Yes \nN\n"))}
	ctx := context.Background()
	if got, err := k.ask(ctx); err != nil || !got {
		t.Errorf("maybe, Yes: %v, %v; want true", got, err)
	}
	if !strings.Contains(out.String(), "y or n") {
		t.Errorf("a wrong answer was not asked again; output %q", out.String())
	}
	if got, err := k.ask(ctx); err != nil || got {
		t.Errorf("N: %v, %v; want false", got, err)
	}
	if _, err := k.ask(ctx); !errors.Is(err, errNoInput) {
		t.Errorf("at the end of input: %v, want errNoInput", err)
	}

	r, w := io.Pipe()
	defer w.Close()
	k = &keyboard{out: io.Discard, lines: readLines(r)}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := k.ask(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
}
