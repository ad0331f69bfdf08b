package xepauth

import (
	"encoding/xml"
	"strings"
)

// wireStanza is an incoming stanza as it came off the wire: addresses stay
// strings until the router has parsed them, so an address that does not
// parse is dropped by us instead of failing a decoder (and, with it, the
// session: mellium's stanza.NewMessage and NewIQ fail on a from that is
// valid stringprep but not PRECIS, such as ☃@localhost on Prosody, and the
// mux's error ends Serve).
type wireStanza struct {
	XMLName xml.Name
	From    string      `xml:"from,attr"`
	To      string      `xml:"to,attr"`
	ID      string      `xml:"id,attr"`
	Type    string      `xml:"type,attr"`
	Thread  []string    `xml:"thread"`
	Body    []string    `xml:"body"`
	Confirm []Confirm   `xml:"http://jabber.org/protocol/http-auth confirm"`
	Error   []wireError `xml:"error"`
	Other   []wireName  `xml:",any"`
}

// wireName keeps only an element's name; its content is skipped.
type wireName struct {
	XMLName xml.Name
}

// wireError is a stanza <error/>. Its condition is read from any namespace:
// XEP-0070's own example uses a wrong one, and clients copied it.
type wireError struct {
	Type       string     `xml:"type,attr"`
	Code       string     `xml:"code,attr"`
	Conditions []wireName `xml:",any"`
}

// condition returns the defined condition, mapping the legacy codes that
// old clients send without one.
func (e wireError) condition() string {
	for _, c := range e.Conditions {
		if c.XMLName.Local != "text" {
			return c.XMLName.Local
		}
	}
	switch e.Code {
	case "501":
		return "feature-not-implemented"
	case "503":
		return "service-unavailable"
	case "404":
		return "item-not-found"
	}
	return ""
}

func (s *wireStanza) thread() string {
	if len(s.Thread) == 0 {
		return ""
	}
	return strings.TrimSpace(s.Thread[0])
}

func (s *wireStanza) body() string {
	if len(s.Body) == 0 {
		return ""
	}
	return s.Body[0]
}

func (s *wireStanza) confirm() *Confirm {
	if len(s.Confirm) == 0 {
		return nil
	}
	return &s.Confirm[0]
}

func (s *wireStanza) condition() string {
	if len(s.Error) == 0 {
		return ""
	}
	return s.Error[0].condition()
}

// payload is the name of an iq's first child element.
func (s *wireStanza) payload() xml.Name {
	if len(s.Other) > 0 {
		return s.Other[0].XMLName
	}
	if c := s.confirm(); c != nil {
		return xml.Name{Space: NS, Local: "confirm"}
	}
	return xml.Name{}
}
