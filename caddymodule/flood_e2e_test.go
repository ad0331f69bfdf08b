package caddymodule_test

import (
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// loadBehindProxy loads the site with the default limits, trusting
// X-Forwarded-For from loopback, so a test can send logins from any
// client address.
func loadBehindProxy(t *testing.T, s *site) {
	t.Helper()
	var cfg map[string]any
	// Long enough that no login of the flood ends (and frees its place)
	// before the flood does, however slow the machine.
	if err := jsonUnmarshal(s.config(options{LoginTimeout: "10m"}), &cfg); err != nil {
		t.Fatal(err)
	}
	srv := cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)["gate"].(map[string]any)
	srv["trusted_proxies"] = map[string]any{"source": "static", "ranges": []string{"127.0.0.1/32"}}
	srv["client_ip_headers"] = []string{"X-Forwarded-For"}
	if err := caddyLoad(jsonMarshal(t, cfg)); err != nil {
		t.Fatal(err)
	}
	// The gate connects in the background; a flood sent before it has
	// would only measure the unreachable page.
	ready := s.p.NewUser(t, "ready", xmpptest.Approve)
	loginWorks(t, s, ready.JID.Bare().String(), 15*time.Second)
}

// flood posts n login forms, 16 at a time, with the one form token an
// attacker fetched; jid and ip pick each post's address and client IP.
// It returns how many posts got each status.
func flood(t *testing.T, s *site, n int, jid, ip func(i int) string) map[int]int {
	t.Helper()
	b := s.browser()
	token := b.FormToken()
	jar := b.Client.Jar
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	c := &http.Client{Jar: jar, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var mu sync.Mutex
	statuses := map[int]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				form := url.Values{"jid": {jid(i)}, "return": {"/"}, "csrf": {token}}
				req, _ := http.NewRequest("POST", b.Base+"/.xmpp-auth/login", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", b.Base)
				req.Header.Set("X-Forwarded-For", ip(i))
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return statuses
}

func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// countAsks counts the confirmation requests u receives until none has
// come for quiet.
func countAsks(u *xmpptest.User, quiet time.Duration) int {
	n := 0
	for {
		select {
		case <-u.Requests():
			n++
		case <-time.After(quiet):
			return n
		}
	}
}

func TestAFloodOfLoginsForOneAddressFromManyIPsAsksItOnlyAsTheLimitsAllow(t *testing.T) {
	const n = 10000
	s := newSite(t)
	loadBehindProxy(t, s)
	alice := s.p.NewUser(t, "alice", xmpptest.Silent)
	heap0 := heapAfterGC()
	start := time.Now()
	statuses := flood(t, s, n, func(int) string { return "alice@localhost" },
		func(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255) })
	took := time.Since(start)
	asks := countAsks(alice, time.Second)
	grew := int64(heapAfterGC()) - int64(heap0)
	t.Logf("%d posts in %v: %v; alice was asked %d times; heap grew %d kB", n, took.Round(time.Millisecond), statuses, asks, grew>>10)
	// Ten open at once for one address from every network together (the
	// default jid_all_open), all of them still open: alice never answers.
	if statuses[http.StatusOK] != 10 || asks != 10 || statuses[http.StatusTooManyRequests] != n-10 {
		t.Errorf("want 10 logins started and asked, %d refused with 429", n-10)
	}
	if grew > 8<<20 {
		t.Errorf("the heap grew by %d kB for %d refused posts", grew>>10, n)
	}
}

func TestAFloodOfLoginsForManyAddressesFromOneIPIsCutOff(t *testing.T) {
	const n = 10000
	s := newSite(t)
	loadBehindProxy(t, s)
	heap0 := heapAfterGC()
	start := time.Now()
	statuses := flood(t, s, n, func(i int) string { return fmt.Sprintf("u%d@localhost", i) },
		func(int) string { return "192.0.2.7" })
	took := time.Since(start)
	grew := int64(heapAfterGC()) - int64(heap0)
	t.Logf("%d posts in %v: %v; heap grew %d kB", n, took.Round(time.Millisecond), statuses, grew>>10)
	// Ten open at once from one IP (the default ip_open); the asks go to
	// accounts that do not exist, so some end (unreachable) and make room
	// while the flood goes on, up to thirty per window (ip_per_window).
	if started := statuses[http.StatusOK]; started < 10 || started > 30 || statuses[http.StatusTooManyRequests] != n-started {
		t.Errorf("want 10 to 30 logins started, the rest refused with 429")
	}
	if grew > 8<<20 {
		t.Errorf("the heap grew by %d kB for %d refused posts", grew>>10, n)
	}
}
