package xepauth

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"mellium.im/xmpp/jid"
)

// pendingIQ and pendingMessage set up a table with one ask, as Ask leaves
// it after sending an iq to alice's full JID or a message to her bare JID.
func pendingIQ(t *testing.T) (*table, *ask, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	tb := newTable(zap.New(core))
	a := newAsk(Request{JID: jid.MustParse("alice@localhost/phone"), Code: "ABC234", Method: "GET", URL: "https://example.org/"})
	tb.add(a)
	tb.useIQ(a, "iq1")
	return tb, a, logs
}

func pendingMessage(t *testing.T) (*table, *ask, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	tb := newTable(zap.New(core))
	a := newAsk(Request{JID: jid.MustParse("alice@localhost"), Code: "ABC234", Method: "GET", URL: "https://example.org/"})
	tb.add(a)
	tb.useMessage(a, "m1", "th1")
	return tb, a, logs
}

func withCondition(space, cond string) []wireError {
	e := wireError{Type: "cancel"}
	e.Conditions = append(e.Conditions, wireName{})
	e.Conditions[0].XMLName.Space, e.Conditions[0].XMLName.Local = space, cond
	return []wireError{e}
}

// result returns the final outcome queued for a, or fails.
func result(t *testing.T, a *ask) (Outcome, bool) {
	t.Helper()
	select {
	case ev := <-a.events:
		if ev.fallback {
			return Outcome{Detail: "fallback"}, true
		}
		return ev.outcome, true
	default:
		return Outcome{}, false
	}
}

func TestRouteIQ(t *testing.T) {
	tests := []struct {
		name     string
		s        wireStanza
		from     string
		want     string // result name, "fallback", or "" for dropped
		wantWarn bool
	}{
		{name: "result from the asked full JID approves", s: wireStanza{ID: "iq1", Type: "result"}, from: "alice@localhost/phone", want: "approved"},
		{name: "not-authorized denies", s: wireStanza{ID: "iq1", Type: "error", Error: withCondition(nsStanzas, "not-authorized")}, from: "alice@localhost/phone", want: "denied"},
		{name: "a condition in the XEP example's wrong namespace still denies", s: wireStanza{ID: "iq1", Type: "error", Error: withCondition("urn:ietf:params:xml:xmpp-stanzas", "not-authorized")}, from: "alice@localhost/phone", want: "denied"},
		{name: "an error without condition denies", s: wireStanza{ID: "iq1", Type: "error", Error: []wireError{{Type: "auth"}}}, from: "alice@localhost/phone", want: "denied"},
		{name: "service-unavailable falls back to a message", s: wireStanza{ID: "iq1", Type: "error", Error: withCondition(nsStanzas, "service-unavailable")}, from: "alice@localhost/phone", want: "fallback"},
		{name: "feature-not-implemented falls back to a message", s: wireStanza{ID: "iq1", Type: "error", Error: withCondition(nsStanzas, "feature-not-implemented")}, from: "alice@localhost/phone", want: "fallback"},
		{name: "legacy code 503 falls back", s: wireStanza{ID: "iq1", Type: "error", Error: []wireError{{Code: "503"}}}, from: "alice@localhost/phone", want: "fallback"},
		{name: "legacy code 501 falls back", s: wireStanza{ID: "iq1", Type: "error", Error: []wireError{{Code: "501"}}}, from: "alice@localhost/phone", want: "fallback"},
		{name: "remote-server-not-found is unreachable", s: wireStanza{ID: "iq1", Type: "error", Error: withCondition(nsStanzas, "remote-server-not-found")}, from: "alice@localhost/phone", want: "unreachable"},
		{name: "result from another resource of the same account is dropped", s: wireStanza{ID: "iq1", Type: "result"}, from: "alice@localhost/laptop", wantWarn: true},
		{name: "result from another account is dropped", s: wireStanza{ID: "iq1", Type: "result"}, from: "mallory@localhost/phone", wantWarn: true},
		{name: "result from the bare JID is dropped", s: wireStanza{ID: "iq1", Type: "result"}, from: "alice@localhost", wantWarn: true},
		{name: "result for an unknown id is dropped", s: wireStanza{ID: "other", Type: "result"}, from: "alice@localhost/phone"},
		{name: "result from the user's server is dropped", s: wireStanza{ID: "iq1", Type: "result"}, from: "localhost", wantWarn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, a, logs := pendingIQ(t)
			tt.s.From = tt.from
			tb.routeIQ(&tt.s, jid.MustParse(tt.from))
			o, ok := result(t, a)
			got := ""
			if ok {
				got = o.Result.String()
				if o.Detail == "fallback" {
					got = "fallback"
				}
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if warned := logs.FilterLevelExact(zap.WarnLevel).Len() > 0; warned != tt.wantWarn {
				t.Errorf("warned = %v, want %v (logs: %v)", warned, tt.wantWarn, logs.All())
			}
		})
	}
}

