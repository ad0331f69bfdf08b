package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// keepDone is how long a finished login stays known, so a browser that
// comes back late (a slow phone, a laptop that slept) still sees the
// outcome instead of "start again".
const keepDone = 5 * time.Minute

// login is one visitor's login in progress: the confirmation sent to
// their JID and where to send them afterwards.
type login struct {
	id       string
	jid      jid.JID
	code     string
	returnTo string
	site     string
	resend   bool      // the request that met the gate carried a form, not delivered
	pre      string    // the pre-login cookie of the browser that started it
	secret   string    // given only to the page that posted the form (ownLogin)
	expires  time.Time // when the ask times out
	polls    atomic.Int32

	done    chan struct{}
	outcome xepauth.Outcome // set before done is closed
}

// maxPolls bounds the status long polls of one login at once: each holds
// a connection and a goroutine for up to longPoll, and the waiting page
// needs one.
const maxPolls = 4

// startPoll admits one more long poll of l, unless maxPolls are running;
// every admitted poll must call endPoll.
func (l *login) startPoll() bool {
	if l.polls.Add(1) > maxPolls {
		l.polls.Add(-1)
		return false
	}
	return true
}

func (l *login) endPoll() { l.polls.Add(-1) }

// finished returns the outcome and true once the ask has ended.
func (l *login) finished() (xepauth.Outcome, bool) {
	select {
	case <-l.done:
		return l.outcome, true
	default:
		return xepauth.Outcome{}, false
	}
}

// logins are the logins of every gate of a Service, by id. The id is a
// 128-bit random value kept in an HttpOnly cookie, so only the browser
// that started a login can find it.
type logins struct {
	now func() time.Time

	mu    sync.Mutex
	m     map[string]*login
	ended []ended // finished logins, in the order they finished
}

// ended is a finished login and when it may be forgotten.
type ended struct {
	id    string
	after time.Time
}

func newLogins(now func() time.Time) *logins {
	return &logins{now: now, m: make(map[string]*login)}
}

// start asks the confirmation in the background and returns at once. The
// ask ends at timeout, or when ctx (the Service's life) ends; then done
// runs, and the login is forgotten keepDone later.
func (ls *logins) start(ctx context.Context, comp Asker, l *login, req xepauth.Request, timeout time.Duration, done func(xepauth.Outcome)) {
	l.id = newLoginID()
	l.done = make(chan struct{})
	l.expires = ls.now().Add(timeout)
	ls.mu.Lock()
	ls.sweepLocked()
	ls.m[l.id] = l
	ls.mu.Unlock()
	go func() {
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		l.outcome = comp.Ask(actx, req)
		close(l.done)
		done(l.outcome)
		ls.mu.Lock()
		ls.ended = append(ls.ended, ended{id: l.id, after: ls.now().Add(keepDone)})
		ls.mu.Unlock()
	}()
}

// sweepLocked forgets the logins that finished more than keepDone ago.
// They finish in the order they are queued, and keepDone is the same for
// all, so the oldest are at the front.
func (ls *logins) sweepLocked() {
	now := ls.now()
	n := 0
	for n < len(ls.ended) && !now.Before(ls.ended[n].after) {
		delete(ls.m, ls.ended[n].id)
		n++
	}
	ls.ended = ls.ended[n:]
}

// get returns the login with id, if it is known.
func (ls *logins) get(id string) *login {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.sweepLocked()
	return ls.m[id]
}

// len is the number of logins remembered, waiting or finished.
func (ls *logins) len() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.sweepLocked()
	return len(ls.m)
}

// forget drops a login, e.g. once its session cookie has been issued, so
// the same login cannot be cashed in twice.
// It reports whether the login was still there, so that of two requests
// racing to cash in one login only one wins.
func (ls *logins) forget(id string) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	_, ok := ls.m[id]
	delete(ls.m, id)
	return ok
}

func newLoginID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
