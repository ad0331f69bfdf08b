package caddymodule

import (
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/xepauth/caddy-xepauth/internal/login"
	"github.com/xepauth/caddy-xepauth/xepauth"
)

// shared is what outlives a config reload, kept in the app's UsagePool:
// the component connection, the login Service around it (the logins in
// progress, limits, revocations), and the logger both write to.
type shared struct {
	comp *xepauth.Component
	svc  *login.Service
	log  *swapCore
}

func newShared(cfg xepauth.Config, log *zap.Logger) (*shared, error) {
	core := &swapCore{}
	core.set(log.Core())
	logger := zap.New(core).Named("xmpp_auth")
	comp, err := xepauth.New(cfg, logger)
	if err != nil {
		return nil, err
	}
	return &shared{comp: comp, svc: login.NewService(comp, nil, logger), log: core}, nil
}

// Destruct ends every login in progress and closes the connection. The
// pool calls it when the last config using them is cleaned up.
func (s *shared) Destruct() error {
	s.svc.Close()
	return s.comp.Close()
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
