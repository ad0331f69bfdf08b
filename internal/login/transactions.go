package login

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// A transaction is one (JID, transaction id) pair asked for a request that
// waits for the answer: Basic logins (basic.go) and the /auth API
// (api.go) are both transactions, and go through transact.
//
// A transaction id is spent once it has been asked, whatever the outcome,
// and stays spent for max(2×timeout, 4m), across reloads, for every gate of
// the Service: an answer cannot be replayed. Identical concurrent requests
// (same JID as sent, id, method, URL, site and client IP) share one ask,
// at most txMaxWaiters of them; the ask ends at its timeout or when every
// waiting request has gone.

const (
	// basicCarryOver is how long the credentials of an approved HEAD or
	// OPTIONS stay usable for the next request (XEP-0070 §5).
	basicCarryOver = 2 * time.Minute
	// txMaxWaiters bounds the identical requests that wait for one ask.
	txMaxWaiters = 8
	// txMaxEntries bounds the transaction ids remembered (spent and in
	// flight). When full, new asks are refused until entries expire:
	// forgetting a spent id early would let it be replayed.
	txMaxEntries = 100_000
)

// txKey names a transaction: its id (normalised) and the bare JID it was
// asked of.
type txKey struct{ bare, txid string }

// txIdentity is what makes two requests identical for sharing one ask.
type txIdentity struct{ full, method, url, site, ip string }

// txRequest is a request's transaction: what names it, what makes it
// identical to another, the client IP the limits count, how long its ask
// waits, and the ask to send when it is the first.
type txRequest struct {
	key     txKey
	id      txIdentity
	ip      string
	timeout time.Duration
	ask     xepauth.Request
}

// refusalKind says why a transaction was not asked.
type refusalKind int

const (
	refusedSpent        refusalKind = iota // the id was asked already
	refusedInUse                           // the id is in flight for another request
	refusedCrowded                         // too many requests wait for this ask
	refusedFull                            // too many transactions remembered
	refusedNotConnected                    // the XMPP server is not connected
	refusedBusy                            // too many logins in progress in all
	refusedLimit                           // a per-address or per-network limit
)

// refusal is a transaction that was not asked; each front door answers it
// with its own status.
type refusal struct {
	kind refusalKind
	err  error // the limit's own error, for refusedLimit
}

func (r *refusal) Error() string {
	switch r.kind {
	case refusedSpent:
		return "this transaction id has been used; choose a new one"
	case refusedInUse:
		return "this transaction id is in use by another request; choose a new one"
	case refusedCrowded:
		return "too many identical requests are waiting for this confirmation"
	case refusedFull:
		return "too many transactions in progress; try again later"
	case refusedNotConnected:
		return "XMPP server unreachable; nothing was sent"
	case refusedBusy:
		return "too many logins in progress; nothing was sent"
	}
	return r.err.Error() + "; nothing was sent"
}

// errGone is transact's answer when the client went away before the
// outcome.
var errGone = errors.New("the client has gone")

// transact runs one transaction for r: it joins an identical ask in flight,
// or asks when it is the first (after the connection and the limits said
// yes), and waits for the outcome. carried reports the once-only
// carry-over of an approved HEAD or OPTIONS (XEP-0070 §5), which asks
// nothing. The error is a *refusal when nothing was asked, or errGone.
func (svc *Service) transact(r *http.Request, t txRequest) (o xepauth.Outcome, carried bool, err error) {
	now := svc.now()
	ctx, cancel := context.WithTimeout(svc.ctx, t.timeout)
	call, verdict, err := svc.txs.admit(t.key, t.id, now, cancel, func() error {
		if !svc.comp.Connected() {
			return &refusal{kind: refusedNotConnected}
		}
		if err := svc.limits.acquire(t.key.bare, t.ip, now); err != nil {
			if errors.Is(err, errBusy) {
				return &refusal{kind: refusedBusy}
			}
			return &refusal{kind: refusedLimit, err: err}
		}
		return nil
	})
	switch verdict {
	case txCarried:
		cancel()
		return xepauth.Outcome{Result: xepauth.Approved, Via: "carry-over"}, true, nil
	case txRefused:
		cancel()
		return xepauth.Outcome{}, false, err
	case txAsk:
		usedFor := max(2*t.timeout, 2*basicCarryOver)
		go func() {
			o := svc.comp.Ask(ctx, t.ask)
			cancel()
			svc.limits.release(t.key.bare, t.ip)
			svc.txs.finish(t.key, call, o, svc.now(), usedFor)
		}()
	default: // joined an ask in flight
		cancel()
	}
	select {
	case <-call.done:
		return call.outcome, false, nil
	case <-r.Context().Done():
		svc.txs.leave(call)
		return xepauth.Outcome{}, false, errGone
	}
}

