package xepauth

import (
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"mellium.im/xmpp/jid"
)

func TestSpelledAsParsed(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want bool
	}{
		{"canonical full JID", "alice@localhost/phone", true},
		{"canonical bare JID", "alice@localhost", true},
		{"a server", "localhost", true},
		{"ASCII capitals in the localpart", "Alice@localhost/phone", true},
		{"ASCII capitals in the domainpart", "alice@LocalHost/phone", true},
		{"ASCII capitals in a bare JID", "ALICE@LOCALHOST", true},
		{"ASCII capitals in a server", "LOCALHOST", true},
		{"ASCII capitals in the localpart of a non-ASCII name", "Jürgen@localhost", true},
		{"capitals in the resourcepart, which keeps them", "alice@localhost/PHONE", true},
		{"an @ and capitals in the resourcepart", "alice@localhost/a@B/C", true},
		{"a compatibility character the resourcepart keeps", "alice@localhost/ﬁ", true},
		{"ß, canonical for PRECIS (Unambiguous refuses it)", "aliß@localhost/res", true},

		{"a CJK compatibility ideograph NFC respells", "x\U0002F874@localhost/res", false},
		{"a non-ASCII capital", "JÜRGEN@localhost", false},
		{"decomposed (NFD) letters", "ju\u0308rgen@localhost", false},
		{"the Kelvin sign for k", "\u212Aelvin@localhost", false},
		{"a fullwidth letter", "\uFF41lice@localhost", false},
		{"a trailing dot on the domain", "alice@localhost./phone", false},
		{"a trailing dot on the domain of a bare JID", "alice@localhost.", false},
		{"an A-label domain, which PRECIS reads as its U-label", "alice@xn--mller-kva.example", false},
		{"a resourcepart NFC respells", "alice@localhost/e\u0301", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := jid.Parse(tt.raw)
			if err != nil {
				t.Fatalf("jid.Parse(%q): %v", tt.raw, err)
			}
			if got := spelledAsParsed(tt.raw, j); got != tt.want {
				t.Errorf("spelledAsParsed(%q, %q) = %v, want %v", tt.raw, j, got, tt.want)
			}
		})
	}
}

// A stanza that could answer an ask counts only when its sender is spelled
// canonically and read the same by every server: the rest is dropped with
// a warning before the router sees it.
func TestAnswersFromAddressesServersReadOtherwiseAreDropped(t *testing.T) {
	type pending struct{ jid, iqID, msgID, thread string }
	asks := []pending{
		{jid: "x当@localhost/res", iqID: "iq1"},
		{jid: "x当@localhost", msgID: "m2", thread: "th2"},
		{jid: "aliß@localhost", msgID: "m3", thread: "th3"},
		{jid: "alice@localhost", msgID: "m4", thread: "th4"},
	}
	const confirmed = `<confirm xmlns='http://jabber.org/protocol/http-auth' id='ABC234' method='GET' url='https://example.org/'/>`
	tests := []struct {
		name    string
		stanza  string
		decided int    // index of the ask decided, -1 for none
		warn    string // a snippet of the WARN, "" for none
	}{
		{"iq result from a respelled name", "<iq type='result' id='iq1' from='x\U0002F874@localhost/res'/>", -1, "not in canonical form"},
		{"iq error from a respelled name", "<iq type='error' id='iq1' from='x\U0002F874@localhost/res'><error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>", -1, "not in canonical form"},
		{"confirm from a respelled name", "<message from='x\U0002F874@localhost/res'><thread>th2</thread>" + confirmed + "</message>", -1, "not in canonical form"},
		{"plain-text code from a respelled name", "<message type='chat' from='x\U0002F874@localhost/res'><body>ABC234</body></message>", -1, "not in canonical form"},
		{"confirm from a name stringprep folds", "<message from='aliß@localhost/res'><thread>th3</thread>" + confirmed + "</message>", -1, "stringprep"},
		{"plain-text code from a name stringprep folds", "<message type='chat' from='aliß@localhost/res'><body>ABC234</body></message>", -1, "stringprep"},
		{"the canonical name", "<iq type='result' id='iq1' from='x当@localhost/res'/>", 0, ""},
		{"the canonical name by message", "<message from='x当@localhost/res'><thread>th2</thread>" + confirmed + "</message>", 1, ""},
		{"ASCII capitals", "<message from='Alice@LOCALHOST/Phone'><thread>th4</thread>" + confirmed + "</message>", 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			c := &conn{
				domain: jid.MustParse("auth.localhost"),
				table:  newTable(zap.New(core)),
				log:    zap.New(core),
				done:   make(chan struct{}),
				pings:  map[string]chan struct{}{},
			}
			as := make([]*ask, len(asks))
			for i, p := range asks {
				as[i] = newAsk(Request{JID: jid.MustParse(p.jid), Code: "ABC234", Method: "GET", URL: "https://example.org/"})
				c.table.add(as[i])
				if p.iqID != "" {
					c.table.useIQ(as[i], p.iqID)
				} else {
					c.table.useMessage(as[i], p.msgID, p.thread)
				}
			}
			d := xml.NewDecoder(strings.NewReader(tt.stanza))
			tok, err := d.Token()
			if err != nil {
				t.Fatal(err)
			}
			start := tok.(xml.StartElement)
			if err := c.HandleXMPP(streamer{d, xml.NewEncoder(io.Discard)}, &start); err != nil {
				t.Fatal(err)
			}
			for i, a := range as {
				select {
				case ev := <-a.events:
					if i != tt.decided {
						t.Errorf("ask of %s decided: %v by %v via %s", asks[i].jid, ev.outcome.Result, ev.outcome.By, ev.outcome.Via)
					}
				default:
					if i == tt.decided {
						t.Errorf("ask of %s not decided", asks[i].jid)
					}
				}
			}
			warns := logs.FilterLevelExact(zap.WarnLevel)
			if tt.warn == "" {
				if warns.Len() != 0 {
					t.Errorf("warned: %v", warns.All())
				}
				return
			}
			if warns.FilterMessageSnippet(tt.warn).Len() != 1 {
				t.Fatalf("no WARN with %q: %v", tt.warn, logs.All())
			}
			// The raw address is logged quoted, so that a look-alike shows.
			from := warns.All()[0].ContextMap()["from"]
			var raw string
			if i := strings.Index(tt.stanza, "from='"); i >= 0 {
				raw = tt.stanza[i+6:]
				raw = raw[:strings.IndexByte(raw, '\'')]
			}
			if from != strconv.QuoteToASCII(raw) {
				t.Errorf("WARN from = %v, want %s", from, strconv.QuoteToASCII(raw))
			}
		})
	}
}