func TestRouteMessage(t *testing.T) {
	confirm := []Confirm{{ID: "ABC234", Method: "GET", URL: "https://example.org/"}}
	tests := []struct {
		name     string
		s        wireStanza
		from     string
		want     string
		wantWarn bool
	}{
		{name: "normal message with thread and confirm approves", s: wireStanza{Type: "normal", Thread: []string{"th1"}, Confirm: confirm}, from: "alice@localhost/phone", want: "approved"},
		{name: "message without type (ejabberd strips normal) approves", s: wireStanza{Thread: []string{"th1"}, Confirm: confirm}, from: "alice@localhost/phone", want: "approved"},
		{name: "confirm without thread (Movim) approves by code", s: wireStanza{Confirm: confirm}, from: "alice@localhost/web", want: "approved"},
		{name: "SàT's type result approves", s: wireStanza{Type: "result", Confirm: confirm}, from: "alice@localhost/sat", want: "approved"},
		{name: "Gajim's approval with a body approves", s: wireStanza{Type: "normal", Thread: []string{"th1"}, Body: []string{"result"}, Confirm: confirm}, from: "alice@localhost/gajim", want: "approved"},
		{name: "error from a full JID denies", s: wireStanza{Type: "error", Thread: []string{"th1"}, Confirm: confirm, Error: withCondition(nsStanzas, "not-authorized")}, from: "alice@localhost/phone", want: "denied"},
		{name: "error with service-unavailable from a client still denies", s: wireStanza{Type: "error", Thread: []string{"th1"}, Error: withCondition(nsStanzas, "service-unavailable")}, from: "alice@localhost/phone", want: "denied"},
		{name: "Prosody bounce (id only, from the bare JID) is unreachable", s: wireStanza{Type: "error", ID: "m1", Error: withCondition(nsStanzas, "service-unavailable")}, from: "alice@localhost", want: "unreachable"},
		{name: "ejabberd bounce (confirm echoed, from the bare JID) is unreachable", s: wireStanza{Type: "error", ID: "m1", Thread: []string{"th1"}, Confirm: confirm, Error: withCondition(nsStanzas, "service-unavailable")}, from: "alice@localhost", want: "unreachable"},
		{name: "plain-text code approves", s: wireStanza{Type: "chat", Body: []string{"abc234"}}, from: "alice@localhost/conversations", want: "approved"},
		{name: "plain-text code with spaces and dash approves", s: wireStanza{Type: "chat", Body: []string{" ABC-234.\n"}}, from: "alice@localhost/dino", want: "approved"},
		{name: "plain-text no denies the only pending request", s: wireStanza{Type: "chat", Body: []string{"No"}}, from: "alice@localhost/dino", want: "denied"},
		{name: "plain-text non (French) denies the only pending request", s: wireStanza{Type: "chat", Body: []string{"Non."}}, from: "alice@localhost/dino", want: "denied"},
		{name: "plain-text non with the code denies", s: wireStanza{Type: "chat", Body: []string{"non ABC234"}}, from: "alice@localhost/dino", want: "denied"},
		{name: "plain-text no with the code denies", s: wireStanza{Type: "chat", Body: []string{"no ABC234"}}, from: "alice@localhost/dino", want: "denied"},
		{name: "another text is dropped", s: wireStanza{Type: "chat", Body: []string{"hello?"}}, from: "alice@localhost/dino"},
		{name: "a chat state without body is dropped", s: wireStanza{Type: "chat", Thread: []string{"th1"}}, from: "alice@localhost/dino"},
		{name: "groupchat is dropped", s: wireStanza{Type: "groupchat", Thread: []string{"th1"}, Confirm: confirm}, from: "alice@localhost/phone"},
		{name: "right thread from another account is dropped", s: wireStanza{Type: "normal", Thread: []string{"th1"}, Confirm: confirm}, from: "mallory@localhost/x", wantWarn: true},
		{name: "right code from another account is dropped", s: wireStanza{Type: "normal", Confirm: confirm}, from: "mallory@localhost/x", wantWarn: true},
		{name: "plain-text code from another account is dropped", s: wireStanza{Type: "chat", Body: []string{"ABC234"}}, from: "mallory@localhost/x", wantWarn: true},
		{name: "deny from another account is dropped", s: wireStanza{Type: "error", Thread: []string{"th1"}, Error: withCondition(nsStanzas, "not-authorized")}, from: "mallory@localhost/x", wantWarn: true},
		{name: "right thread with another code is dropped", s: wireStanza{Type: "normal", Thread: []string{"th1"}, Confirm: []Confirm{{ID: "ZZZ999"}}}, from: "alice@localhost/phone", wantWarn: true},
		{name: "the server itself cannot approve", s: wireStanza{Type: "normal", Thread: []string{"th1"}, Confirm: confirm}, from: "localhost", wantWarn: true},
		{name: "the server itself cannot approve by plain-text code", s: wireStanza{Type: "chat", Body: []string{"ABC234"}}, from: "localhost", wantWarn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, a, logs := pendingMessage(t)
			tt.s.From = tt.from
			tb.routeMessage(&tt.s, jid.MustParse(tt.from))
			o, ok := result(t, a)
			got := ""
			if ok {
				got = o.Result.String()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q (%+v)", got, tt.want, o)
			}
			if warned := logs.FilterLevelExact(zap.WarnLevel).Len() > 0; warned != tt.wantWarn {
				t.Errorf("warned = %v, want %v (logs: %v)", warned, tt.wantWarn, logs.All())
			}
		})
	}
}

