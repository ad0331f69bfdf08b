package xepauth

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"testing"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
)

// fuzzAsk is one pending ask of the table FuzzHandleStanza answers, in the
// state Ask leaves it after sending.
type fuzzAsk struct {
	jid, code     string
	iqID          string // the iq sent to a full JID
	msgID, thread string // the message sent to the bare JID, or after a fallback
}

// fuzzAsks are the pending requests every input is routed against: a
// full JID asked by iq, a bare JID asked by message (the same account as
// the next one, so that a bare "no" is ambiguous for it), a full JID whose
// client fell back to the message, and a JID given by the fuzzer.
var fuzzAsks = []fuzzAsk{
	{jid: "bob@example.net", code: "KLM345", msgID: "m2", thread: "th2"},
	{jid: "bob@example.net/desk", code: "QRS567", iqID: "iq3"},
	// Both ids: the iq was refused with service-unavailable, and the
	// message that followed forgot it.
	{jid: "carol@example.com/phone", code: "XYZ789", iqID: "iq4", msgID: "m4", thread: "th4"},
}

const fuzzDomain = "auth.example.org"

// streamer is what mellium hands HandleXMPP: the rest of the stanza to
// read, and the stream to write replies to.
type streamer struct {
	*xml.Decoder
	*xml.Encoder
}

