package caddymodule

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// gate is what outlives a config reload: the component connection and the
// logins in progress.
type gate struct {
	comp    *xepauth.Component
	logins  *logins
	limits  *limiter
	csrf    csrfKey
	revoked *revocations
	clock   clock // what session checks take as now

	lifeMu   sync.Mutex
	lifetime time.Duration // the longest session lifetime of any handler so far
	basic    basicState    // Basic transactions (basic.go)
	once     sync.Once
	log      *swapCore
	ctx      context.Context
	cancel   context.CancelFunc
}

func newGate(cfg xepauth.Config, log *zap.Logger) (*gate, error) {
	core := &swapCore{}
	core.set(log.Core())
	comp, err := xepauth.New(cfg, zap.New(core).Named("xmpp_auth"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &gate{comp: comp, logins: newLogins(), limits: newLimiter(defaultLimits), csrf: newCSRFKey(), revoked: newRevocations(), log: core, ctx: ctx, cancel: cancel}, nil
}

// start connects and starts keeping the revocation list fresh; only the
// first call does anything, so every config that shares the gate may call it.
func (g *gate) start() {
	g.once.Do(func() {
		g.comp.Start()
		log := zap.New(g.log).Named("xmpp_auth")
		// Read the list once before serving, so that a session revoked
		// before a restart is refused from the first request on.
		ctx, cancel := context.WithTimeout(g.ctx, 5*time.Second)
		g.revoked.load(ctx, time.Now(), log)
		cancel()
		go g.revoked.keepLoading(g.ctx, log)
		go g.clock.run(g.ctx)
	})
}

// longestLifetime records a handler's session lifetime and returns the
// longest seen: a revocation must outlast every site that shares the gate.
func (g *gate) longestLifetime(d time.Duration) time.Duration {
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	g.lifetime = max(g.lifetime, d)
	return g.lifetime
}

// useLogger points the gate's logs at the newest config's logger, since
// an older config's log writers may be closed after a reload.
func (g *gate) useLogger(log *zap.Logger) { g.log.set(log.Core()) }

// Destruct ends every login in progress and closes the connection. The
// pool calls it when the last config using the gate is cleaned up.
func (g *gate) Destruct() error {
	g.cancel()
	return g.comp.Close()
}

// swapCore is a zapcore.Core whose destination can be replaced while in
// use.
type swapCore struct {
	cur atomic.Pointer[zapcore.Core]
}

func (s *swapCore) set(c zapcore.Core) { s.cur.Store(&c) }
func (s *swapCore) core() zapcore.Core { return *s.cur.Load() }

// Enabled implements zapcore.LevelEnabler.
func (s *swapCore) Enabled(l zapcore.Level) bool { return s.core().Enabled(l) }

// With implements zapcore.Core. Fields are kept and re-applied to whatever
// core is current when an entry is written.
func (s *swapCore) With(fields []zapcore.Field) zapcore.Core {
	return &withCore{parent: s, fields: fields}
}

// Check implements zapcore.Core.
func (s *swapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return s.core().Check(e, ce)
}

// Write implements zapcore.Core.
func (s *swapCore) Write(e zapcore.Entry, f []zapcore.Field) error { return s.core().Write(e, f) }

// Sync implements zapcore.Core.
func (s *swapCore) Sync() error { return s.core().Sync() }

// withCore is a swapCore with fields added.
type withCore struct {
	parent *swapCore
	fields []zapcore.Field
}

func (w *withCore) Enabled(l zapcore.Level) bool { return w.parent.Enabled(l) }
func (w *withCore) With(fields []zapcore.Field) zapcore.Core {
	return &withCore{parent: w.parent, fields: append(w.fields[:len(w.fields):len(w.fields)], fields...)}
}
func (w *withCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if w.Enabled(e.Level) {
		return ce.AddCore(e, w)
	}
	return ce
}
func (w *withCore) Write(e zapcore.Entry, f []zapcore.Field) error {
	return w.parent.core().With(w.fields).Write(e, f)
}
func (w *withCore) Sync() error { return w.parent.Sync() }