func TestFirstAnswerWins(t *testing.T) {
	tb, a, _ := pendingMessage(t)
	approve := wireStanza{Type: "normal", Thread: []string{"th1"}, Confirm: []Confirm{{ID: "ABC234"}}}
	deny := wireStanza{Type: "error", Thread: []string{"th1"}, Error: withCondition(nsStanzas, "not-authorized")}
	tb.routeMessage(&approve, jid.MustParse("alice@localhost/one"))
	tb.routeMessage(&deny, jid.MustParse("alice@localhost/two"))
	tb.routeMessage(&approve, jid.MustParse("alice@localhost/three"))
	if o, _ := result(t, a); o.Result != Approved {
		t.Fatalf("first outcome = %v, want approved", o.Result)
	}
	if _, ok := result(t, a); ok {
		t.Fatal("a later answer produced a second outcome")
	}
	if n := tb.len(); n != 0 {
		t.Fatalf("%d asks still pending after the first answer", n)
	}
}

func TestPlainTextNoIsAmbiguousWithTwoPendingRequests(t *testing.T) {
	tb, a, _ := pendingMessage(t)
	b := newAsk(Request{JID: jid.MustParse("alice@localhost"), Code: "XYZ789", Method: "GET", URL: "https://example.org/"})
	tb.add(b)
	tb.useMessage(b, "m2", "th2")
	tb.routeMessage(&wireStanza{Type: "chat", Body: []string{"no"}}, jid.MustParse("alice@localhost/dino"))
	if _, ok := result(t, a); ok {
		t.Fatal("a bare no decided one of two pending requests")
	}
	tb.routeMessage(&wireStanza{Type: "chat", Body: []string{"no XYZ789"}}, jid.MustParse("alice@localhost/dino"))
	if o, _ := result(t, b); o.Result != Denied {
		t.Fatalf("no with the code: got %v, want denied", o.Result)
	}
	if _, ok := result(t, a); ok {
		t.Fatal("the other request was decided too")
	}
}