// FuzzHandleStanza feeds raw stanzas, as the XMPP server would send them,
// to the component's stanza handler, in front of a table of pending asks.
// The second argument is the JID of one more ask (a full JID is asked by
// iq "iq1", a bare one by message "m1", thread "th1"; code ABC234).
//
// Properties: never a panic and never an error (an error would end the
// component session for every site); one stanza decides at most one ask;
// every decision comes from the asked account (the asked full JID for an
// iq), and names that sender; an approval needs the asked iq id with a
// result, or a message that is no error and carries the ask's code (in a
// <confirm/> or as the whole text); a fallback only follows an iq error
// from the asked full JID; a decided ask is gone from the table, every
// other one is still there.
func FuzzHandleStanza(f *testing.F) {
	for _, s := range fuzzStanzaSeeds {
		f.Add([]byte(s), "alice@example.org/phone")
	}
	f.Add([]byte(`<message from='alice@example.org/x' type='chat'><body>abc-234</body></message>`), "alice@example.org")
	f.Add([]byte(`<message from='alice@example.org' type='error' id='m1'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`), "alice@example.org")
	f.Add([]byte(`<iq from='Alice@Example.ORG/phone' type='result' id='iq1'/>`), "alice@example.org/phone")
	f.Add([]byte(`<iq from='alice@example.org/phone' type='result' id='iq1'/>`), "alice@auth.example.org/phone")
	// Addresses that ejabberd stamps as the client typed them, and that
	// the gate must not read as the asked one (conn.trustSender).
	f.Add([]byte("<iq from='x\U0002F874@example.org/phone' type='result' id='iq1'/>"), "x当@example.org/phone")
	f.Add([]byte("<message from='aliß@example.org/phone' type='chat'><body>ABC234</body></message>"), "aliß@example.org")

	f.Fuzz(func(t *testing.T, raw []byte, asked string) {
		spec := []fuzzAsk{{jid: asked, code: "ABC234"}}
		a0, err := jid.Parse(asked)
		if err != nil || a0.Localpart() == "" {
			return // Ask refuses no such request; the gate never asks one
		}
		if a0.Resourcepart() != "" {
			spec[0].iqID = "iq1"
		} else {
			spec[0].msgID, spec[0].thread = "m1", "th1"
		}
		spec = append(spec, fuzzAsks...)

		c := &conn{
			domain: jid.MustParse(fuzzDomain),
			table:  newTable(zap.NewNop()),
			log:    zap.NewNop(),
			done:   make(chan struct{}),
			pings:  map[string]chan struct{}{"ping-1": make(chan struct{})},
		}
		asks := make([]*ask, len(spec))
		for i, s := range spec {
			a := newAsk(Request{JID: jid.MustParse(s.jid), Code: s.code, Method: "GET", URL: "https://example.org/"})
			c.table.add(a)
			if s.iqID != "" {
				c.table.useIQ(a, s.iqID)
			}
			if s.msgID != "" {
				c.table.useMessage(a, s.msgID, s.thread)
			}
			asks[i] = a
		}
		decided := make([]bool, len(asks))

		// The input is a run of stanzas, as they come one after another on
		// the stream, so that the fuzzer can also try second answers,
		// answers after a fallback, and answers to asks decided already.
		d := xml.NewDecoder(bytes.NewReader(raw))
		rw := streamer{d, xml.NewEncoder(io.Discard)}
		for stanzas := 0; stanzas < 8; {
			off := d.InputOffset()
			tok, err := d.Token()
			if err != nil {
				return // the stream ends; mellium never calls the handler
			}
			se, ok := tok.(xml.StartElement)
			if !ok {
				continue
			}
			stanzas++
			start := se.Copy()
			was := make([]fuzzAsk, len(asks))
			for i, a := range asks {
				was[i] = fuzzAsk{iqID: a.iqID, msgID: a.msgID, thread: a.thread}
			}
			if err := c.HandleXMPP(rw, &start); err != nil {
				t.Fatalf("a stanza ended the session: %v", err)
			}

			// What the oracle knows of the stanza, read again on its own.
			one := raw[off:d.InputOffset()]
			var s wireStanza
			decodeErr := xml.NewDecoder(bytes.NewReader(one)).Decode(&s)
			from := c.domain
			if s.From != "" {
				from, _ = jid.Parse(s.From)
			}

			decidedNow := 0
			for i, a := range asks {
				evs := drain(a)
				if len(evs) == 0 {
					if !decided[i] && !inTable(c.table, a) {
						t.Fatalf("ask %d (%s) left the table without an outcome", i, spec[i].jid)
					}
					continue
				}
				if decided[i] {
					t.Fatalf("ask %d (%s) decided twice, now by %q: %+v", i, spec[i].jid, one, evs)
				}
				if decidedNow++; decidedNow > 1 {
					t.Fatalf("one stanza decided two asks: %q", one)
				}
				if decodeErr != nil {
					t.Fatalf("a stanza that does not decode decided ask %d: %v", i, decodeErr)
				}
				if !from.Bare().Equal(a.bare) || from.Bare().String() != a.bare.String() {
					t.Fatalf("ask of %s decided by %q: %+v", a.bare, s.From, evs)
				}
				if from.Localpart() == "" {
					t.Fatalf("ask decided by a server address %q", s.From)
				}
				if !spelledAsParsed(s.From, from) || Unambiguous(from) != nil {
					t.Fatalf("ask decided by %q, an address servers may read as another account", s.From)
				}
				for _, ev := range evs {
					checkEvent(t, &s, from, a, was[i], ev)
				}
				decided[i] = !evs[len(evs)-1].fallback
				if decided[i] == inTable(c.table, a) {
					t.Fatalf("ask %d: final outcome = %v, still in the table = %v", i, decided[i], !decided[i])
				}
				if !decided[i] {
					// As Ask does on a fallback: the message, with ids the
					// seeds know.
					c.table.useMessage(a, fmt.Sprintf("fb-m%d", i), fmt.Sprintf("fb-th%d", i))
				}
			}
			if decodeErr != nil {
				return // the stream is broken; the session would be redialled
			}
		}
	})
}

