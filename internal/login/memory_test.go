//go:build bench

package login

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
	"github.com/xepauth/caddy-xepauth/xepauth"
)

// pendingMemory is what n pending logins (asks to a user who never
// answers) cost in memory, per login: the heap (runtime.MemStats
// HeapAlloc, after a GC, before and after), and the goroutine stacks
// (StackInuse), which HeapAlloc does not count.
type pendingMemory struct {
	n             int
	heapPerLogin  float64
	stackPerLogin float64
}

func (m pendingMemory) String() string {
	return fmt.Sprintf("pending logins: %d, heap %.0f bytes each, goroutine stacks %.0f bytes each",
		m.n, m.heapPerLogin, m.stackPerLogin)
}

// measurePendingLogins starts a real Prosody, a component connected to it
// and a Silent user, then n logins through the gate's start path (the
// logins registry, which runs component.Ask in a goroutine per login), as
// flow.go does once the limits have let a login through. It waits until
// the component holds all n asks.
func measurePendingLogins(t testing.TB, n int) pendingMemory {
	t.Helper()
	p := xmpptest.NewServer(t, xmpptest.Config{})
	silent := p.NewUser(t, "silent", xmpptest.Silent)
	comp, err := xepauth.New(xepauth.Config{Server: p.ComponentAddr, Domain: p.ComponentDomain, Secret: p.ComponentSecret}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	comp.Start()
	t.Cleanup(func() { comp.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := comp.WaitConnected(ctx); err != nil {
		t.Fatalf("component did not connect: %v", err)
	}
	gctx, stop := context.WithCancel(context.Background())
	defer stop()
	ls := newLogins(time.Now)

	before := memNow()
	for range n {
		l := &login{jid: silent.JID, code: xepauth.NewCode(6), returnTo: "/wiki/Main_Page", site: "wiki.example.org", pre: newLoginID()}
		req := xepauth.Request{
			JID:    silent.JID,
			Site:   "wiki.example.org",
			URL:    "https://wiki.example.org/wiki/Main_Page",
			Method: "GET",
			Code:   l.code,
		}
		ls.start(gctx, comp, l, req, 10*time.Minute, func(xepauth.Outcome) {})
	}
	deadline := time.Now().Add(60 * time.Second)
	for comp.Pending() < n {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s the component holds %d asks of %d", comp.Pending(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Let the last stanzas leave the write buffers.
	time.Sleep(500 * time.Millisecond)
	after := memNow()
	runtime.KeepAlive(ls)
	return pendingMemory{
		n:             n,
		heapPerLogin:  float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n),
		stackPerLogin: float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n),
	}
}

func memNow() runtime.MemStats {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m
}

// TestPendingLoginMemory is the regression guard for the pending-login
// memory figure of the benchmarks: 1 000 pending logins at no more than 8 KB of heap each (the
// bar, checked by go run ./internal/cmd/bench with 10 000 of them, is
// 4 KB). XEPAUTH_PENDING_LOGINS and XEPAUTH_PENDING_LIMIT change the two
// numbers; the bench command sets them.
func TestPendingLoginMemory(t *testing.T) {
	n, limit := 1000, 8192.0
	if v, err := strconv.Atoi(os.Getenv("XEPAUTH_PENDING_LOGINS")); err == nil && v > 0 {
		n = v
	}
	if v, err := strconv.ParseFloat(os.Getenv("XEPAUTH_PENDING_LIMIT"), 64); err == nil && v > 0 {
		limit = v
	}
	m := measurePendingLogins(t, n)
	t.Log(m)
	if raceEnabled {
		// The race detector's bookkeeping makes every object larger.
		limit *= 4
	}
	if m.heapPerLogin > limit {
		t.Errorf("%v: want at most %.0f bytes of heap each", m, limit)
	}
}
