package caddymodule

import (
	"errors"
	"net/netip"
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

// maxCounters bounds the memory of the limits whatever comes in: about
// 100 bytes a counter.
const maxCounters = 200_000

// ipGroup is the unit the per-IP limits count: an IPv4 address, or an IPv6
// /64, since one IPv6 host usually has a whole /64 to pick addresses from.
func ipGroup(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
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
	if l.open >= l.lim.MaxOpen || len(l.byJID)+len(l.byIP) >= maxCounters {
		return errBusy
	}
	ip = ipGroup(ip)
	// The IP first, and nothing is stored for a refused request: a flood
	// from one address must not fill the tables with the JIDs it names.
	i := l.peekLocked(l.byIP, ip, now)
	if i.open >= l.lim.PerIPOpen || len(i.recent) >= l.lim.PerIPWindow {
		return errTooManyFromIP
	}
	j := l.peekLocked(l.byJID, jid, now)
	if j.open >= l.lim.PerJIDOpen || len(j.recent) >= l.lim.PerJIDWindow {
		return errTooManyForJID
	}
	l.byIP[ip], l.byJID[jid] = i, j
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
	ip = ipGroup(ip)
	l.open--
	if c := l.byJID[jid]; c != nil {
		c.open--
	}
	if c := l.byIP[ip]; c != nil {
		c.open--
	}
}

// peekLocked returns key's counter with the starts outside the window
// dropped; a new one is not stored until acquire admits the request.
func (l *limiter) peekLocked(m map[string]*counter, key string, now time.Time) *counter {
	c := m[key]
	if c == nil {
		return &counter{}
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
