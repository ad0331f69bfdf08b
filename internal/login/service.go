package login

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// Asker is what a Service asks through: an xepauth.Component, in
// production.
type Asker interface {
	// Ask sends req and waits for its outcome until ctx ends.
	Ask(ctx context.Context, req xepauth.Request) xepauth.Outcome
	// Connected reports whether asks can be sent now.
	Connected() bool
	// Domain is the component's own address, which no person answers.
	Domain() jid.JID
}

// Service is the part of the login that every gate of a server shares and
// that outlives a config reload: the component asks go through, the logins
// in progress, the limits, the form-token key, the revocation list and the
// Basic and API transactions. Gates reach it through its methods.
//
// A config that fails to load must change nothing here, so what a new
// config brings (limits, storage, the longest session lifetime) is taken
// only by Commit, which the server calls once the config has loaded.
type Service struct {
	comp    Asker
	now     func() time.Time
	logins  *logins
	limits  *limiter
	csrf    csrfKey
	revoked *revocations
	txs     transactions

	mu       sync.Mutex
	lifetime time.Duration // the longest session lifetime of any gate committed so far
	log      *zap.Logger
	once     sync.Once
	ctx      context.Context
	cancel   context.CancelFunc
}

// NewService makes the shared part of the login around comp. now is the
// one time source of everything the Service and its gates do; nil is
// time.Now. log receives the Service's own logs (revocations read from
// storage); nil logs nothing.
func NewService(comp Asker, now func() time.Time, log *zap.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		comp: comp, now: now, log: log,
		logins:  newLogins(now),
		limits:  newLimiter(DefaultLimits),
		csrf:    newCSRFKey(),
		revoked: newRevocations(),
		ctx:     ctx, cancel: cancel,
	}
}

// Commit takes what a newly loaded config brings: its limits, the storage
// the revocation list lives in, and the longest session lifetime of its
// gates (a revocation must last until no gate sharing the storage could
// accept the session). The lifetime only ever grows: a gate of an older
// config may still be serving.
func (svc *Service) Commit(lim Limits, st Storage, longestLifetime time.Duration) {
	svc.limits.set(lim)
	svc.revoked.useStorage(st)
	svc.mu.Lock()
	svc.lifetime = max(svc.lifetime, longestLifetime)
	svc.mu.Unlock()
}

// longestLifetime is the longest session lifetime committed so far.
func (svc *Service) longestLifetime() time.Duration {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	return svc.lifetime
}

// Start reads the revocation list once (so that a session revoked before a
// restart is refused from the first request on) and keeps it fresh until
// Close; only the first call does anything.
func (svc *Service) Start() {
	svc.once.Do(func() {
		ctx, cancel := context.WithTimeout(svc.ctx, 5*time.Second)
		svc.revoked.load(ctx, svc.now(), svc.log)
		cancel()
		go svc.revoked.keepLoading(svc.ctx, svc.now, svc.log)
	})
}

// Close ends every login and transaction in progress and stops the
// revocation list's reloading. It does not close the Asker.
func (svc *Service) Close() { svc.cancel() }

// Pending is the number of logins waiting for their answer.
func (svc *Service) Pending() int { return svc.limits.pending() }

// Connected reports whether logins can be asked now.
func (svc *Service) Connected() bool { return svc.comp.Connected() }

// ownDomain reports whether j is on the component's own domain: asking it
// would send the request back to the gate itself, which no person answers.
func (svc *Service) ownDomain(j jid.JID) bool {
	return j.Domainpart() == svc.comp.Domain().Domainpart()
}
