package xepauth

import (
	"encoding/xml"
	"fmt"
	"strconv"

	"go.uber.org/zap"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// A stanza from the network arrives here (HandleXMPP), is checked for who
// sent it (trustSender), and goes on to the router (route.go), which
// matches it to its ask and makes it an Outcome.

// HandleXMPP is the session's handler. It runs on mellium's Serve
// goroutine, so it never blocks and never returns an error for anything a
// peer sent: an error would end the session for every site.
func (c *conn) HandleXMPP(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	var s wireStanza
	if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), t)).Decode(&s); err != nil {
		// Serve reads the rest of the element next; if the stream itself is
		// broken that read fails and the supervisor redials.
		c.log.Info("dropped stanza that does not decode", zap.String("element", start.Name.Local), zap.Error(err))
		return nil
	}
	from := c.domain
	if s.From != "" { // mellium blanks a from that equals our own address
		var err error
		if from, err = jid.Parse(s.From); err != nil {
			c.log.Info("dropped stanza with an address that does not parse",
				zap.String("element", s.XMLName.Local), zap.String("from", s.From), zap.Error(err))
			return nil
		}
	}
	// Nothing on our own domain answers a confirmation: such a stanza is
	// our own request come back (someone asked an address of this
	// component), not worth a warning.
	ownDomain := from.Localpart() != "" && from.Domainpart() == c.domain.Domainpart()
	switch s.XMLName.Local {
	case "iq":
		switch s.Type {
		case "get", "set":
			return c.answerIQ(t, &s, from)
		case "result", "error":
			if !c.pong(s.ID) && c.mayAnswer(&s, from, ownDomain) {
				c.table.routeIQ(&s, from)
			}
		}
	case "message":
		if from.Equal(c.domain) {
			if !c.pong(s.ID) && s.payload().Space == nsProbe {
				c.foreignProbe(s.ID)
			}
			return nil
		}
		if c.mayAnswer(&s, from, ownDomain) {
			c.table.routeMessage(&s, from)
		}
	}
	return nil
}

// mayAnswer reports whether s may answer an ask: not from an address on
// the component's own domain (ownDomain), and from a trusted sender.
func (c *conn) mayAnswer(s *wireStanza, from jid.JID, ownDomain bool) bool {
	if ownDomain {
		c.log.Debug("dropped "+s.XMLName.Local+" from this component's own domain", zap.String("from", s.From))
		return false
	}
	return c.trustSender(s, from)
}

// trustSender reports whether the sender of s, a stanza that may answer an
// ask, is the account the gate reads from its address; it logs and drops
// the stanza (false) otherwise. from is s.From parsed.
//
// The gate reads an address with PRECIS (RFC 7622), and matches the
// normalised form. A server need not have authenticated that form:
// ejabberd 23.01 authenticates the stringprep (RFC 6122) form of the name
// a client logs in with, but stamps the client's stanzas with the name as
// typed. The owner of x弳 (U+5F33) can log in as x + U+2F874, which
// stringprep reads as x弳 and PRECIS as x当 (U+5F53), someone else; and the
// owner of aliss can log in as aliß, which stringprep folds to aliss and
// PRECIS keeps. So an answer counts only when its address, as the server
// wrote it, is already in canonical form (then the gate reads what the
// server wrote, not a respelling of it), and when every XMPP server reads
// that form as the gate does (Unambiguous: then what the server
// authenticated is that form too).
func (c *conn) trustSender(s *wireStanza, from jid.JID) bool {
	if s.From == "" {
		return true // our own address, which mellium blanks
	}
	if !spelledAsParsed(s.From, from) {
		c.log.Warn("dropped stanza whose sender address is not in canonical form: the XMPP server may have authenticated another account than the one it names",
			zap.String("element", s.XMLName.Local), zap.String("type", s.Type),
			zap.String("from", strconv.QuoteToASCII(s.From)), zap.String("canonical", strconv.QuoteToASCII(from.String())))
		return false
	}
	if err := Unambiguous(from); err != nil {
		c.log.Warn("dropped stanza from an address that XMPP servers using stringprep read as another account",
			zap.String("element", s.XMLName.Local), zap.String("type", s.Type),
			zap.String("from", strconv.QuoteToASCII(s.From)), zap.Error(err))
		return false
	}
	return true
}

// spelledAsParsed reports whether raw, an address exactly as the XMPP
// server wrote it, is byte for byte the canonical form j of itself (j is
// jid.Parse(raw)), with one exception: an ASCII capital letter in the
// localpart or the domainpart stands for its small letter.
//
// Why that one: ejabberd stamps the name as the client typed it at login,
// capitals included (a client that logs in as Alice to LOCALHOST sends as
// Alice@LOCALHOST/...; the harness test TestServersStampTheSender records
// it), and refusing those answers would lock out whoever typed a capital.
// It cannot name another account: stringprep (table B.2) and PRECIS both
// map A–Z to a–z, each code point on its own before anything else, so the
// spelling with capitals and the one without are one name for both. The
// resourcepart is compared exactly: it is case-sensitive everywhere.
func spelledAsParsed(raw string, j jid.JID) bool {
	canon := j.String()
	if len(raw) != len(canon) {
		return false
	}
	// The localpart and domainpart end at the first '/' (RFC 7622 §3.1).
	// Changing the case of an ASCII byte keeps the length and never
	// touches a byte of a multi-byte UTF-8 sequence.
	bare := true
	for i := 0; i < len(raw); i++ {
		b := raw[i]
		if b == '/' {
			bare = false
		}
		if bare && 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != canon[i] {
			return false
		}
	}
	return true
}

// answerIQ answers the requests a component must answer itself: service
// discovery and ping. Everything else gets service-unavailable, as RFC 6120
// §8.4 asks.
func (c *conn) answerIQ(t xmlstream.TokenReadEncoder, s *wireStanza, from jid.JID) error {
	iq := stanza.IQ{ID: s.ID, To: c.domain, From: from}
	var reply xml.TokenReader
	switch p := s.payload(); {
	case s.Type == "get" && p.Space == nsDiscoInfo:
		reply = iq.Result(c.discoInfo())
	case s.Type == "get" && p.Space == nsDiscoItems:
		reply = iq.Result(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsDiscoItems, Local: "query"}}))
	case s.Type == "get" && p.Space == nsPing:
		reply = iq.Result(nil)
	default:
		reply = iq.Error(stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable})
	}
	if _, err := xmlstream.Copy(t, reply); err != nil {
		// A failed write means the connection is broken: end it.
		return fmt.Errorf("answer iq: %w", err)
	}
	return nil
}

// discoInfo says what the component is (XEP-0030), so a client can find
// out that it speaks XEP-0070.
func (c *conn) discoInfo() xml.TokenReader {
	el := func(local string, attr ...string) xml.TokenReader {
		start := xml.StartElement{Name: xml.Name{Local: local}}
		for i := 0; i+1 < len(attr); i += 2 {
			start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: attr[i]}, Value: attr[i+1]})
		}
		return xmlstream.Wrap(nil, start)
	}
	return xmlstream.Wrap(xmlstream.MultiReader(
		el("identity", "category", "component", "type", "generic", "name", c.name),
		el("feature", "var", nsDiscoInfo),
		el("feature", "var", NS),
		el("feature", "var", nsPing),
	), xml.StartElement{Name: xml.Name{Space: nsDiscoInfo, Local: "query"}})
}