func checkEvent(t *testing.T, s *wireStanza, from jid.JID, a *ask, was fuzzAsk, ev event) {
	t.Helper()
	iqFromAsked := s.XMLName.Local == "iq" && was.iqID != "" && s.ID == was.iqID &&
		!a.full.Equal(jid.JID{}) && from.Equal(a.full) && from.String() == a.full.String()
	msg := s.XMLName.Local == "message"
	if ev.fallback {
		if !iqFromAsked || s.Type != "error" || !fallbackConditions[s.condition()] {
			t.Fatalf("fallback from %q, %s type %q id %q condition %q", s.From, s.XMLName.Local, s.Type, s.ID, s.condition())
		}
		if a.iqID != "" {
			t.Fatal("the iq id survived the fallback")
		}
		return
	}
	o := ev.outcome
	if !o.By.Equal(from) {
		t.Fatalf("outcome names %q, stanza came from %q", o.By, s.From)
	}
	switch o.Via {
	case "iq":
		if !iqFromAsked || (s.Type != "result" && s.Type != "error") {
			t.Fatalf("%v via iq from %q (type %q, id %q), asked %s iq %q", o.Result, s.From, s.Type, s.ID, a.full, was.iqID)
		}
		if (o.Result == Approved) != (s.Type == "result") {
			t.Fatalf("iq of type %q gave %v", s.Type, o.Result)
		}
	case "message":
		if !msg {
			t.Fatalf("%v via message from a %s", o.Result, s.XMLName.Local)
		}
		switch o.Result {
		case Approved:
			c := s.confirm()
			if s.Type == "error" || s.Type == "groupchat" || c == nil || normaliseCode(c.ID) != a.code {
				t.Fatalf("approved by a message of type %q with confirm %+v, code %q", s.Type, c, a.code)
			}
		case Denied, Unreachable:
			if s.Type != "error" {
				t.Fatalf("%v by a message of type %q", o.Result, s.Type)
			}
			if (o.Result == Unreachable) != (from.Resourcepart() == "") {
				t.Fatalf("%v from %q", o.Result, s.From)
			}
		default:
			t.Fatalf("message gave %v", o.Result)
		}
	case "plaintext":
		text := normaliseCode(s.body())
		if !msg || s.Type == "error" || s.Type == "groupchat" || s.confirm() != nil {
			t.Fatalf("plain text %q from a %s of type %q", s.body(), s.XMLName.Local, s.Type)
		}
		switch o.Result {
		case Approved:
			if text != a.code {
				t.Fatalf("plain text %q approved code %q", s.body(), a.code)
			}
		case Denied:
			if !slices.Contains(refusals, text) && text != "NO"+a.code && text != "NON"+a.code {
				t.Fatalf("plain text %q refused code %q", s.body(), a.code)
			}
		default:
			t.Fatalf("plain text gave %v", o.Result)
		}
	default:
		t.Fatalf("outcome %+v came by no known way", o)
	}
}

// drain returns what the router queued for a, without waiting.
func drain(a *ask) []event {
	var evs []event
	for {
		select {
		case ev := <-a.events:
			evs = append(evs, ev)
		default:
			return evs
		}
	}
}

// inTable reports whether a is still pending, by any of its keys.
func inTable(t *table, a *ask) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Contains(t.byBare[a.bare.String()], a)
}

