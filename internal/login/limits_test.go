package login

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

var testLimits = Limits{PerJIDOpen: 3, PerJIDWindow: 5, PerJIDAllOpen: 4, PerIPOpen: 4, PerIPWindow: 6, Window: 10 * time.Minute, MaxOpen: 100}

func TestLimiterHoldsEveryLimit(t *testing.T) {
	now := time.Unix(1e9, 0)
	t.Run("three open logins for one address from one network", func(t *testing.T) {
		l := newLimiter(testLimits)
		for i := range 3 {
			if err := l.acquire("a@x", "192.0.2.1", now); err != nil {
				t.Fatalf("login %d: %v", i, err)
			}
		}
		if err := l.acquire("a@x", "192.0.2.1", now); !errors.Is(err, errTooManyForJID) {
			t.Fatalf("fourth open login: %v", err)
		}
		if err := l.acquire("a@x", "192.0.2.2", now); !errors.Is(err, errTooManyForJID) {
			t.Fatalf("from another address of the same /24: %v", err)
		}
		if err := l.acquire("a@x", "198.51.100.2", now); err != nil {
			t.Fatalf("from another network: %v", err)
		}
		l.release("a@x", "192.0.2.1")
		if err := l.acquire("a@x", "192.0.2.1", now); err != nil {
			t.Fatalf("after one ended: %v", err)
		}
	})
	t.Run("four open logins for one address from every network", func(t *testing.T) {
		l := newLimiter(testLimits)
		for i := range 4 {
			if err := l.acquire("a@x", fmt.Sprintf("10.%d.0.1", i), now); err != nil {
				t.Fatalf("login %d: %v", i, err)
			}
		}
		if err := l.acquire("a@x", "10.99.0.1", now); !errors.Is(err, errTooManyForJID) {
			t.Fatalf("fifth open login, from a fifth network: %v", err)
		}
		l.release("a@x", "10.0.0.1")
		if err := l.acquire("a@x", "10.99.0.1", now); err != nil {
			t.Fatalf("after one ended: %v", err)
		}
	})
	t.Run("five per window for one address from one network, then the window slides", func(t *testing.T) {
		l := newLimiter(testLimits)
		for range 5 {
			if err := l.acquire("a@x", "192.0.2.1", now); err != nil {
				t.Fatal(err)
			}
			l.release("a@x", "192.0.2.1")
		}
		if err := l.acquire("a@x", "192.0.2.1", now.Add(time.Minute)); !errors.Is(err, errTooManyForJID) {
			t.Fatalf("sixth in the window: %v", err)
		}
		if err := l.acquire("a@x", "198.51.100.2", now.Add(time.Minute)); err != nil {
			t.Fatalf("the owner, from another network, in the same window: %v", err)
		}
		l.release("a@x", "198.51.100.2")
		if err := l.acquire("a@x", "192.0.2.1", now.Add(10*time.Minute)); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	})
	t.Run("per network across addresses", func(t *testing.T) {
		l := newLimiter(testLimits)
		for i, j := range []string{"a@x", "b@x", "c@x", "d@x"} {
			if err := l.acquire(j, "192.0.2.1", now); err != nil {
				t.Fatalf("login %d: %v", i, err)
			}
		}
		if err := l.acquire("e@x", "192.0.2.1", now); !errors.Is(err, errTooManyFromIP) {
			t.Fatalf("fifth open from one IP: %v", err)
		}
		if err := l.acquire("e@x", "192.0.2.2", now); err != nil {
			t.Fatalf("another IP: %v", err)
		}
	})
	t.Run("six per window from one network across addresses, then the window slides", func(t *testing.T) {
		l := newLimiter(testLimits)
		// Each ends before the next, so only the window can refuse one.
		for i := range 6 {
			j := fmt.Sprintf("u%d@x", i)
			if err := l.acquire(j, "192.0.2.1", now); err != nil {
				t.Fatalf("login %d: %v", i, err)
			}
			l.release(j, "192.0.2.1")
		}
		if err := l.acquire("v@x", "192.0.2.1", now.Add(time.Minute)); !errors.Is(err, errTooManyFromIP) {
			t.Fatalf("seventh from one network in the window: %v, want %v", err, errTooManyFromIP)
		}
		if err := l.acquire("v@x", "192.0.2.2", now.Add(time.Minute)); err != nil {
			t.Fatalf("from another address, in the same window: %v", err)
		}
		l.release("v@x", "192.0.2.2")
		if err := l.acquire("v@x", "192.0.2.1", now.Add(10*time.Minute)); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	})
	t.Run("global cap", func(t *testing.T) {
		small := testLimits
		small.MaxOpen = 2
		l := newLimiter(small)
		_ = l.acquire("a@x", "192.0.2.1", now)
		_ = l.acquire("b@x", "192.0.2.2", now)
		if err := l.acquire("c@x", "192.0.2.3", now); !errors.Is(err, errBusy) {
			t.Fatalf("third with a cap of two: %v", err)
		}
		l.release("a@x", "192.0.2.1")
		if err := l.acquire("c@x", "192.0.2.3", now); err != nil {
			t.Fatalf("after a release, with a cap of two: %v", err)
		}
	})
	t.Run("a flood of addresses is forgotten after a window", func(t *testing.T) {
		l := newLimiter(testLimits)
		for i := range 1000 {
			j := fmt.Sprintf("u%d@x", i)
			ip := fmt.Sprintf("10.0.%d.%d", i>>8, i&255)
			if err := l.acquire(j, ip, now); err != nil {
				t.Fatal(err)
			}
			l.release(j, ip)
		}
		_ = l.acquire("z@x", "192.0.2.1", now.Add(11*time.Minute))
		if n := len(l.jids.m) + len(l.ips.m); n != 3 {
			t.Fatalf("%d counters kept after the window, want the 3 of the last login", n)
		}
	})
}

