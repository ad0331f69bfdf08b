package login

import (
	"container/list"
	"errors"
	"net/netip"
	"sync"
	"time"
)

// Every login sends a message to someone's XMPP client, so the login form
// must not become a way to bombard an address with requests (prompt
// bombing), to lock a person out of their own login, or to hold unbounded
// state. The limits count logins that are still waiting ("open") and
// logins started within a window:
//
//   - per address and client network, the network being wide here (an
//     IPv4 /24, an IPv6 /48): open at once, and started per window.
//     Counting per network, not per address alone, keeps a stranger from
//     using up the owner's logins from elsewhere; counting wide networks
//     makes "elsewhere" cost a stranger several networks, not a few
//     addresses of one.
//   - per address from every network: open at once only, so that a
//     person is never asked more than a few times at once, while a
//     stranger cannot hold the address's logins beyond their own timeout.
//   - per client network: open at once, and started per window. An IPv6
//     client is counted at its /64, /56 and /48 together (a host usually
//     has a whole /64 to pick addresses from, a site a /48), with room for
//     more logins in the wider prefixes.
//   - open logins in all.

// Limits are the numbers the limiter holds to.
type Limits struct {
	PerJIDOpen    int           // open logins for one address from one network
	PerJIDWindow  int           // logins for one address from one network per Window
	PerJIDAllOpen int           // open logins for one address from every network
	PerIPOpen     int           // open logins from one network (IPv4 address, IPv6 /64)
	PerIPWindow   int           // logins from one network per Window
	Window        time.Duration //
	MaxOpen       int           // open logins in all
}

// DefaultLimits are three open and ten per ten minutes for an address from
// one network, as a person needs at most a few tries; ten open for an
// address in all; more for a network, which may be shared.
var DefaultLimits = Limits{
	PerJIDOpen: 3, PerJIDWindow: 10, PerJIDAllOpen: 10,
	PerIPOpen: 10, PerIPWindow: 30,
	Window:  10 * time.Minute,
	MaxOpen: 10000,
}

// maxCounters bounds each table of counters (addresses, networks) whatever
// comes in: about 200 bytes a counter. A counter with open logins is never
// evicted; MaxOpen logins hold at most 2 address and 3 network counters
// each, far fewer than this.
const maxCounters = 100_000

// Each open login holds one counter per network it is counted in, so the
// wider prefixes allow more: a /56 the logins of 4 /64s, a /48 of 16.
var ipv6Prefixes = []struct {
	bits  int
	scale int
}{{64, 1}, {56, 4}, {48, 16}}

// network is one unit a client IP is counted in, and its share of the
// per-network limits.
type network struct {
	key   string
	scale int
}

// networks returns the units ip is counted in: an IPv4 address alone, an
// IPv6 address in its /64, /56 and /48. The first is the narrowest.
func networks(ip string) []network {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return []network{{ip, 1}}
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return []network{{a.String(), 1}}
	}
	out := make([]network, 0, len(ipv6Prefixes))
	for _, p := range ipv6Prefixes {
		pfx, _ := a.Prefix(p.bits)
		out = append(out, network{pfx.String(), p.scale})
	}
	return out
}

var (
	errTooManyForJID = errors.New("too many login requests for this address")
	errTooManyFromIP = errors.New("too many login requests from this network address")
	errBusy          = errors.New("too many logins in progress")
)

// counter is the state of one address or network.
type counter struct {
	key    string
	open   int
	recent []time.Time   // start times within the window, oldest first
	idle   *list.Element // its place in its table's idle list while open == 0
}

// counters is one table of counters with a bound: when it is full, the
// counter idle for longest goes, rather than anyone being refused.
type counters struct {
	m    map[string]*counter
	idle *list.List // counters with nothing open, most recently used first
}

func newCounters() *counters {
	return &counters{m: make(map[string]*counter), idle: list.New()}
}

// peek returns key's counter with the starts outside the window dropped;
// a new one is not stored until store.
func (cs *counters) peek(key string, now time.Time, window time.Duration) *counter {
	c := cs.m[key]
	if c == nil {
		return &counter{key: key}
	}
	cut := 0
	for cut < len(c.recent) && now.Sub(c.recent[cut]) >= window {
		cut++
	}
	c.recent = c.recent[cut:]
	return c
}

// touch marks a counter as just used, so that storing new ones does not
// evict it; a counter not stored (fresh from peek) has no place to move.
func (cs *counters) touch(c *counter) {
	if c.idle != nil {
		cs.idle.MoveToFront(c.idle)
	}
}