func TestCloseAllEndsEveryAskAsUnreachable(t *testing.T) {
	tb, a, _ := pendingMessage(t)
	tb.closeAll("connection lost")
	if o, _ := result(t, a); o.Result != Unreachable {
		t.Fatalf("got %v, want unreachable", o.Result)
	}
	if tb.add(newAsk(Request{JID: jid.MustParse("bob@localhost")})) {
		t.Fatal("a closed table accepted a new ask")
	}
}

// A code from an account that was not asked is found through the code
// index, which add and remove keep up to date: after other asks (some with
// the same code, for other accounts) came and went, the stray code is still
// recognised as the pending one, and once its ask is gone it is not.
func TestAStrayCodeIsRecognisedWhileItsAskIsPending(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	tb := newTable(zap.New(core))
	pend := func(j, code string) *ask {
		a := newAsk(Request{JID: jid.MustParse(j), Code: code, Method: "GET", URL: "https://example.org/"})
		if !tb.add(a) {
			t.Fatal("add refused")
		}
		return a
	}
	stray := func() int {
		before := logs.FilterMessageSnippet("from an account that was not asked").Len()
		tb.routeMessage(&wireStanza{Type: "chat", Body: []string{"abc-234"}, From: "mallory@localhost/x"}, jid.MustParse("mallory@localhost/x"))
		return logs.FilterMessageSnippet("from an account that was not asked").Len() - before
	}

	early := pend("carol@localhost", "ABC234") // same code, asked before alice
	others := []*ask{pend("bob@localhost", "XYZ789"), pend("dave@localhost", "KLM345")}
	alice := pend("alice@localhost", "ABC234")
	later := pend("erin@localhost", "ABC234")
	tb.remove(early)
	tb.remove(later)
	for _, a := range others {
		tb.remove(a)
	}
	pend("frank@localhost", "QRS567")

	if n := stray(); n != 1 {
		t.Fatalf("the stray code was logged %d times as from an account not asked, want 1:\n%v", n, logs.All())
	}
	if e := logs.FilterMessageSnippet("not asked").All(); e[len(e)-1].ContextMap()["asked"] != "alice@localhost" {
		t.Errorf("the warning names %v, want alice@localhost", e[len(e)-1].ContextMap()["asked"])
	}
	if _, ok := result(t, alice); ok {
		t.Fatal("mallory's code decided alice's ask")
	}

	// Alice's own answer still finds her ask among those sharing the code.
	tb.routeMessage(&wireStanza{Type: "chat", Body: []string{"ABC234"}, From: "alice@localhost/x"}, jid.MustParse("alice@localhost/x"))
	if o, _ := result(t, alice); o.Result != Approved {
		t.Fatalf("alice's code: %v, want approved", o.Result)
	}
	if n := stray(); n != 0 {
		t.Errorf("the code of a finished ask is still recognised (%d warnings)", n)
	}
	if len(tb.byCode) != 1 || len(tb.byCode["QRS567"]) != 1 {
		t.Errorf("code index after the asks ended: %v, want only QRS567", tb.byCode)
	}
}
