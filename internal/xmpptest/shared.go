package xmpptest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Shared is one server that the tests of a package take turns on, so that
// a suite of many short end-to-end tests does not start a server for each:
// ejabberd takes over a second to start, more than most of those tests
// take to run. The first test that asks starts it; the package's TestMain
// stops it with Close after m.Run.
//
// Taking turns is safe because the servers keep nothing a test could trip
// over from an earlier one: they store no offline messages, so a stanza
// sent to a user of an ended test is bounced, not delivered to the next
// test's user of the same name; Register sets the password of an account
// that exists; and users made with NewUser are logged out when their test
// ends. What sharing cannot give, a test gets from NewServer instead: a
// test that stops, kills, pauses or restarts the server, or needs another
// Config. If a test leaves the shared server not running anyway, the next
// test gets a new one rather than a dead one.
//
// The zero Shared runs the server named by $XEPAUTH_XMPP_SERVER with the
// default Config. Tests that share one must not run in parallel: a second
// test asking while another holds it fails.
type Shared struct {
	// Config is the configuration of the server; set it before first use.
	Config Config

	mu     sync.Mutex
	srv    *Server
	holder testing.TB // the test the server is lent to, or nil
}

// Server returns the shared server for t, starting it if there is none,
// and lends it to t until t ends; t may ask again meanwhile. Like NewServer, it skips t under
// go test -short and fails it when the server is not installed.
func (sh *Shared) Server(t testing.TB) *Server {
	t.Helper()
	kind, err := KindFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if testing.Short() {
		t.Skipf("end-to-end: needs %s; skipped under -short", kind)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.holder == t {
		return sh.srv
	}
	if sh.holder != nil {
		t.Fatal("xmpptest: a shared server was asked for by a test while another test held it; tests that share one must not run in parallel")
	}
	if sh.srv != nil && !sh.srv.Running() {
		sh.discardLocked()
	}
	if sh.srv == nil {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout+5*time.Second)
		defer cancel()
		srv, err := StartServer(ctx, kind, sh.Config)
		if err != nil {
			// ErrNoProsody and ErrNoEjabberd already say what to install.
			t.Fatalf("start %s: %v", kind, err)
		}
		sh.srv = srv
	}
	sh.holder = t
	t.Cleanup(func() {
		sh.mu.Lock()
		sh.holder = nil
		sh.mu.Unlock()
	})
	return sh.srv
}

// Close stops the shared server, if one was started, and removes its
// temporary folder.
func (sh *Shared) Close() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.srv != nil {
		sh.discardLocked()
	}
}

func (sh *Shared) discardLocked() {
	// Kill, not Stop, as NewServer's cleanup: the data is thrown away.
	_ = sh.srv.Kill()
	sh.srv.removeOwnDir()
	sh.srv = nil
}
