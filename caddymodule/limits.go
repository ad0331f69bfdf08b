package caddymodule

import (
	"errors"
	"sync"
	"time"
)

// Every login sends a message to someone's XMPP client, so the login form
// must not become a way to bombard an address with requests (prompt
// bombing), nor to hold unbounded state. The limits count logins that are
// still waiting ("open") and logins started within a window.
type limits struct {
	PerJIDOpen   int           // open logins for one address
	PerJIDWindow int           // logins for one address per Window
	PerIPOpen    int           // open logins from one client IP
	PerIPWindow  int           // logins from one client IP per Window
	Window       time.Duration //
	MaxOpen      int           // open logins in all
}

// defaultLimits: three open and ten per ten minutes for an address, as a
// person needs at most a few tries; more for an IP, which may be shared.
var defaultLimits = limits{
	PerJIDOpen: 3, PerJIDWindow: 10,
	PerIPOpen: 10, PerIPWindow: 30,
	Window:  10 * time.Minute,
	MaxOpen: 10000,
}

var (
	errTooManyForJID = errors.New("too many login requests for this address")
	errTooManyFromIP = errors.New("too many login requests from this network address")
	errBusy          = errors.New("too many logins in progress")
)

// counter is the state of one address or IP.
type counter struct {
	open   int
	recent []time.Time // start times within the window, oldest first
}

// limiter enforces limits. Its state lives with the gate, so a reload
// does not reset it.
type limiter struct {
	mu        sync.Mutex
	lim       limits
	open      int
	byJID     map[string]*counter
	byIP      map[string]*counter
	lastSweep time.Time
}

func newLimiter(l limits) *limiter {
	return &limiter{lim: l, byJID: make(map[string]*counter), byIP: make(map[string]*counter)}
}

// set changes the limits, for a reload; logins already admitted stay.
func (l *limiter) set(lim limits) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lim = lim
}

// acquire admits a new login for jid from ip, or says which limit it hits.
// Every successful acquire must be followed by one release.
func (l *limiter) acquire(jid, ip string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	if l.open >= l.lim.MaxOpen {
		return errBusy
	}
	j := l.counterLocked(l.byJID, jid, now)
	if j.open >= l.lim.PerJIDOpen || len(j.recent) >= l.lim.PerJIDWindow {
		return errTooManyForJID
	}
	i := l.counterLocked(l.byIP, ip, now)
	if i.open >= l.lim.PerIPOpen || len(i.recent) >= l.lim.PerIPWindow {
		return errTooManyFromIP
	}
	l.open++
	j.open++
	i.open++
	j.recent = append(j.recent, now)
	i.recent = append(i.recent, now)
	return nil
}

// release ends an open login.
func (l *limiter) release(jid, ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if c := l.byJID[jid]; c != nil {
		c.open--
	}
	if c := l.byIP[ip]; c != nil {
		c.open--
	}
}

// counterLocked returns key's counter with the starts outside the window
// dropped.
func (l *limiter) counterLocked(m map[string]*counter, key string, now time.Time) *counter {
	c := m[key]
	if c == nil {
		c = &counter{}
		m[key] = c
	}
	cut := 0
	for cut < len(c.recent) && now.Sub(c.recent[cut]) >= l.lim.Window {
		cut++
	}
	c.recent = c.recent[cut:]
	return c
}

// sweepLocked forgets idle counters once a window, so a flood of distinct
// addresses costs memory for one window at most.
func (l *limiter) sweepLocked(now time.Time) {
	if now.Sub(l.lastSweep) < l.lim.Window {
		return
	}
	l.lastSweep = now
	for _, m := range []map[string]*counter{l.byJID, l.byIP} {
		for k, c := range m {
			if c.open == 0 && (len(c.recent) == 0 || now.Sub(c.recent[len(c.recent)-1]) >= l.lim.Window) {
				delete(m, k)
			}
		}
	}
}
