package xmpptest

import (
	"bytes"
	"context"
	"crypto/sha1" // #nosec G505 -- XEP-0114 mandates SHA-1 for the handshake
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

const (
	nsStream    = "http://etherx.jabber.org/streams"
	nsAccept    = "jabber:component:accept"
	nsStreamErr = "urn:ietf:params:xml:ns:xmpp-streams"
	// rawQueue is how many received elements a RawComponent buffers
	// before its reader waits for Next.
	rawQueue = 256
)

// StreamError is a <stream:error/> the server sent to a RawComponent, e.g.
// Condition "not-authorized" for a wrong secret.
type StreamError struct {
	Condition string
	Text      string
}

// Error implements error.
func (e *StreamError) Error() string {
	if e.Text == "" {
		return "stream error: " + e.Condition
	}
	return "stream error: " + e.Condition + ": " + e.Text
}

// RawComponent is an XEP-0114 component connection driven by hand: it sends
// bytes exactly as given, so tests can inject stanzas (bad JIDs, forged
// payloads) that a well-behaved XMPP library would refuse to produce, and
// it shows what the server sends back verbatim.
type RawComponent struct {
	// Domain is the component's domain.
	Domain string

	*rawStream
}

// DialRawComponent connects to addr and authenticates as domain with
// secret. The ctx bounds the dial and handshake. A rejected handshake
// returns a *StreamError.
func DialRawComponent(ctx context.Context, addr, domain, secret string) (*RawComponent, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial component %s: %w", domain, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Close the connection if ctx ends mid-handshake, which unblocks reads
	// when ctx has no deadline but is cancelled.
	stopWatch := context.AfterFunc(ctx, func() { conn.Close() })

	rec := &recorder{r: conn}
	d := xml.NewDecoder(rec)
	if err := handshake(conn, d, domain, secret); err != nil {
		stopWatch()
		conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("component handshake for %s: %w", domain, ctx.Err())
		}
		return nil, fmt.Errorf("component handshake for %s: %w", domain, err)
	}
	if !stopWatch() {
		conn.Close()
		return nil, fmt.Errorf("component handshake for %s: %w", domain, ctx.Err())
	}
	_ = conn.SetDeadline(time.Time{})

	c := &RawComponent{Domain: domain, rawStream: newRawStream(conn, "component "+domain, nil)}
	go c.read(d, rec)
	return c, nil
}

// handshake opens the stream, reads the stream id and proves knowledge of
// the secret: <handshake>hex(sha1(id + secret))</handshake>.
func handshake(conn net.Conn, d *xml.Decoder, domain, secret string) error {
	var header bytes.Buffer
	header.WriteString("<?xml version='1.0'?><stream:stream xmlns='" + nsAccept + "' xmlns:stream='" + nsStream + "' to='")
	_ = xml.EscapeText(&header, []byte(domain))
	header.WriteString("'>")
	if _, err := conn.Write(header.Bytes()); err != nil {
		return fmt.Errorf("send stream header: %w", err)
	}

	var id string
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("read stream header: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Space != nsStream || se.Name.Local != "stream" {
				return fmt.Errorf("unexpected %s instead of stream header", se.Name.Local)
			}
			id = attrValue(se.Attr, "id")
			break
		}
	}
	if id == "" {
		// The server may already have sent a stream error (e.g. unknown
		// host) instead of an id.
		if err := expectHandshake(d); err != nil {
			return err
		}
		return errors.New("stream header without id")
	}

	sum := sha1.Sum([]byte(id + secret)) // #nosec G401 -- protocol-mandated
	if _, err := conn.Write([]byte("<handshake>" + hex.EncodeToString(sum[:]) + "</handshake>")); err != nil {
		return fmt.Errorf("send handshake: %w", err)
	}
	return expectHandshake(d)
}

// expectHandshake reads the next element: <handshake/> means success, a
// <stream:error/> becomes a *StreamError.
func expectHandshake(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("read handshake reply: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch {
		case se.Name.Local == "handshake":
			return d.Skip()
		case se.Name.Space == nsStream && se.Name.Local == "error":
			return decodeStreamError(d, se)
		default:
			return fmt.Errorf("unexpected <%s/> instead of <handshake/>", se.Name.Local)
		}
	}
}

func decodeStreamError(d *xml.Decoder, start xml.StartElement) error {
	var v struct {
		Children []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := d.DecodeElement(&v, &start); err != nil {
		return fmt.Errorf("read stream error: %w", err)
	}
	se := &StreamError{}
	for _, c := range v.Children {
		if c.XMLName.Space != nsStreamErr {
			continue
		}
		if c.XMLName.Local == "text" {
			se.Text = c.Text
		} else if se.Condition == "" {
			se.Condition = c.XMLName.Local
		}
	}
	return se
}

// Next returns the next top-level element the server sent, verbatim. It
// returns an error when ctx ends or the stream is over (io.EOF for a clean
// close).
func (c *RawComponent) Next(ctx context.Context) (string, error) { return c.next(ctx) }

// Send writes raw to the stream as is.
func (c *RawComponent) Send(raw string) error { return c.send(raw) }

// Close ends the stream, closes the connection and waits for the reader.
func (c *RawComponent) Close() error { return c.close() }

// recorder keeps the bytes the decoder has read but the harness has not yet
// handed out, so received elements can be returned exactly as sent.
type recorder struct {
	r    io.Reader
	buf  []byte
	base int64 // input offset of buf[0]
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf = append(r.buf, p[:n]...)
	return n, err
}

// take returns input bytes [from, to) and forgets everything before to.
func (r *recorder) take(from, to int64) []byte {
	out := bytes.Clone(r.buf[from-r.base : to-r.base])
	r.buf = r.buf[to-r.base:]
	r.base = to
	return out
}
