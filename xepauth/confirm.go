package xepauth

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"

	"mellium.im/xmlstream"
)

// NS is the XML namespace of XEP-0070.
const NS = "http://jabber.org/protocol/http-auth"

// Confirm is the <confirm/> element of XEP-0070: the transaction id (the code
// the visitor sees on the web page), and the method and URL of the request to
// confirm.
type Confirm struct {
	ID     string `xml:"id,attr"`
	Method string `xml:"method,attr"`
	URL    string `xml:"url,attr"`
}

// TokenReader returns the element as a stream of XML tokens, ready to be
// wrapped in a stanza.
func (c Confirm) TokenReader() xml.TokenReader {
	return xmlstream.Wrap(nil, xml.StartElement{
		Name: xml.Name{Space: NS, Local: "confirm"},
		Attr: []xml.Attr{
			{Name: xml.Name{Local: "id"}, Value: c.ID},
			{Name: xml.Name{Local: "method"}, Value: c.Method},
			{Name: xml.Name{Local: "url"}, Value: c.URL},
		},
	})
}

// Validate reports whether the element can be sent: XEP-0070 requires all
// three attributes, and the method must be an XML NCName (a token without
// spaces or colons).
func (c Confirm) Validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("confirm: empty id"))
	}
	if c.URL == "" {
		errs = append(errs, errors.New("confirm: empty url"))
	}
	if err := ValidMethod(c.Method); err != nil {
		errs = append(errs, fmt.Errorf("confirm: %w", err))
	}
	return errors.Join(errs...)
}

// ValidMethod reports whether an HTTP method can be asked in a <confirm/>:
// XEP-0070's schema makes the method attribute an XML NCName, a token
// without spaces or colons (GET, POST, PROPFIND).
func ValidMethod(method string) error {
	if !isNCName(method) {
		return fmt.Errorf("method %q is not an XML NCName (a token like GET or PROPFIND)", method)
	}
	return nil
}

// isNCName is a conservative check: HTTP methods are RFC 9110 tokens, and
// the token characters that are also NCName characters are enough for every
// method in use.
func isNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r == '_':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return !strings.HasPrefix(s, "-")
}
