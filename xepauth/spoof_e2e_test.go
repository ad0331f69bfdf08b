package xepauth_test

import (
	"context"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
	"github.com/xepauth/caddy-xepauth/xepauth"
)

// askLater starts an ask of j in the background and returns its outcome
// channel and the request the user received.
func askLater(t *testing.T, r *rig, u *xmpptest.User, j jid.JID, timeout time.Duration) (<-chan xepauth.Outcome, xmpptest.Request) {
	t.Helper()
	done := make(chan xepauth.Outcome, 1)
	go func() {
		o, _ := r.ask(j, timeout)
		done <- o
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := u.NextRequest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return done, req
}

// outcomeOf waits for the outcome of an ask started by askLater: its own
// timeout ends it, so one that never comes is a hung component.
func outcomeOf(t *testing.T, done <-chan xepauth.Outcome) xepauth.Outcome {
	t.Helper()
	select {
	case o := <-done:
		return o
	case <-time.After(30 * time.Second):
		t.Fatal("the ask never ended")
		return xepauth.Outcome{}
	}
}

// approval is the answer a client sends to approve req by message.
func approval(req xmpptest.Request) string {
	return `<message to='auth.localhost' type='normal'><thread>` + req.Thread + `</thread><confirm xmlns='http://jabber.org/protocol/http-auth' id='` +
		req.ID + `' method='GET' url='` + req.URL + `'/></message>`
}

func TestSpoofedAnswersNeverApprove(t *testing.T) {
	r := newRig(t, xepauth.Config{})
	alice := r.p.NewUser(t, "alice", xmpptest.Silent)
	mallory := r.p.NewUser(t, "mallory", xmpptest.Silent)

	t.Run("the iq's id from another account", func(t *testing.T) {
		done, req := askLater(t, r, alice, alice.JID, 1500*time.Millisecond)
		if req.Kind != "iq" {
			t.Fatalf("alice was asked by %s", req.Kind)
		}
		for _, f := range []string{
			`<iq type='result' id='` + req.StanzaID + `' to='auth.localhost'/>`,
			`<iq type='result' id='` + req.StanzaID + `' to='auth.localhost'><confirm xmlns='http://jabber.org/protocol/http-auth' id='` + req.ID + `' method='GET' url='` + req.URL + `'/></iq>`,
		} {
			if err := mallory.SendRaw(context.Background(), f); err != nil {
				t.Fatal(err)
			}
		}
		wantResult(t, outcomeOf(t, done), xepauth.Timeout, "")
	})

	t.Run("an answer to a transaction that has expired", func(t *testing.T) {
		done, old := askLater(t, r, alice, alice.JID.Bare(), 300*time.Millisecond)
		wantResult(t, outcomeOf(t, done), xepauth.Timeout, "")
		done, _ = askLater(t, r, alice, alice.JID.Bare(), 1500*time.Millisecond)
		if err := alice.SendRaw(context.Background(), approval(old)); err != nil {
			t.Fatal(err)
		}
		wantResult(t, outcomeOf(t, done), xepauth.Timeout, "")
	})

	t.Run("a replayed approval", func(t *testing.T) {
		done, first := askLater(t, r, alice, alice.JID.Bare(), 5*time.Second)
		if err := alice.SendRaw(context.Background(), approval(first)); err != nil {
			t.Fatal(err)
		}
		wantResult(t, outcomeOf(t, done), xepauth.Approved, "")
		done, _ = askLater(t, r, alice, alice.JID.Bare(), 1500*time.Millisecond)
		for range 3 {
			if err := alice.SendRaw(context.Background(), approval(first)); err != nil {
				t.Fatal(err)
			}
		}
		wantResult(t, outcomeOf(t, done), xepauth.Timeout, "")
	})

	t.Run("the right thread and code from another account", func(t *testing.T) {
		done, req := askLater(t, r, alice, alice.JID.Bare(), 1500*time.Millisecond)
		if err := mallory.SendRaw(context.Background(), approval(req)); err != nil {
			t.Fatal(err)
		}
		if err := mallory.SendRaw(context.Background(), `<message to='auth.localhost' type='chat'><body>`+req.ID+`</body></message>`); err != nil {
			t.Fatal(err)
		}
		wantResult(t, outcomeOf(t, done), xepauth.Timeout, "")
	})

	// Still working: a genuine answer approves.
	done, req := askLater(t, r, alice, alice.JID.Bare(), 5*time.Second)
	if err := alice.SendRaw(context.Background(), approval(req)); err != nil {
		t.Fatal(err)
	}
	wantResult(t, outcomeOf(t, done), xepauth.Approved, "")
}
