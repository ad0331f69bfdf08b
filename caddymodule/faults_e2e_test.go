package caddymodule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// manyLimits lets n logins for one address from one client be open at
// once: the fault tests start many, and the limits are not what they test.
func manyLimits(n int) map[string]any {
	return map[string]any{"jid_open": n + 10, "jid_per_window": 4*n + 100, "jid_all_open": n + 10, "ip_open": n + 10, "ip_per_window": 4*n + 100, "max_pending": 4*n + 100}
}

// startPending starts n logins for jid, each from its own browser, and
// waits until u has received all n confirmation requests.
func startPending(t *testing.T, s *site, u *xmpptest.User, jid string, n int) ([]*browser, []xmpptest.Request) {
	t.Helper()
	browsers := make([]*browser, n)
	for i := range browsers {
		browsers[i] = s.browser()
		if resp, body := browsers[i].Submit(jid, fmt.Sprintf("/page/%d", i)); resp.StatusCode != http.StatusOK {
			t.Fatalf("login %d: %d\n%.300s", i, resp.StatusCode, body)
		}
	}
	reqs := make([]xmpptest.Request, n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range reqs {
		r, err := u.NextRequest(ctx)
		if err != nil {
			t.Fatalf("request %d of %d: %v", i+1, n, err)
		}
		reqs[i] = r
	}
	return browsers, reqs
}

// pollAll long-polls status for every browser at once and returns each
// answer's state and when it came.
func pollAll(browsers []*browser) ([]string, []time.Time) {
	states, at := make([]string, len(browsers)), make([]time.Time, len(browsers))
	var wg sync.WaitGroup
	for i, b := range browsers {
		wg.Go(func() {
			_, body := b.Do("POST", "/.xmpp-auth/status", url.Values{"k": {b.Secret}})
			var a struct{ State string }
			_ = json.Unmarshal([]byte(body), &a)
			states[i], at[i] = a.State, time.Now()
		})
	}
	wg.Wait()
	return states, at
}

// loginWorks logs a new browser in as u (who approves) within d: what a
// visitor sees once the XMPP side is back.
func loginWorks(t *testing.T, s *site, jid string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		b := s.browser()
		resp, body := b.Submit(jid, "/")
		if resp.StatusCode == http.StatusOK {
			if resp, body := b.Outcome(); approvedTo(resp, body) == "/" {
				return time.Since(start)
			}
		}
		if time.Since(start) > d {
			t.Fatalf("no login within %v; last answer %d\n%.300s", d, resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestServerKilledDuring100PendingLoginsEndsThemAllUnreachable(t *testing.T) {
	const n = 100
	s := newSiteWithOwnServer(t)
	loadWithLimits(t, s, manyLimits(n))
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	browsers, _ := startPending(t, s, alice, "alice@localhost", n)

	polled := make(chan struct{})
	var states []string
	var at []time.Time
	go func() { states, at = pollAll(browsers); close(polled) }()
	time.Sleep(200 * time.Millisecond) // every poll is held open
	killed := time.Now()
	if err := s.p.Kill(); err != nil {
		t.Fatal(err)
	}
	<-polled
	var slowest time.Duration
	for i := range states {
		if states[i] != "unreachable" {
			t.Errorf("login %d ended %q, want unreachable", i, states[i])
		}
		slowest = max(slowest, at[i].Sub(killed))
	}
	t.Logf("%d pending logins ended unreachable; the last %v after the kill", n, slowest)
	if slowest > 2*time.Second {
		t.Errorf("the last login ended %v after the kill, want within 2s", slowest)
	}
	// The waiting page says so too, with a way to try again.
	if resp, body := browsers[0].Do("POST", "/.xmpp-auth/wait", url.Values{"k": {browsers[0].Secret}}); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `href="/page/0"`) {
		t.Errorf("waiting page after the kill: %d\n%.300s", resp.StatusCode, body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	bob := s.p.NewUser(t, "bob", xmpptest.Approve)
	t.Logf("a new login worked %v after the restart", loginWorks(t, s, bob.JID.Bare().String(), 15*time.Second))
}

func TestServerPausedFor5sThenLoginsWorkAgain(t *testing.T) {
	s := newSiteWithOwnServer(t)
	loadWithLimits(t, s, manyLimits(50))
	alice := s.p.NewUser(t, "alice", xmpptest.Approve)
	loginWorks(t, s, alice.JID.Bare().String(), 10*time.Second)

	if err := s.p.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	// Asks sent into the frozen server: the gate must neither hang nor
	// break its connection for good.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			b := s.browser()
			if resp, body := b.Submit("alice@localhost", fmt.Sprintf("/p/%d", i)); resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("a login while the server is paused: %d\n%.300s", resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	time.Sleep(5*time.Second - time.Since(paused))
	if err := s.p.Resume(); err != nil {
		t.Fatal(err)
	}
	// Within the backoff (at most 5 s) and a login's own round trip.
	t.Logf("a login worked %v after SIGCONT", loginWorks(t, s, alice.JID.Bare().String(), 10*time.Second))
}

// logToFile points Caddy's default log at a file, at INFO, and returns its
// path: what an operator reads.
func logToFile(t *testing.T, cfg map[string]any) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "caddy.log")
	cfg["logging"] = map[string]any{"logs": map[string]any{"default": map[string]any{
		"level": "INFO", "writer": map[string]any{"output": "file", "filename": path}}}}
	return path
}

// logLines returns the log's entries at level whose message mentions the
// XMPP server.
func logLines(t *testing.T, path, level string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range bytes.Split(b, []byte("\n")) {
		var e map[string]any
		if json.Unmarshal(line, &e) == nil && e["level"] == level && strings.Contains(fmt.Sprint(e["msg"]), "XMPP server") {
			out = append(out, e)
		}
	}
	return out
}

func TestAComponentTheServerRefusesIsOneClearLogLineAndAnUnavailablePage(t *testing.T) {
	s := newSite(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, app map[string]any)
		cause string // in the logged error or its hint, per server
	}{
		{"wrong secret", func(t *testing.T, app map[string]any) { app["secret"] = "not-the-secret" },
			"not-authorized"},
		{"unknown domain", func(t *testing.T, app map[string]any) { app["domain"] = "nosuch.localhost" },
			map[bool]string{true: "host-unknown", false: "not-authorized"}[s.p.Kind == xmpptest.KindProsody]},
		{"domain taken by another process", func(t *testing.T, app map[string]any) {
			other, err := xmpptest.DialRawComponent(context.Background(), s.p.ComponentAddr, s.p.ComponentDomain, s.p.ComponentSecret)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
		}, map[bool]string{true: "conflict", false: "another connection serves this component domain"}[s.p.Kind == xmpptest.KindProsody]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg map[string]any
			if err := jsonUnmarshal(s.config(options{}), &cfg); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, cfg["apps"].(map[string]any)["xmpp_auth"].(map[string]any))
			logPath := logToFile(t, cfg)
			if err := caddyLoad(jsonMarshal(t, cfg)); err != nil {
				t.Fatalf("the config loads whatever the XMPP server says: %v", err)
			}
			t.Cleanup(func() { _ = caddy.Stop() })
			time.Sleep(4 * time.Second) // several redials at the default backoff

			errs := logLines(t, logPath, "error")
			if len(errs) != 1 {
				t.Fatalf("%d ERROR lines about the XMPP server, want 1: %v", len(errs), errs)
			}
			if line := fmt.Sprint(errs[0]); !strings.Contains(line, tt.cause) || errs[0]["hint"] == "" {
				t.Errorf("the ERROR line does not name the cause %q with a hint: %s", tt.cause, line)
			}
			t.Logf("logged: %s; hint: %s", errs[0]["error"], errs[0]["hint"])

			b := s.browser()
			if resp, body := b.Do("GET", "/", nil); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `name="jid"`) {
				t.Errorf("Caddy stopped serving the login page: %d", resp.StatusCode)
			}
			if resp, body := b.Submit("alice@localhost", "/"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "could not be reached") {
				t.Errorf("a login while the XMPP side is down: %d\n%.400s", resp.StatusCode, body)
			}
		})
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// componentConns counts the established TCP connections to addr's port,
// as the kernel lists them: the gate must hold exactly one.
func componentConns(t *testing.T, addr string) int {
	t.Helper()
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		// local, remote, state: 01 is ESTABLISHED; our side is the one
		// whose remote port is the component port.
		if len(f) > 3 && f[3] == "01" && strings.HasSuffix(f[2], fmt.Sprintf(":%04X", p)) {
			n++
		}
	}
	return n
}

// settled waits until f drops to at most want, or 5 s, and returns its
// last value: goroutines and descriptors take a moment to go.
func settled(want int, f func() int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		v := f()
		if v <= want || time.Now().After(deadline) {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTenReloadsDuring100PendingLoginsLoseNothingAndLeakNothing(t *testing.T) {
	const n = 100
	s := newSite(t)
	adminAddr := freeAddr(t)
	config := func(lifetime string) []byte {
		var cfg map[string]any
		if err := jsonUnmarshal(s.config(options{Lifetime: lifetime, LoginTimeout: "60s"}), &cfg); err != nil {
			t.Fatal(err)
		}
		cfg["admin"] = map[string]any{"listen": adminAddr}
		cfg["apps"].(map[string]any)["xmpp_auth"].(map[string]any)["limits"] = manyLimits(n)
		return jsonMarshal(t, cfg)
	}
	if err := caddyLoad(config("1h")); err != nil {
		t.Fatal(err)
	}
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	// One login first, so that everything lazily made exists before the
	// counts are taken.
	_, warm := startPending(t, s, alice, "alice@localhost", 1)
	approve(t, alice, warm[0])
	time.Sleep(200 * time.Millisecond)
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	runtime.GC()
	goroutines0, fds0 := runtime.NumGoroutine(), openFDs(t)

	browsers, reqs := startPending(t, s, alice, "alice@localhost", n)
	for i := range 10 {
		resp, err := http.Post("http://"+adminAddr+"/load", "application/json", bytes.NewReader(config(fmt.Sprintf("%dh", i+2))))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("reload %d: %s", i+1, resp.Status)
		}
	}
	if c := componentConns(t, s.p.ComponentAddr); c != 1 {
		t.Errorf("%d component connections after 10 reloads, want 1", c)
	}
	for _, r := range reqs {
		approve(t, alice, r)
	}
	states, _ := pollAll(browsers)
	for i, st := range states {
		if st != "approved" {
			t.Errorf("login %d ended %q after the reloads, want approved", i, st)
		}
	}
	for _, b := range browsers {
		b.Client.CloseIdleConnections()
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	slack := 10 // the runtime's and the HTTP server's own, which come and go
	goroutines1 := settled(goroutines0+slack, func() int { runtime.GC(); return runtime.NumGoroutine() })
	fds1 := settled(fds0+slack, func() int { return openFDs(t) })
	t.Logf("goroutines %d → %d, file descriptors %d → %d, component connections %d, over 10 reloads and %d logins",
		goroutines0, goroutines1, fds0, fds1, componentConns(t, s.p.ComponentAddr), n)
	if goroutines1 > goroutines0+slack || fds1 > fds0+slack {
		buf := make([]byte, 1<<20)
		t.Errorf("leak: goroutines %d → %d, descriptors %d → %d\n%s", goroutines0, goroutines1, fds0, fds1, buf[:runtime.Stack(buf, true)])
	}
}

func TestACaddyRestartKeepsSessionsAndEndsPendingLoginsCleanly(t *testing.T) {
	s := newSite(t)
	s.load(options{StoredKey: true})
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	in := s.browser()
	_, reqs := startPendingFor(t, s, in, alice)
	approve(t, alice, reqs)
	if resp, body := in.Outcome(); approvedTo(resp, body) == "" {
		t.Fatalf("login: %d\n%s", resp.StatusCode, body)
	}
	waiting := s.browser()
	startPendingFor(t, s, waiting, alice)

	if err := caddy.Stop(); err != nil { // nothing survives but storage
		t.Fatal(err)
	}
	s.load(options{StoredKey: true})
	if resp, body := in.Do("GET", "/", nil); resp.StatusCode != http.StatusOK || body != "hello alice@localhost" {
		t.Errorf("a session after the restart: %d %q", resp.StatusCode, body)
	}
	if _, state := waiting.Do("POST", "/.xmpp-auth/status", url.Values{"k": {waiting.Secret}}); !strings.Contains(state, `"gone"`) {
		t.Errorf("a pending login's poll after the restart: %s, want gone", state)
	}
	if resp, body := waiting.Do("POST", "/.xmpp-auth/wait", url.Values{"k": {waiting.Secret}}); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "Start again") {
		t.Errorf("a pending login's waiting page after the restart: %d\n%.400s", resp.StatusCode, body)
	}
}

// startPendingFor starts one login as u in browser b and returns the
// waiting page and the request u got.
func startPendingFor(t *testing.T, s *site, b *browser, u *xmpptest.User) (string, xmpptest.Request) {
	t.Helper()
	resp, body := b.Submit(u.JID.Bare().String(), "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d\n%.300s", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := u.NextRequest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return body, r
}
