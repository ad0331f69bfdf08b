package xmpptest

import (
	"context"
	"testing"
	"time"
)

// NewServer starts the XMPP server named by $XEPAUTH_XMPP_SERVER
// ("prosody" when unset, or "ejabberd") for one test, and stops it (and
// removes its temporary folder) when the test ends. Setting the variable
// runs a whole end-to-end suite against the other server; any other value
// fails the test.
//
// Under go test -short it skips the test. Otherwise a missing server is a
// test failure, not a skip, so CI cannot silently lose the end-to-end tests.
func NewServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	kind, err := KindFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	return NewServerOf(t, kind, cfg)
}

// NewServerOf is NewServer for tests that need one particular server,
// whatever $XEPAUTH_XMPP_SERVER says.
func NewServerOf(t testing.TB, kind Kind, cfg Config) *Server {
	t.Helper()
	if testing.Short() {
		t.Skipf("end-to-end: needs %s; skipped under -short", kind)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout+5*time.Second)
	defer cancel()
	s, err := StartServer(ctx, kind, cfg)
	if err != nil {
		// ErrNoProsody and ErrNoEjabberd already say what to install.
		t.Fatalf("start %s: %v", kind, err)
	}
	t.Cleanup(func() {
		// Kill, not Stop: a graceful shutdown costs either server a second,
		// and the data is thrown away anyway.
		_ = s.Kill()
		s.removeOwnDir()
	})
	return s
}

// NewUser registers local@Domain with password local+"pw", connects it with
// behaviour b, and closes it when the test ends.
func (s *Server) NewUser(t testing.TB, local string, b Behaviour, opts ...UserOption) *User {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.Register(ctx, local, local+"pw"); err != nil {
		t.Fatal(err)
	}
	u, err := s.Connect(ctx, local, local+"pw", b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}
