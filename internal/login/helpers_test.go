package login

import (
	"context"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/internal/session"
	"github.com/xepauth/caddy-xepauth/xepauth"
)

// fakeAsker stands in for the XMPP component in unit tests: connected
// unless told otherwise, on auth.example.org, and answering every ask
// with outcome (or, when wait is set, only when ctx ends, as a person who
// never answers).
type fakeAsker struct {
	down    bool
	outcome xepauth.Outcome
	wait    bool
	asked   chan xepauth.Request
	answers chan xepauth.Outcome // when set, each ask waits for one of these
}

func (f *fakeAsker) Ask(ctx context.Context, req xepauth.Request) xepauth.Outcome {
	if f.asked != nil {
		f.asked <- req
	}
	switch {
	case f.answers != nil:
		select {
		case o := <-f.answers:
			return o
		case <-ctx.Done():
			return xepauth.Outcome{Result: xepauth.Timeout}
		}
	case f.wait:
		<-ctx.Done()
		return xepauth.Outcome{Result: xepauth.Timeout}
	}
	return f.outcome
}

func (f *fakeAsker) Connected() bool { return !f.down }
func (f *fakeAsker) Domain() jid.JID { return jid.MustParse("auth.example.org") }

// testSecret is the secret of the test ring's key.
const testSecret = "an-example-session-key-of-at-least-32-bytes"

func testRing(t testing.TB, secrets ...string) *session.Ring {
	t.Helper()
	if len(secrets) == 0 {
		secrets = []string{testSecret}
	}
	var keys []session.Key
	for _, s := range secrets {
		k, err := session.KeyFromSecret([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	r, err := session.NewRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// testService is a Service around asker (a connected fakeAsker when nil)
// with the clock now (the system clock when nil), closed when the test
// ends.
func testService(t testing.TB, asker Asker, now func() time.Time) *Service {
	t.Helper()
	if asker == nil {
		asker = &fakeAsker{}
	}
	svc := NewService(asker, now, nil)
	t.Cleanup(svc.Close)
	return svc
}

// testGate makes a gate with NewGate, as the server does: cfg with the
// test ring when it has none.
func testGate(t testing.TB, svc *Service, cfg Config, env Env) *Gate {
	t.Helper()
	if cfg.Ring == nil {
		cfg.Ring = testRing(t)
	}
	g, err := NewGate(svc, cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// memStorage is a Storage in memory.
type memStorage struct {
	mu     sync.Mutex
	m      map[string][]byte
	stores int // Store calls
}

func newMemStorage() *memStorage { return &memStorage{m: map[string][]byte{}} }

func (s *memStorage) Store(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stores++
	s.m[key] = append([]byte(nil), value...)
	return nil
}

func (s *memStorage) Load(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return v, nil
}

func (s *memStorage) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

func (s *memStorage) List(_ context.Context, prefix string, _ bool) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.m {
		if strings.HasPrefix(k, prefix+"/") {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fs.ErrNotExist
	}
	sort.Strings(keys)
	return keys, nil
}

func (s *memStorage) Lock(context.Context, string) error   { return nil }
func (s *memStorage) Unlock(context.Context, string) error { return nil }

func (s *memStorage) writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stores
}