type txCall struct {
	id      txIdentity
	done    chan struct{}
	outcome xepauth.Outcome // set before done is closed
	waiters int             // under transactions.mu
	cancel  context.CancelFunc
}

// txSpent is a transaction id that has been asked.
type txSpent struct {
	expires time.Time
	// For an approved HEAD or OPTIONS: one more request from ip on site is
	// let through until carryUntil.
	carryUntil time.Time
	site, ip   string
}

// txVerdict is what admit decided.
type txVerdict int

const (
	txAsk     txVerdict = iota // a new ask: send it, then wait
	txJoined                   // an identical ask is in flight: wait for it
	txCarried                  // the carry-over of a HEAD or OPTIONS: pass
	txRefused                  // not asked: see the *refusal
)

// transactions is the Service's memory of transactions. It lives with the
// gate, so a reload neither forgets spent ids nor loses asks in flight.
// The zero value is ready to use.
type transactions struct {
	mu        sync.Mutex
	inflight  map[txKey]*txCall
	spent     map[txKey]*txSpent
	lastSweep time.Time
}

// admit decides what to do with a request for key. When a new ask is
// needed, start (called under the lock) may refuse it; otherwise the
// returned call, with cancel as the way to end its ask, counts the caller
// as its first waiter.
func (s *transactions) admit(key txKey, id txIdentity, now time.Time, cancel context.CancelFunc, start func() error) (*txCall, txVerdict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == nil {
		s.inflight = make(map[txKey]*txCall)
		s.spent = make(map[txKey]*txSpent)
	}
	s.sweepLocked(now)
	if sp := s.spent[key]; sp != nil && now.Before(sp.expires) {
		if now.Before(sp.carryUntil) && sp.site == id.site && sp.ip == id.ip {
			sp.carryUntil = time.Time{} // once
			return nil, txCarried, nil
		}
		return nil, txRefused, &refusal{kind: refusedSpent}
	}
	if c := s.inflight[key]; c != nil {
		switch {
		case c.id != id:
			return nil, txRefused, &refusal{kind: refusedInUse}
		case c.waiters >= txMaxWaiters:
			return nil, txRefused, &refusal{kind: refusedCrowded}
		}
		c.waiters++
		return c, txJoined, nil
	}
	if len(s.spent)+len(s.inflight) >= txMaxEntries {
		return nil, txRefused, &refusal{kind: refusedFull}
	}
	if err := start(); err != nil {
		return nil, txRefused, err
	}
	c := &txCall{id: id, done: make(chan struct{}), waiters: 1, cancel: cancel}
	s.inflight[key] = c
	return c, txAsk, nil
}

// finish records the outcome of c's ask, spends its transaction id, and
// wakes its waiters.
func (s *transactions) finish(key txKey, c *txCall, o xepauth.Outcome, now time.Time, usedFor time.Duration) {
	s.mu.Lock()
	if s.inflight[key] == c {
		delete(s.inflight, key)
	}
	sp := &txSpent{expires: now.Add(usedFor)}
	if o.Result == xepauth.Approved && (c.id.method == http.MethodHead || c.id.method == http.MethodOptions) {
		sp.carryUntil = now.Add(basicCarryOver)
		sp.site, sp.ip = c.id.site, c.id.ip
	}
	s.spent[key] = sp
	c.outcome = o
	s.mu.Unlock()
	close(c.done)
}

// leave takes a waiter off c; the last one to go ends the ask.
func (s *transactions) leave(c *txCall) {
	s.mu.Lock()
	c.waiters--
	last := c.waiters == 0
	s.mu.Unlock()
	if last {
		c.cancel()
	}
}

// sweepLocked forgets expired ids once a minute, or once a second while
// the memory bound is reached.
func (s *transactions) sweepLocked(now time.Time) {
	since := now.Sub(s.lastSweep)
	if since < time.Minute && (len(s.spent)+len(s.inflight) < txMaxEntries || since < time.Second) {
		return
	}
	s.lastSweep = now
	for k, sp := range s.spent {
		if !now.Before(sp.expires) {
			delete(s.spent, k)
		}
	}
}
