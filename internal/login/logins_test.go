package login

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// A login that finished more than keepDone ago cannot be found, even when
// no other login has started since: a browser cashes its login in by
// finding it, so an approved login left waiting must not stay there for
// the taking until someone else logs in. The login's goroutine runs in a
// synctest bubble, so that synctest.Wait tells when it has ended; the time
// is the injected clock.
func TestAFinishedLoginIsNotFoundOnceKeepDoneHasPassed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		now := time.Unix(2e9, 0)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		wait := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
		ls := newLogins(clock)
		l := &login{}
		ls.start(context.Background(), &fakeAsker{outcome: xepauth.Outcome{Result: xepauth.Approved}}, l,
			xepauth.Request{}, time.Minute, func(xepauth.Outcome) {})
		synctest.Wait() // the ask has ended, and the login is queued to be forgotten
		if _, ok := l.finished(); !ok {
			t.Fatal("the ask has not ended")
		}
		wait(keepDone - time.Second)
		if got := ls.get(l.id); got != l {
			t.Fatalf("a login finished %v ago: got %p, want it (%p)", keepDone-time.Second, got, l)
		}
		wait(time.Second)
		if got := ls.get(l.id); got != nil {
			t.Errorf("a login finished %v ago is still found", keepDone)
		}
	})
}
