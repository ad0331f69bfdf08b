package openid_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/internal/login"
	"github.com/xepauth/caddy-xepauth/internal/openid"
	"github.com/xepauth/caddy-xepauth/internal/session"
	"github.com/xepauth/caddy-xepauth/xepauth"
)

// approver is an XMPP side where every address approves at once, as the
// person would in their client: the provider's tests are about what comes
// after (the real XMPP round trip is the gate's, tested with Prosody and
// ejabberd in internal/login and end to end in caddymodule).
type approver struct{ asked atomic.Int32 }

func (a *approver) Ask(_ context.Context, req xepauth.Request) xepauth.Outcome {
	a.asked.Add(1)
	return xepauth.Outcome{Result: xepauth.Approved, By: req.JID, Via: "iq"}
}
func (a *approver) Connected() bool { return true }
func (a *approver) Domain() jid.JID { return jid.MustParse("auth.example.org") }

// memStorage is a login.Storage in memory.
type memStorage struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemStorage() *memStorage { return &memStorage{m: map[string][]byte{}} }

func (s *memStorage) Store(_ context.Context, k string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = append([]byte(nil), v...)
	return nil
}
func (s *memStorage) Load(_ context.Context, k string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return append([]byte(nil), v...), nil
}
func (s *memStorage) Delete(_ context.Context, k string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
	return nil
}
func (s *memStorage) List(_ context.Context, p string, _ bool) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.m {
		if strings.HasPrefix(k, p) {
			out = append(out, k)
		}
	}
	return out, nil
}
func (s *memStorage) Lock(context.Context, string) error   { return nil }
func (s *memStorage) Unlock(context.Context, string) error { return nil }

// rig is a provider on a plain net/http server, with its gate, and what
// the test needs to reach inside.
type rig struct {
	t        *testing.T
	srv      *httptest.Server
	issuer   string
	provider *openid.Provider
	storage  *memStorage
	asker    *approver
	clock    *clock
	svc      *login.Service
	store    *openid.Store
	handler  *atomic.Pointer[openid.Provider]
}

// clock is a settable time source.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock() *clock {
	c := &clock{}
	c.set(time.Now())
	return c
}
func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

const testSessionKey = "+xE4tok5l2S0IejtCbxLUW2VMLXnnKOQ9XmMilx8BWQ="

// newRig serves a provider of cfg (its Issuer set to the server's URL)
// whose gate has gcfg.
func newRig(t *testing.T, cfg openid.Config, gcfg login.Config) *rig {
	t.Helper()
	rg := &rig{t: t, storage: newMemStorage(), asker: &approver{}, clock: newClock(), store: openid.NewStore()}
	var h atomic.Pointer[openid.Provider]
	rg.handler = &h
	rg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := h.Load()
		if !p.Owns(r) {
			http.NotFound(w, r)
			return
		}
		if err := p.ServeHTTP(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	t.Cleanup(rg.srv.Close)
	rg.issuer = rg.srv.URL
	rg.svc = login.NewService(rg.asker, rg.clock.now, nil)
	t.Cleanup(rg.svc.Close)
	rg.svc.Commit(login.DefaultLimits, rg.storage, time.Hour)
	rg.svc.Start()
	if err := rg.reload(cfg, gcfg); err != nil {
		t.Fatal(err)
	}
	return rg
}

// reload makes the provider of cfg and gcfg, as a config reload does: the
// same service, store and storage; an Issuer of cfg is a path under the
// server's URL, or a whole https URL.
func (rg *rig) reload(cfg openid.Config, gcfg login.Config) error {
	t := rg.t
	t.Helper()
	switch {
	case cfg.Issuer == "":
		cfg.Issuer = rg.issuer
	case !strings.HasPrefix(cfg.Issuer, "https://"):
		cfg.Issuer = rg.issuer + cfg.Issuer
	}
	k, err := session.KeyFromSecret([]byte(testSessionKey))
	if err != nil {
		t.Fatal(err)
	}
	if gcfg.Ring, err = session.NewRing(k); err != nil {
		t.Fatal(err)
	}
	// The client IP is the test's to choose, as behind a trusted proxy.
	env := login.Env{ClientIP: func(r *http.Request) string {
		if ip := r.Header.Get("X-Test-Client-IP"); ip != "" {
			return ip
		}
		return "127.0.0.1"
	}}
	gate, err := login.NewGate(rg.svc, gcfg, env)
	if err != nil {
		return err
	}
	p, err := openid.New(context.Background(), cfg, gate, rg.store, rg.storage, nil, rg.clock.now)
	if err != nil {
		return err
	}
	rg.handler.Store(p)
	rg.provider = p
	return nil
}

// kidOf is the key id in a JWT's header.
func kidOf(t *testing.T, jwt string) string {
	t.Helper()
	return jwtHeader(t, jwt).Kid
}

// algOf is the signing algorithm in a JWT's header.
func algOf(t *testing.T, jwt string) string {
	t.Helper()
	return jwtHeader(t, jwt).Alg
}

// jwtHeader reads a JWT's header.
func jwtHeader(t *testing.T, jwt string) (h struct{ Alg, Kid string }) {
	t.Helper()
	head, _, _ := strings.Cut(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// reloadIssuer reloads the provider with the one client and issuer iss,
// as it is.
func (rg *rig) reloadIssuer(iss string) error {
	rg.t.Helper()
	k, _ := session.KeyFromSecret([]byte(testSessionKey))
	ring, _ := session.NewRing(k)
	gate, err := login.NewGate(rg.svc, login.Config{Ring: ring}, login.Env{})
	if err != nil {
		return err
	}
	_, err = openid.New(context.Background(), openid.Config{Issuer: iss, Clients: []openid.ClientConfig{{ID: "wiki", Secret: appSecret,
		RedirectURIs: []string{appRedirect}}}}, gate, rg.store, rg.storage, nil, rg.clock.now)
	return err
}