// store keeps c, evicting the counter idle for longest if the table is
// full. It reports false when nothing could be evicted.
func (cs *counters) store(c *counter) bool {
	if _, ok := cs.m[c.key]; ok {
		return true
	}
	if len(cs.m) >= maxCounters {
		oldest := cs.idle.Back()
		if oldest == nil {
			return false
		}
		cs.remove(oldest.Value.(*counter))
	}
	cs.m[c.key] = c
	c.idle = cs.idle.PushFront(c)
	return true
}

func (cs *counters) remove(c *counter) {
	if c.idle != nil {
		cs.idle.Remove(c.idle)
		c.idle = nil
	}
	delete(cs.m, c.key)
}

// opened and closed keep the idle list to the counters with nothing open.
func (cs *counters) opened(c *counter) {
	if c.open++; c.open == 1 && c.idle != nil {
		cs.idle.Remove(c.idle)
		c.idle = nil
	}
}

func (cs *counters) closed(key string) {
	c := cs.m[key]
	if c == nil {
		return
	}
	if c.open--; c.open == 0 {
		c.idle = cs.idle.PushFront(c)
	}
}

// sweep forgets the idle counters whose last start left the window: they
// hold nothing any limit would count.
func (cs *counters) sweep(now time.Time, window time.Duration) {
	for e := cs.idle.Back(); e != nil; {
		c, prev := e.Value.(*counter), e.Prev()
		if len(c.recent) == 0 || now.Sub(c.recent[len(c.recent)-1]) >= window {
			cs.remove(c)
		}
		e = prev
	}
}

// limiter enforces limits. Its state lives with the gate, so a reload
// does not reset it.
type limiter struct {
	mu        sync.Mutex
	lim       Limits
	open      int
	jids      *counters // keyed by address, and by address and network
	ips       *counters // keyed by network
	lastSweep time.Time
}

func newLimiter(l Limits) *limiter {
	return &limiter{lim: l, jids: newCounters(), ips: newCounters()}
}

// set changes the limits, for a reload; logins already admitted stay.
func (l *limiter) set(lim Limits) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lim = lim
}

// jidNetKey names the counter of one address from the wide network of ip
// (an IPv4 /24, an IPv6 /48).
func jidNetKey(jid, ip string) string {
	bits := 48
	a, err := netip.ParseAddr(ip)
	if err == nil && a.Unmap().Is4() {
		a, bits = a.Unmap(), 24
	}
	if p, err := a.WithZone("").Prefix(bits); err == nil {
		return jid + "\x00" + p.String()
	}
	return jid + "\x00" + ip
}

// acquire admits a new login for jid from ip, or says which limit it hits.
// Every successful acquire must be followed by one release with the same
// jid and ip.
func (l *limiter) acquire(jid, ip string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.lim.Window {
		l.lastSweep = now
		l.jids.sweep(now, l.lim.Window)
		l.ips.sweep(now, l.lim.Window)
	}
	if l.open >= l.lim.MaxOpen {
		return errBusy
	}
	nets := networks(ip)
	// The networks first, and nothing is stored for a refused request: a
	// flood from one network must not fill the tables with the addresses
	// it names.
	ipCounters := make([]*counter, len(nets))
	for i, n := range nets {
		c := l.ips.peek(n.key, now, l.lim.Window)
		if c.open >= l.lim.PerIPOpen*n.scale || len(c.recent) >= l.lim.PerIPWindow*n.scale {
			return errTooManyFromIP
		}
		ipCounters[i] = c
	}
	all := l.jids.peek(jid, now, l.lim.Window)
	here := l.jids.peek(jidNetKey(jid, ip), now, l.lim.Window)
	if all.open >= l.lim.PerJIDAllOpen || here.open >= l.lim.PerJIDOpen || len(here.recent) >= l.lim.PerJIDWindow {
		return errTooManyForJID
	}

	// Touched before anything is stored, so that storing cannot evict
	// one of them.
	for _, c := range ipCounters {
		l.ips.touch(c)
	}
	l.jids.touch(all)
	l.jids.touch(here)
	for _, c := range ipCounters {
		if !l.ips.store(c) {
			return errBusy
		}
	}
	if !l.jids.store(all) || !l.jids.store(here) {
		return errBusy
	}
	l.open++
	for _, c := range ipCounters {
		l.ips.opened(c)
		c.recent = append(c.recent, now)
	}
	l.jids.opened(all)
	l.jids.opened(here)
	here.recent = append(here.recent, now)
	return nil
}

// pending is the number of open logins.
func (l *limiter) pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// release ends an open login.
func (l *limiter) release(jid, ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	nets := networks(ip)
	for _, n := range nets {
		l.ips.closed(n.key)
	}
	l.jids.closed(jid)
	l.jids.closed(jidNetKey(jid, ip))
}
