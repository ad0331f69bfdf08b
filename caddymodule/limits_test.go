package caddymodule

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestLimiterHoldsEveryLimit(t *testing.T) {
	now := time.Unix(1e9, 0)
	lim := limits{PerJIDOpen: 3, PerJIDWindow: 5, PerIPOpen: 4, PerIPWindow: 6, Window: 10 * time.Minute, MaxOpen: 100}

	t.Run("three open logins for one address", func(t *testing.T) {
		l := newLimiter(lim)
		for i := range 3 {
			if err := l.acquire("a@x", "ip1", now); err != nil {
				t.Fatalf("login %d: %v", i, err)
			}
		}
		if err := l.acquire("a@x", "ip2", now); !errors.Is(err, errTooManyForJID) {
			t.Fatalf("fourth open login: %v", err)
		}
		l.release("a@x", "ip1")
		if err := l.acquire("a@x", "ip2", now); err != nil {
			t.Fatalf("after one ended: %v", err)
		}
	})
	t.Run("five per window for one address, then the window slides", func(t *testing.T) {
		l := newLimiter(lim)
		for range 5 {
			if err := l.acquire("a@x", "ip1", now); err != nil {
				t.Fatal(err)
			}
			l.release("a@x", "ip1")
		}
		if err := l.acquire("a@x", "ip1", now.Add(time.Minute)); !errors.Is(err, errTooManyForJID) {
			t.Fatalf("sixth in the window: %v", err)
		}
		if err := l.acquire("a@x", "ip1", now.Add(10*time.Minute)); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	})
	t.Run("per IP across addresses", func(t *testing.T) {
		l := newLimiter(lim)
		for i, j := range []string{"a@x", "b@x", "c@x", "d@x"} {
			if err := l.acquire(j, "ip1", now); err != nil {
				t.Fatalf("login %d: %v", i, err)
			}
		}
		if err := l.acquire("e@x", "ip1", now); !errors.Is(err, errTooManyFromIP) {
			t.Fatalf("fifth open from one IP: %v", err)
		}
		if err := l.acquire("e@x", "ip2", now); err != nil {
			t.Fatalf("another IP: %v", err)
		}
	})
	t.Run("global cap", func(t *testing.T) {
		small := lim
		small.MaxOpen = 2
		l := newLimiter(small)
		_ = l.acquire("a@x", "ip1", now)
		_ = l.acquire("b@x", "ip2", now)
		if err := l.acquire("c@x", "ip3", now); !errors.Is(err, errBusy) {
			t.Fatalf("third with a cap of two: %v", err)
		}
	})
	t.Run("a flood of addresses is forgotten after a window", func(t *testing.T) {
		l := newLimiter(lim)
		for i := range 1000 {
			j := string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + "@x"
			if err := l.acquire(j, "ip-"+j, now); err == nil {
				l.release(j, "ip-"+j)
			}
		}
		_ = l.acquire("z@x", "ipz", now.Add(11*time.Minute))
		if n := len(l.byJID) + len(l.byIP); n > 2 {
			t.Fatalf("%d counters kept after the window", n)
		}
	})
}

func TestRefusedRequestsLeaveNothingBehind(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(limits{PerJIDOpen: 3, PerJIDWindow: 10, PerIPOpen: 1, PerIPWindow: 1, Window: time.Minute, MaxOpen: 1000})
	if err := l.acquire("first@x", "192.0.2.1", now); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := l.acquire(fmt.Sprintf("u%d@x", i), "192.0.2.1", now); !errors.Is(err, errTooManyFromIP) {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if len(l.byJID) != 1 || len(l.byIP) != 1 {
		t.Errorf("%d JID and %d IP counters after 1000 refusals, want 1 and 1", len(l.byJID), len(l.byIP))
	}
}

func TestIPv6AddressesOfOneSlash64CountAsOne(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(limits{PerJIDOpen: 3, PerJIDWindow: 10, PerIPOpen: 1, PerIPWindow: 10, Window: time.Minute, MaxOpen: 1000})
	if err := l.acquire("a@x", "2001:db8:1:2::1", now); err != nil {
		t.Fatal(err)
	}
	if err := l.acquire("b@x", "2001:db8:1:2:ffff::9", now); !errors.Is(err, errTooManyFromIP) {
		t.Errorf("another address of the same /64: %v", err)
	}
	if err := l.acquire("b@x", "2001:db8:1:3::1", now); err != nil {
		t.Errorf("another /64: %v", err)
	}
	l.release("a@x", "2001:db8:1:2::1")
	if err := l.acquire("c@x", "2001:db8:1:2::7", now); err != nil {
		t.Errorf("after the release: %v", err)
	}
}
