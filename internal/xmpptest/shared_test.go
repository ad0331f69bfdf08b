package xmpptest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestASharedServerServesTestsInTurnUntilClosed(t *testing.T) {
	skipShort(t)
	var sh Shared
	var first, second *Server
	t.Run("first", func(t *testing.T) {
		first = sh.Server(t)
		if again := sh.Server(t); again != first {
			t.Error("a test that asks twice got two servers")
		}
		first.NewUser(t, "alice", Approve, userOpts()...)
	})
	t.Run("second", func(t *testing.T) {
		second = sh.Server(t)
		if second != first {
			t.Fatal("the second test got a server of its own")
		}
		// The first test's alice was logged out; the account and its
		// password are still there for a new session.
		second.NewUser(t, "alice", Approve, userOpts()...)
	})
	if !first.Running() {
		t.Fatal("the server stopped between the tests")
	}
	dir := first.Dir
	sh.Close()
	if first.Running() {
		t.Error("Close left the server running")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Close left the server's folder %s: %v", dir, err)
	}
}

func TestATestAfterOneThatKilledTheSharedServerGetsARunningOne(t *testing.T) {
	skipShort(t)
	var sh Shared
	t.Cleanup(sh.Close)
	var killed *Server
	t.Run("killer", func(t *testing.T) {
		killed = sh.Server(t)
		if err := killed.Kill(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("next", func(t *testing.T) {
		p := sh.Server(t)
		if p == killed || !p.Running() {
			t.Fatal("the next test got the killed server")
		}
		p.NewUser(t, "bob", Approve, userOpts()...)
	})
}

func TestASecondTestCannotHoldTheSharedServerAtOnce(t *testing.T) {
	skipShort(t)
	var sh Shared
	t.Cleanup(sh.Close)
	sh.Server(t)
	other := &fatalRecorder{TB: t}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if p := sh.Server(other); p != nil {
			t.Error("a second test got the server while the first held it")
		}
	}()
	wg.Wait()
	if !strings.Contains(other.fatal, "must not run in parallel") {
		t.Errorf("the second test's failure: %q", other.fatal)
	}
}

// fatalRecorder is a test whose Fatal is recorded, and ends the goroutine
// that called it as testing.T's does.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}

// skipShort skips an end-to-end test of Shared under -short, as Server does
// inside it; the test itself must not go on without a server.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: needs an XMPP server; skipped under -short")
	}
}