// fuzzStanzaSeeds are answers as real clients and servers send them, to
// the asks of FuzzHandleStanza with alice@example.org/phone asked by iq,
// and the same answers from the wrong places. The corpus in
// testdata/fuzz/FuzzHandleStanza holds them too.
var fuzzStanzaSeeds = []string{
	// Right answers.
	`<iq xmlns='jabber:component:accept' type='result' from='alice@example.org/phone' to='auth.example.org' id='iq1'/>`,
	`<iq type='error' from='alice@example.org/phone' id='iq1'><confirm xmlns='http://jabber.org/protocol/http-auth' id='ABC234' method='GET' url='https://example.org/'/><error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
	`<iq type='error' from='alice@example.org/phone' id='iq1'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
	`<iq type='error' from='alice@example.org/phone' id='iq1'><error code='503'/></iq>`,
	`<iq type='error' from='alice@example.org/phone' id='iq1'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
	`<message from='bob@example.net/desk' type='normal'><thread>th2</thread><confirm xmlns='http://jabber.org/protocol/http-auth' id='KLM345' method='GET' url='https://example.org/'/></message>`,
	`<message from='bob@example.net/web'><confirm xmlns='http://jabber.org/protocol/http-auth' id='klm-345'/></message>`,
	`<message from='bob@example.net/dino' type='chat'><body> KLM 345. </body></message>`,
	`<message from='bob@example.net/dino' type='chat'><body>no QRS567</body></message>`,
	`<message from='bob@example.net/dino' type='chat'><body>Non</body></message>`,
	`<message from='bob@example.net' type='error' id='m2'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`,
	`<message from='bob@example.net/desk' type='error'><thread>th2</thread><error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`,
	`<iq type='result' from='bob@example.net/desk' id='iq3'/>`,
	`<message from='carol@example.com/phone' type='chat'><thread>th4</thread><body>xyz789</body></message>`,
	`<message from='carol@example.com/laptop' type='chat'><body>no</body></message>`,
	// Wrong senders, stale ids, our own domain, pings, requests, junk.
	`<iq type='result' from='carol@example.com/phone' id='iq4'/>`,
	`<iq type='result' from='alice@example.org/laptop' id='iq1'/>`,
	`<iq type='result' from='alice@example.org' id='iq1'/>`,
	`<iq type='result' from='mallory@example.org/phone' id='iq1'/>`,
	`<iq type='result' id='iq1'/>`,
	`<iq type='result' from='alice@auth.example.org/phone' id='iq1'/>`,
	`<message from='mallory@evil.example/x' type='normal'><thread>th2</thread><confirm xmlns='http://jabber.org/protocol/http-auth' id='KLM345'/></message>`,
	`<message from='mallory@evil.example/x' type='chat'><body>KLM345</body></message>`,
	`<message from='example.net' type='normal'><thread>th2</thread><confirm xmlns='http://jabber.org/protocol/http-auth' id='KLM345'/></message>`,
	`<message from='bob@example.net/desk' type='groupchat'><thread>th2</thread><confirm xmlns='http://jabber.org/protocol/http-auth' id='KLM345'/></message>`,
	`<message from='bob@example.net/desk'><thread>th2</thread><confirm xmlns='http://jabber.org/protocol/http-auth' id='ZZZ999'/></message>`,
	`<message from='bob@example.net/desk'><thread>th2</thread><confirm xmlns='urn:other' id='KLM345'/></message>`,
	`<iq type='result' from='auth.example.org' id='ping-1'/>`,
	`<message from='auth.example.org' id='probe-1'><probe xmlns='https://github.com/xepauth/caddy-xepauth#probe'/></message>`,
	`<iq type='get' from='alice@example.org/phone' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
	`<iq type='set' from='not a jid@@' id='x'><confirm xmlns='http://jabber.org/protocol/http-auth' id='ABC234'/></iq>`,
	`<message from='bob@example.net/a'><body>KLM345</body><body>no</body><thread>th4</thread><thread>th2</thread></message>`,
	`<presence from='alice@example.org/phone'/>`,
	`<iq type='result' from='alice@example.org/phone' id='iq1'>`,
	// Runs of stanzas: a fallback and the answer to its message, a second
	// answer, an answer from the wrong account before the right one.
	`<iq type='error' from='alice@example.org/phone' id='iq1'><error type='cancel'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>` +
		`<iq type='error' from='alice@example.org/phone' id='iq1'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>` +
		`<message from='alice@example.org/laptop'><thread>fb-th0</thread><confirm xmlns='http://jabber.org/protocol/http-auth' id='ABC234'/></message>`,
	`<iq type='result' from='alice@example.org/phone' id='iq1'/><iq type='error' from='alice@example.org/phone' id='iq1'><error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
	`<message from='mallory@evil.example/x' type='chat'><body>XYZ789</body></message>` + "\n" +
		`<message from='carol@example.com/x' type='chat'><body>XYZ789</body></message><message from='carol@example.com/x' type='chat'><body>no</body></message>`,
	`<message from='bob@example.net/dino' type='chat'><body>no</body></message><message from='bob@example.net/dino' type='chat'><body>non KLM345</body></message><message from='bob@example.net/dino' type='chat'><body>no</body></message>`,
	`<?xml version='1.0'?><!-- c --><iq type='result' from='alice@example.org/phone' id='iq1'/>`,
}
