package xmpptest

import (
	"encoding/xml"
	"fmt"
	"strings"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"
)

// nsHTTPAuth is the XEP-0070 namespace.
const nsHTTPAuth = "http://jabber.org/protocol/http-auth"

// Behaviour is how a User answers XEP-0070 confirm requests.
type Behaviour int

const (
	// Approve answers an iq with a result echoing <confirm/>, and a
	// message with a type='normal' message carrying the same <thread/> and
	// the echoed <confirm/>. Two Approve users that ask each other by
	// message would answer each other forever: ask from a component, or
	// make the asking user Silent (it still records the replies).
	Approve Behaviour = iota
	// Deny answers an iq with an error (auth/not-authorized) echoing
	// <confirm/>, and a message with a type='error' message carrying the
	// request's id, <thread/>, <confirm/> and the same error.
	Deny
	// Silent records the request and sends nothing back, so the asker
	// times out.
	Silent
	// PlainText acts like a client without XEP-0070 whose human types the
	// code: a message is answered by a type='chat' message to the sender's
	// bare JID whose body is the confirm id; an iq gets the
	// service-unavailable error such clients (e.g. Dino) return, which makes
	// the asker fall back to a message.
	PlainText
	// PlainTextNo is PlainText with the body "no".
	PlainTextNo
)

// String returns the constant's name.
func (b Behaviour) String() string {
	switch b {
	case Approve:
		return "Approve"
	case Deny:
		return "Deny"
	case Silent:
		return "Silent"
	case PlainText:
		return "PlainText"
	case PlainTextNo:
		return "PlainTextNo"
	default:
		return fmt.Sprintf("Behaviour(%d)", int(b))
	}
}

// confirm is the XEP-0070 payload. Only the attributes are kept: that is
// all a client echoes.
type confirm struct {
	ID     string `xml:"id,attr"`
	Method string `xml:"method,attr"`
	URL    string `xml:"url,attr"`
}

// incoming is the part of an iq or message the user looks at. Child names
// carry no namespace so they match whatever the stream uses.
type incoming struct {
	XMLName xml.Name
	Thread  string    `xml:"thread"`
	Body    string    `xml:"body"`
	Confirm *confirm  `xml:"http://jabber.org/protocol/http-auth confirm"`
	Ping    *struct{} `xml:"urn:xmpp:ping ping"`
}

// handle is the Serve handler. It never returns an error: any error makes
// mellium send a stream error and end the session, and a hostile or odd
// stanza must not log the test user out.
//
// Addresses are used verbatim, never parsed as JIDs, so a from that mellium's
// PRECIS rules reject still gets an answer. For the same reason every iq
// get/set is answered here: mellium's own fallback reply parses the from
// and would end the session on failure.
func (u *User) handle(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	if start.Name.Local != "iq" && start.Name.Local != "message" {
		return nil
	}
	typ := attrValue(start.Attr, "type")
	from := attrValue(start.Attr, "from")
	id := attrValue(start.Attr, "id")

	var in incoming
	decErr := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), t)).Decode(&in)

	if start.Name.Local == "iq" {
		if typ != "get" && typ != "set" {
			return nil // results and errors are never answered
		}
		reply := u.answerIQ(in, decErr, from, id)
		_, _ = xmlstream.Copy(t, reply)
		return nil
	}

	if typ == "error" || decErr != nil || in.Confirm == nil {
		return nil // never answer errors; only confirm requests matter
	}
	// The behaviour is read before the request is recorded: a test that
	// changes it once NextRequest has returned (a deferred SetBehaviour)
	// must not change the answer to the request it has just read.
	b := u.Behaviour()
	u.record(Request{
		Kind: "message", From: from, StanzaID: id,
		ID: in.Confirm.ID, Method: in.Confirm.Method, URL: in.Confirm.URL,
		Thread: in.Thread, Body: in.Body,
	})
	if reply := u.answerMessage(in, from, id, b); reply != nil {
		_, _ = xmlstream.Copy(t, reply)
	}
	return nil
}

