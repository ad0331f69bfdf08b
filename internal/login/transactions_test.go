package login

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// verdict names what admit decided, with the refusal's kind.
func verdict(v txVerdict, err error) string {
	switch v {
	case txAsk:
		return "ask"
	case txJoined:
		return "joined"
	case txCarried:
		return "carried"
	}
	var r *refusal
	if errors.As(err, &r) {
		switch r.kind {
		case refusedSpent:
			return "spent"
		case refusedInUse:
			return "in use"
		case refusedCrowded:
			return "crowded"
		case refusedFull:
			return "full"
		}
	}
	return fmt.Sprint(v, err)
}

func TestATransactionIdIsSpentOnce(t *testing.T) {
	now := time.Unix(1e9, 0)
	key := txKey{bare: "alice@example.org", txid: "tx1"}
	get := txIdentity{full: "alice@example.org", method: "GET", url: "http://s/a", site: "s", ip: "192.0.2.1"}
	head := get
	head.method = "HEAD"
	nop := func() {}
	ok := func() error { return nil }
	approved := xepauth.Outcome{Result: xepauth.Approved}

	t.Run("asked, then spent whatever the outcome", func(t *testing.T) {
		for _, o := range []xepauth.Outcome{approved, {Result: xepauth.Denied}, {Result: xepauth.Timeout}, {Result: xepauth.Unreachable}} {
			var s transactions
			c, v, err := s.admit(key, get, now, nop, ok)
			if verdict(v, err) != "ask" {
				t.Fatalf("first: %v", v)
			}
			s.finish(key, c, o, now, 4*time.Minute)
			if _, v, err := s.admit(key, get, now.Add(time.Second), nop, ok); verdict(v, err) != "spent" {
				t.Errorf("%v, then the same again: %v", o.Result, v)
			}
			if _, v, err := s.admit(key, get, now.Add(4*time.Minute-time.Second), nop, ok); verdict(v, err) != "spent" {
				t.Errorf("%v, then the same just before expiry: %v", o.Result, v)
			}
			if _, v, err := s.admit(key, get, now.Add(4*time.Minute+time.Second), nop, ok); verdict(v, err) != "ask" {
				t.Errorf("%v, then the same after expiry: %v", o.Result, v)
			}
		}
	})
	t.Run("a HEAD carries over once, from the same client and site", func(t *testing.T) {
		var s transactions
		c, _, _ := s.admit(key, head, now, nop, ok)
		s.finish(key, c, approved, now, 4*time.Minute)
		other := get
		other.ip = "192.0.2.2"
		if _, v, err := s.admit(key, other, now.Add(time.Second), nop, ok); verdict(v, err) != "spent" {
			t.Errorf("from another IP: %v", v)
		}
		other = get
		other.site = "t"
		if _, v, err := s.admit(key, other, now.Add(time.Second), nop, ok); verdict(v, err) != "spent" {
			t.Errorf("on another site: %v", v)
		}
		if _, v, err := s.admit(key, get, now.Add(time.Second), nop, ok); verdict(v, err) != "carried" {
			t.Errorf("GET after HEAD: %v", v)
		}
		if _, v, err := s.admit(key, get, now.Add(2*time.Second), nop, ok); verdict(v, err) != "spent" {
			t.Errorf("a second GET after HEAD: %v", v)
		}
	})
	t.Run("the carry-over ends", func(t *testing.T) {
		var s transactions
		c, _, _ := s.admit(key, head, now, nop, ok)
		s.finish(key, c, approved, now, 4*time.Minute)
		if _, v, err := s.admit(key, get, now.Add(basicCarryOver+time.Second), nop, ok); verdict(v, err) != "spent" {
			t.Errorf("GET long after HEAD: %v", v)
		}
	})
	t.Run("a refused HEAD carries nothing over", func(t *testing.T) {
		var s transactions
		c, _, _ := s.admit(key, head, now, nop, ok)
		s.finish(key, c, xepauth.Outcome{Result: xepauth.Denied}, now, 4*time.Minute)
		if _, v, err := s.admit(key, get, now.Add(time.Second), nop, ok); verdict(v, err) != "spent" {
			t.Errorf("GET after a denied HEAD: %v", v)
		}
	})
	t.Run("identical requests share one ask; others are refused", func(t *testing.T) {
		var s transactions
		c, _, _ := s.admit(key, get, now, nop, ok)
		for i := 1; i < txMaxWaiters; i++ {
			if c2, v, err := s.admit(key, get, now, nop, ok); verdict(v, err) != "joined" || c2 != c {
				t.Fatalf("identical request %d: %v", i, v)
			}
		}
		if _, v, err := s.admit(key, get, now, nop, ok); verdict(v, err) != "crowded" {
			t.Errorf("one waiter too many: %v", v)
		}
		post := get
		post.method = "POST"
		if _, v, err := s.admit(key, post, now, nop, ok); verdict(v, err) != "in use" {
			t.Errorf("another method with the same id: %v", v)
		}
		s.finish(key, c, approved, now, time.Minute)
		select {
		case <-c.done:
		default:
			t.Fatal("waiters not woken")
		}
		if c.outcome.Result != xepauth.Approved {
			t.Errorf("outcome %v", c.outcome.Result)
		}
	})
	t.Run("the last waiter to leave ends the ask", func(t *testing.T) {
		var s transactions
		ctx, cancel := context.WithCancel(context.Background())
		c, _, _ := s.admit(key, get, now, cancel, ok)
		_, _, _ = s.admit(key, get, now, nop, ok)
		s.leave(c)
		if ctx.Err() != nil {
			t.Fatal("ended with a waiter left")
		}
		s.leave(c)
		if ctx.Err() == nil {
			t.Fatal("not ended when the last waiter left")
		}
	})
	t.Run("a limit refuses without remembering", func(t *testing.T) {
		var s transactions
		if _, v, err := s.admit(key, get, now, nop, func() error { return errTooManyForJID }); v != txRefused || err != errTooManyForJID {
			t.Fatalf("%v %v", v, err)
		}
		if _, v, err := s.admit(key, get, now, nop, ok); verdict(v, err) != "ask" {
			t.Errorf("after the limit: %v", v)
		}
	})
	t.Run("memory is bounded and expired ids are swept", func(t *testing.T) {
		var s transactions
		_, _, _ = s.admit(key, get, now, nop, ok) // makes the maps
		for i := range txMaxEntries {
			s.spent[txKey{bare: "b@x", txid: strconv.Itoa(i)}] = &txSpent{expires: now.Add(time.Minute)}
		}
		if _, v, err := s.admit(txKey{bare: "c@x", txid: "new"}, get, now, nop, ok); verdict(v, err) != "full" {
			t.Errorf("when full: %v", v)
		}
		if _, v, err := s.admit(txKey{bare: "c@x", txid: "new"}, get, now.Add(2*time.Minute), nop, ok); verdict(v, err) != "ask" {
			t.Errorf("once the ids expired: %v", v)
		}
		if n := len(s.spent); n != 0 {
			t.Errorf("%d spent ids left after the sweep", n)
		}
	})
}