func TestReleaseGivesBackEveryCount(t *testing.T) {
	now := time.Unix(1e9, 0)
	lim := testLimits
	lim.MaxOpen, lim.PerJIDWindow, lim.PerIPWindow = 2, 1000, 1000
	l := newLimiter(lim)
	// Far more logins than any limit, one after another: each ends before
	// the next, so none may be refused.
	for i := range 200 {
		if err := l.acquire("a@x", "2001:db8::1", now); err != nil {
			t.Fatalf("login %d of a life of logins: %v", i, err)
		}
		l.release("a@x", "2001:db8::1")
	}
	if l.open != 0 {
		t.Errorf("%d logins counted open after all ended", l.open)
	}
	for _, cs := range []*counters{l.jids, l.ips} {
		for k, c := range cs.m {
			if c.open != 0 || c.idle == nil {
				t.Errorf("counter %q: %d open, idle %v", k, c.open, c.idle != nil)
			}
		}
	}
}

func TestRefusedRequestsLeaveNothingBehind(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(Limits{PerJIDOpen: 3, PerJIDWindow: 10, PerJIDAllOpen: 10, PerIPOpen: 1, PerIPWindow: 1, Window: time.Minute, MaxOpen: 1000})
	if err := l.acquire("first@x", "192.0.2.1", now); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := l.acquire(fmt.Sprintf("u%d@x", i), "192.0.2.1", now); !errors.Is(err, errTooManyFromIP) {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if len(l.jids.m) != 2 || len(l.ips.m) != 1 {
		t.Errorf("%d address and %d network counters after 1000 refusals, want 2 and 1", len(l.jids.m), len(l.ips.m))
	}
}

func TestAnAddressIsCountedPerWideNetworkOfItsAskers(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(testLimits)
	// Three open from one IPv6 /48, whatever /64s they come from.
	for i := range 3 {
		if err := l.acquire("a@x", fmt.Sprintf("2001:db8:1:%x::1", i), now); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	if err := l.acquire("a@x", "2001:db8:1:ff::1", now); !errors.Is(err, errTooManyForJID) {
		t.Errorf("a fourth from another /64 of the same /48: %v", err)
	}
	if err := l.acquire("a@x", "2001:db8:2::1", now); err != nil {
		t.Errorf("from another /48: %v", err)
	}
}

func TestIPv6IsCountedAtItsSlash64Slash56AndSlash48Together(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(Limits{PerJIDOpen: 3, PerJIDWindow: 10, PerJIDAllOpen: 10, PerIPOpen: 1, PerIPWindow: 10, Window: time.Minute, MaxOpen: 1000})
	if err := l.acquire("a@x", "2001:db8:1:200::1", now); err != nil {
		t.Fatal(err)
	}
	if err := l.acquire("b@x", "2001:db8:1:200:ffff::9", now); !errors.Is(err, errTooManyFromIP) {
		t.Errorf("another address of the same /64: %v", err)
	}
	// A /56 holds the open logins of four /64s.
	for i := 1; i < 4; i++ {
		if err := l.acquire("b@x", fmt.Sprintf("2001:db8:1:2%02x::1", i), now); err != nil {
			t.Errorf("/64 number %d of one /56: %v", i+1, err)
		}
	}
	if err := l.acquire("c@x", "2001:db8:1:2ff::1", now); !errors.Is(err, errTooManyFromIP) {
		t.Errorf("a fifth /64 of the same /56: %v", err)
	}
	// A /48 holds those of sixteen.
	n := 4
	for sub := 0x300; n < 16; sub += 0x100 {
		for i := 0; i < 4 && n < 16; i, n = i+1, n+1 {
			if err := l.acquire(fmt.Sprintf("u%d@x", n), fmt.Sprintf("2001:db8:1:%x::1", sub+i), now); err != nil {
				t.Fatalf("/64 number %d of one /48: %v", n+1, err)
			}
		}
	}
	if err := l.acquire("d@x", "2001:db8:1:ff00::1", now); !errors.Is(err, errTooManyFromIP) {
		t.Errorf("a seventeenth /64 of the same /48: %v", err)
	}
	if err := l.acquire("d@x", "2001:db8:2::1", now); err != nil {
		t.Errorf("another /48: %v", err)
	}
	l.release("a@x", "2001:db8:1:200::1")
	if err := l.acquire("e@x", "2001:db8:1:200::7", now); err != nil {
		t.Errorf("after the release: %v", err)
	}
}

// A flood that makes a counter for every /64 of one /48, each for ~30
// addresses, used to fill the counter tables; then everyone was refused.
func TestAfterASlash48FloodAnUnrelatedVisitorStillLogsIn(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(DefaultLimits)
	admitted := 0
	for net := range 6600 {
		ip := fmt.Sprintf("2001:db8:7:%x::1", net)
		for a := range 31 {
			j := fmt.Sprintf("v%d-%d@x", net, a)
			if l.acquire(j, ip, now) == nil {
				admitted++
				l.release(j, ip)
			}
		}
	}
	t.Logf("the /48 flood had %d of %d logins admitted", admitted, 6600*31)
	if err := l.acquire("alice@example.org", "198.51.100.7", now); err != nil {
		t.Fatalf("an unrelated visitor after the flood: %v", err)
	}
}

// Behind a proxy that is trusted without trusted_proxies_strict, every
// login can come with a client IP of its own choosing.
func TestAfterAFloodOfSpoofedClientIPsAnUnrelatedVisitorStillLogsIn(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(DefaultLimits)
	for i := range 2*maxCounters + 10 {
		j, ip := fmt.Sprintf("v%d@x", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		if err := l.acquire(j, ip, now); err != nil {
			t.Fatalf("flood login %d: %v", i, err)
		}
		l.release(j, ip)
	}
	if n, m := len(l.jids.m), len(l.ips.m); n > maxCounters || m > maxCounters {
		t.Errorf("the tables hold %d and %d counters, bound %d", n, m, maxCounters)
	}
	if err := l.acquire("alice@example.org", "198.51.100.7", now); err != nil {
		t.Fatalf("an unrelated visitor after the flood: %v", err)
	}
}

func TestACounterWithOpenLoginsIsNeverEvicted(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(testLimits)
	if err := l.acquire("a@x", "192.0.2.1", now); err != nil {
		t.Fatal(err)
	}
	for i := range maxCounters + 10 {
		j, ip := fmt.Sprintf("v%d@x", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		if err := l.acquire(j, ip, now); err == nil {
			l.release(j, ip)
		}
	}
	if c := l.ips.m["192.0.2.1"]; c == nil || c.open != 1 {
		t.Fatalf("the counter of an open login was evicted: %+v", c)
	}
	l.release("a@x", "192.0.2.1")
	if l.open != 0 {
		t.Errorf("%d open after every login ended", l.open)
	}
}

func TestAnIPv4MappedIPv6AddressIsCountedAsTheIPv4Address(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(testLimits)
	for i, j := range []string{"a@x", "b@x", "c@x", "d@x"} {
		if err := l.acquire(j, "192.0.2.1", now); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	if err := l.acquire("e@x", "::ffff:192.0.2.1", now); !errors.Is(err, errTooManyFromIP) {
		t.Errorf("a fifth login from the same address written as IPv6: %v", err)
	}
	if jidNetKey("a@x", "::ffff:192.0.2.1") != jidNetKey("a@x", "192.0.2.9") {
		t.Error("an address asked for from the mapped and the plain IPv4 spelling of one network is counted twice")
	}
}

func TestAFullTableEvictsTheCounterIdleLongestButNeverOneOfTheLoginBeingAdmitted(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(testLimits)
	// alice's counters are the oldest in the table when it fills up.
	if err := l.acquire("alice@x", "192.0.2.1", now); err != nil {
		t.Fatal(err)
	}
	l.release("alice@x", "192.0.2.1")
	n := 0
	for ; len(l.jids.m) < maxCounters; n++ {
		j, ip := fmt.Sprintf("v%d@x", n), fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
		if err := l.acquire(j, ip, now); err != nil {
			t.Fatalf("filling login %d: %v", n, err)
		}
		l.release(j, ip)
	}
	// alice again, from a new network: her address's counter is kept and
	// counts this login; the counter idle longest after it, her address
	// from her old network, goes to make room.
	if err := l.acquire("alice@x", "198.51.100.7", now); err != nil {
		t.Fatal(err)
	}
	if c := l.jids.m["alice@x"]; c == nil || c.open != 1 {
		t.Errorf("the counter of the address being admitted was evicted: %+v", c)
	}
	if l.jids.m[jidNetKey("alice@x", "192.0.2.1")] != nil || l.jids.m["v0@x"] == nil {
		t.Error("the counter evicted is not the one idle for longest")
	}
	if l.jids.m[fmt.Sprintf("v%d@x", n-1)] == nil {
		t.Error("the counter used last was evicted")
	}
	if len(l.jids.m) > maxCounters {
		t.Errorf("%d counters, bound %d", len(l.jids.m), maxCounters)
	}
}
