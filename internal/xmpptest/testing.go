package xmpptest

import (
	"context"
	"errors"
	"testing"
	"time"
)

// NewProsody starts Prosody for one test and stops it (and removes its
// temporary folder) when the test ends.
//
// Under go test -short it skips the test. Otherwise a missing prosody is a
// test failure, not a skip, so CI cannot silently lose the end-to-end tests.
func NewProsody(t testing.TB, cfg Config) *Prosody {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: needs prosody; skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout+5*time.Second)
	defer cancel()
	p, err := StartProsody(ctx, cfg)
	if errors.Is(err, ErrNoProsody) {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("start prosody: %v", err)
	}
	t.Cleanup(func() {
		// Kill, not Stop: a graceful shutdown costs prosody about a second
		// and the data is thrown away anyway.
		_ = p.Kill()
		p.removeOwnDir()
	})
	return p
}

// NewUser registers local@Domain with password local+"pw", connects it with
// behaviour b, and closes it when the test ends.
func (p *Prosody) NewUser(t testing.TB, local string, b Behaviour, opts ...UserOption) *User {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Register(ctx, local, local+"pw"); err != nil {
		t.Fatal(err)
	}
	u, err := p.Connect(ctx, local, local+"pw", b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}