// answerIQ returns the reply to an iq get/set. It always returns one,
// because mellium otherwise sends its own (see handle).
func (u *User) answerIQ(in incoming, decErr error, from, id string) xml.TokenReader {
	switch {
	case decErr != nil:
		return iqError(from, id, nil, stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest})
	case in.Ping != nil:
		return iqReply("result", from, id, nil)
	case in.Confirm == nil:
		return iqError(from, id, nil, stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable})
	}

	b := u.Behaviour() // before record: see handle
	u.record(Request{
		Kind: "iq", From: from, StanzaID: id,
		ID: in.Confirm.ID, Method: in.Confirm.Method, URL: in.Confirm.URL,
	})
	switch b {
	case Approve:
		return iqReply("result", from, id, confirmTokens(*in.Confirm))
	case Deny:
		return iqError(from, id, confirmTokens(*in.Confirm), stanza.Error{Type: stanza.Auth, Condition: stanza.NotAuthorized})
	case Silent:
		// A result with no "to" goes to our own account, where the server
		// drops it. Writing it satisfies mellium's "was the iq answered"
		// check, so the asker really hears nothing.
		return iqReply("result", "", id, nil)
	default: // PlainText, PlainTextNo
		return iqError(from, id, nil, stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable})
	}
}

// answerMessage returns the reply of behaviour b to a message carrying
// <confirm/>, or nil.
func (u *User) answerMessage(in incoming, from, id string, b Behaviour) xml.TokenReader {
	c := *in.Confirm
	switch b {
	case Approve:
		return element("message", []xml.Attr{attr("type", "normal"), attr("to", from)},
			threadTokens(in.Thread), confirmTokens(c))
	case Deny:
		// RFC 6120 §8.3.1: an error stanza carries the id of the stanza it
		// answers.
		return element("message", []xml.Attr{attr("type", "error"), attr("to", from), attr("id", id)},
			threadTokens(in.Thread), confirmTokens(c),
			stanza.Error{Type: stanza.Auth, Condition: stanza.NotAuthorized}.TokenReader())
	case PlainText:
		return chatBody(bareOf(from), c.ID)
	case PlainTextNo:
		return chatBody(bareOf(from), "no")
	default: // Silent
		return nil
	}
}

func chatBody(to, body string) xml.TokenReader {
	return element("message", []xml.Attr{attr("type", "chat"), attr("to", to)},
		xmlstream.Wrap(xmlstream.Token(xml.CharData(body)), xml.StartElement{Name: xml.Name{Local: "body"}}))
}

func iqReply(typ, to, id string, payload xml.TokenReader) xml.TokenReader {
	return element("iq", []xml.Attr{attr("type", typ), attr("to", to), attr("id", id)}, payload)
}

func iqError(to, id string, payload xml.TokenReader, e stanza.Error) xml.TokenReader {
	return iqReply("error", to, id, xmlstream.MultiReader(orEmpty(payload), e.TokenReader()))
}

// confirmTokens echoes a <confirm/>; attributes absent from the request stay
// absent.
func confirmTokens(c confirm) xml.TokenReader {
	var attrs []xml.Attr
	for _, a := range []xml.Attr{attr("id", c.ID), attr("method", c.Method), attr("url", c.URL)} {
		if a.Value != "" {
			attrs = append(attrs, a)
		}
	}
	return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsHTTPAuth, Local: "confirm"}, Attr: attrs})
}

func threadTokens(thread string) xml.TokenReader {
	if thread == "" {
		return nil
	}
	return xmlstream.Wrap(xmlstream.Token(xml.CharData(thread)), xml.StartElement{Name: xml.Name{Local: "thread"}})
}

// element wraps children in a stanza start element. The name has no
// namespace: mellium's stanza encoder fills in jabber:client. Empty
// attributes are left out.
func element(name string, attrs []xml.Attr, children ...xml.TokenReader) xml.TokenReader {
	kept := attrs[:0]
	for _, a := range attrs {
		if a.Value != "" {
			kept = append(kept, a)
		}
	}
	readers := make([]xml.TokenReader, 0, len(children))
	for _, c := range children {
		if c != nil {
			readers = append(readers, c)
		}
	}
	return xmlstream.Wrap(xmlstream.MultiReader(readers...), xml.StartElement{Name: xml.Name{Local: name}, Attr: kept})
}

func orEmpty(r xml.TokenReader) xml.TokenReader {
	if r == nil {
		return xmlstream.MultiReader()
	}
	return r
}

func attr(name, value string) xml.Attr { return xml.Attr{Name: xml.Name{Local: name}, Value: value} }

func attrValue(attrs []xml.Attr, name string) string {
	for _, a := range attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// bareOf strips the resource from a JID string without parsing it, so odd
// addresses survive unchanged.
func bareOf(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}
