package xepauth

import (
	"context"
	"encoding/xml"
	"fmt"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// deadlineConn arms a write deadline (Config.WriteTimeout) before every
// write, including the ones
// mellium's Serve makes for replies. A deadline set from a context is not
// enough: mellium clears it again once the context ends, and a write that
// was already blocked then blocks for good.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

// Write implements io.Writer.
func (c deadlineConn) Write(p []byte) (int, error) {
	if err := c.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// Namespaces the component answers for itself.
const (
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
	nsPing       = "urn:xmpp:ping"
	nsStanzas    = "urn:ietf:params:xml:ns:xmpp-stanzas"
)

// conn is one component session, from handshake to drop. Asks are tied to
// the conn they were sent on: when it ends, they end.
type conn struct {
	sess   *xmpp.Session
	nc     net.Conn
	domain jid.JID
	name   string
	table  *table
	log    *zap.Logger

	done     chan struct{} // closed when the session has ended
	downOnce sync.Once

	pingMu sync.Mutex
	pings  map[string]chan struct{} // pings and probes in flight, by id

	foreignOnce sync.Once
}

func newConn(sess *xmpp.Session, nc net.Conn, name string, log *zap.Logger) *conn {
	return &conn{
		sess:   sess,
		nc:     nc,
		domain: sess.LocalAddr().Domain(),
		name:   name,
		table:  newTable(log),
		log:    log,
		done:   make(chan struct{}),
		pings:  make(map[string]chan struct{}),
	}
}

// send writes one stanza. Any failure closes the connection: the supervisor
// then redials, and every ask on this conn ends as unreachable: mellium's
// encoder keeps the error of an interrupted write (its bufio.Writer's error
// is sticky), so every later send on the session fails at once while Serve
// goes on as if nothing happened. The write
// deadline comes from deadlineConn, so no context is handed to mellium.
func (c *conn) send(r xml.TokenReader) error {
	if err := c.sess.Send(context.Background(), r); err != nil {
		c.nc.Close()
		return fmt.Errorf("send to XMPP server: %w", err)
	}
	return nil
}

// down ends the conn once: it closes the socket and fails every ask. The
// conn counts as ended (done) before its asks learn it, so that whoever
// hears "unreachable" from an ask and asks again finds the component not
// connected, rather than the conn that is going.
func (c *conn) down(detail string) {
	c.downOnce.Do(func() {
		c.nc.Close()
		close(c.done)
		c.table.closeAll(detail)
	})
}

// up reports whether the conn has not ended.
func (c *conn) up() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// ping sends an XEP-0199 ping to the component's own address, through the
// server, and reports whether any answer came within the timeout. The
// server must route it back, so an answer proves the whole path works.
func (c *conn) ping(timeout time.Duration) bool {
	id := "ping-" + newID()
	got := make(chan struct{})
	c.pingMu.Lock()
	c.pings[id] = got
	c.pingMu.Unlock()
	defer func() {
		c.pingMu.Lock()
		delete(c.pings, id)
		c.pingMu.Unlock()
	}()
	// The timer runs from before the send: a send that cannot get through
	// (the output is stuck behind a blocked write) is a failed ping too.
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	sent := make(chan error, 1)
	go func() {
		iq := stanza.IQ{ID: id, To: c.domain, From: c.domain, Type: stanza.GetIQ}
		sent <- c.send(iq.Wrap(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsPing, Local: "ping"}})))
	}()
	for {
		select {
		case err := <-sent:
			if err != nil {
				return false
			}
		case <-got:
			return true
		case <-c.done:
			return false
		case <-timer.C:
			return false
		}
	}
}

// pong reports whether id answers one of our pings, and wakes its waiter.
func (c *conn) pong(id string) bool {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	ch, ok := c.pings[id]
	if ok {
		close(ch)
		delete(c.pings, id)
	}
	return ok
}
