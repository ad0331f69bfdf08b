package xmpptest

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

const (
	// connectTimeout bounds Connect when the caller's ctx has no deadline.
	connectTimeout = 15 * time.Second
	// closeTimeout bounds how long Close waits for the server's stream end.
	closeTimeout = 2 * time.Second
	// requestBuffer is how many unread requests a User keeps; older ones
	// are dropped so the Serve loop never blocks on a test that stopped
	// reading.
	requestBuffer = 1024
)

// Request is one XEP-0070 confirm request a User received.
type Request struct {
	// Kind is "iq" or "message".
	Kind string
	// From is the stanza's from attribute, verbatim (empty if the server
	// omitted it).
	From string
	// ID, Method and URL are the <confirm/> attributes.
	ID, Method, URL string
	// Thread and Body are the message's <thread/> and <body/>; empty for
	// an iq.
	Thread, Body string
	// StanzaID is the stanza's id attribute.
	StanzaID string
}

// UserOption changes how Connect sets up a User.
type UserOption func(*userOptions)

type userOptions struct {
	noPresence bool
	wireLog    io.Writer
	authzid    string
}

// WithoutPresence skips the initial presence. The server then does not
// deliver messages sent to the bare JID to this session: with offline
// storage off they bounce, which is how tests get an "unreachable" user who
// is nevertheless logged in.
func WithoutPresence() UserOption {
	return func(o *userOptions) { o.noPresence = true }
}

// WithWireLog copies every byte the user sends and receives to w, each chunk
// prefixed with the user's JID and direction. Writes to w are serialised.
func WithWireLog(w io.Writer) UserOption {
	return func(o *userOptions) { o.wireLog = w }
}

// WithUserAuthzid puts authzid in the SASL exchange as the authorization
// identity, the account the user asks to act as: in SCRAM's client-first
// message ("n,a=authzid,...", the mechanism the user picks when offered),
// or in PLAIN's first field. JID is whatever the server then binds. The
// raw client's counterpart is WithAuthzid.
func WithUserAuthzid(authzid string) UserOption {
	return func(o *userOptions) { o.authzid = authzid }
}

// User is a scripted XMPP client logged in to a Server. It answers confirm
// requests according to its Behaviour until Close.
type User struct {
	// JID is the full JID the server bound (the client cannot choose its
	// resource with mellium v0.23).
	JID jid.JID

	sess      *xmpp.Session
	conn      net.Conn
	behaviour atomic.Int32
	reqs      chan Request

	done     chan struct{} // closed when Serve has returned
	serveErr error         // written before done is closed
	once     sync.Once
	closeErr error
}

// Connect logs in local@Domain over plaintext c2s, starts serving, sends the
// initial presence (unless WithoutPresence), and returns once the server has
// processed it, so a message sent to the bare JID right after Connect
// reaches this user.
func (s *Server) Connect(ctx context.Context, local, password string, b Behaviour, opts ...UserOption) (*User, error) {
	var o userOptions
	for _, opt := range opts {
		opt(&o)
	}
	origin, err := jid.New(local, s.Domain, "")
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", local, err)
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()

	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.C2SAddr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", origin, err)
	}
	cfg := xmpp.StreamConfig{
		Features: []xmpp.StreamFeature{
			// Client order wins: SCRAM-SHA-1 whenever the server offers
			// it (both do by default), PLAIN only otherwise.
			xmpp.SASL(o.authzid, password, sasl.ScramSha1, sasl.Plain),
			xmpp.BindResource(),
		},
	}
	if o.wireLog != nil {
		wl := &wireLog{w: o.wireLog}
		cfg.TeeIn = wl.prefixed(origin.String() + " RECV: ")
		cfg.TeeOut = wl.prefixed(origin.String() + " SEND: ")
	}
	// xmpp.Secure as the initial state: mellium refuses SASL on a stream it
	// does not consider secure, and this loopback test server has no TLS.
	sess, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, xmpp.Secure,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig { return cfg }))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("log in %s: %w", origin, err)
	}

	u := &User{
		JID:  sess.LocalAddr(),
		sess: sess,
		conn: conn,
		reqs: make(chan Request, requestBuffer),
		done: make(chan struct{}),
	}
	u.behaviour.Store(int32(b))
	go u.serve()

	if !o.noPresence {
		if err := sess.Send(ctx, stanza.Presence{}.Wrap(nil)); err != nil {
			u.Close()
			return nil, fmt.Errorf("send presence for %s: %w", u.JID, err)
		}
	}
	// Both servers handle one connection's stanzas in order, so once the
	// ping is answered the presence has been processed too.
	if err := u.pingServer(ctx); err != nil {
		u.Close()
		return nil, fmt.Errorf("ping server as %s: %w", u.JID, err)
	}
	return u, nil
}

func (u *User) pingServer(ctx context.Context) error {
	iq := stanza.IQ{Type: stanza.GetIQ, To: u.JID.Domain()}
	ping := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "urn:xmpp:ping", Local: "ping"}})
	resp, err := u.sess.SendIQ(ctx, iq.Wrap(ping))
	if err != nil {
		return err
	}
	// The reply must be closed or Serve stays blocked handing it over.
	return resp.Close()
}

func (u *User) serve() {
	err := u.sess.Serve(xmpp.HandlerFunc(u.handle))
	u.serveErr = err
	// Serve was the only sender, so closing here is safe and lets readers
	// of Requests() notice the end.
	close(u.reqs)
	close(u.done)
}

// SetBehaviour changes how future requests are answered. It is safe to call
// while requests arrive.
func (u *User) SetBehaviour(b Behaviour) { u.behaviour.Store(int32(b)) }

// Behaviour returns the current behaviour.
func (u *User) Behaviour() Behaviour { return Behaviour(u.behaviour.Load()) }

// Requests returns every confirm request received, in order. The channel is
// buffered; when it is full the oldest request is dropped. It is closed when
// the session ends.
func (u *User) Requests() <-chan Request { return u.reqs }

// NextRequest waits for the next confirm request.
func (u *User) NextRequest(ctx context.Context) (Request, error) {
	select {
	case r, ok := <-u.reqs:
		if !ok {
			return Request{}, fmt.Errorf("next request for %s: session ended: %v", u.JID, u.Err())
		}
		return r, nil
	case <-ctx.Done():
		return Request{}, fmt.Errorf("next request for %s: %w", u.JID, ctx.Err())
	}
}

// record hands r to Requests without ever blocking the Serve loop.
func (u *User) record(r Request) {
	select {
	case u.reqs <- r:
		return
	default:
	}
	select {
	case <-u.reqs: // drop the oldest
	default:
	}
	select {
	case u.reqs <- r:
	default:
	}
}

// Session exposes the mellium session, e.g. to send an IQ with SendIQ and
// read the reply. Serve is already running; do not call it.
func (u *User) Session() *xmpp.Session { return u.sess }

// SendRaw parses rawXML as a sequence of stanzas and sends them on the c2s
// stream. Elements without a namespace get jabber:client, and mellium adds
// an id when there is none; everything else is sent as written, which is
// how tests forge stanzas, e.g. a <message/> to the component carrying a
// <confirm/> the component never asked for.
//
// The whole string is parsed before anything is sent: a half-written
// element would corrupt the stream for good.
func (u *User) SendRaw(ctx context.Context, rawXML string) error {
	elems, err := splitElements(rawXML)
	if err != nil {
		return fmt.Errorf("send raw as %s: %w", u.JID, err)
	}
	for _, toks := range elems {
		if err := u.sess.Send(ctx, &sliceReader{toks: toks}); err != nil {
			return fmt.Errorf("send raw as %s: %w", u.JID, err)
		}
	}
	return nil
}

// splitElements parses s into its top-level elements' tokens.
func splitElements(s string) ([][]xml.Token, error) {
	d := xml.NewDecoder(strings.NewReader(s))
	var (
		elems [][]xml.Token
		cur   []xml.Token
		depth int
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 {
				if len(bytes.TrimSpace(tok)) != 0 {
					return nil, errors.New("text outside an element")
				}
				continue
			}
		default:
			if depth == 0 {
				continue // comments, processing instructions
			}
		}
		cur = append(cur, xml.CopyToken(tok))
		if depth == 0 {
			elems = append(elems, cur)
			cur = nil
		}
	}
	if len(elems) == 0 {
		return nil, fmt.Errorf("no element in %q", s)
	}
	return elems, nil
}

// sliceReader replays parsed tokens.
type sliceReader struct{ toks []xml.Token }

func (r *sliceReader) Token() (xml.Token, error) {
	if len(r.toks) == 0 {
		return nil, io.EOF
	}
	t := r.toks[0]
	r.toks = r.toks[1:]
	return t, nil
}

// Done is closed when the session has ended, by Close or because the server
// went away.
func (u *User) Done() <-chan struct{} { return u.done }

// Err returns why the session ended: nil for a clean stream close, else the
// error Serve returned. It returns nil while the session is running.
func (u *User) Err() error {
	select {
	case <-u.done:
		return u.serveErr
	default:
		return nil
	}
}

// Close ends the stream, waits (bounded) for the server's end tag and for
// the Serve loop to return, and closes the connection. It is safe to call
// more than once and after the server died.
func (u *User) Close() error {
	u.once.Do(func() {
		// Deadlines instead of Session.SetCloseDeadline: the latter writes
		// session fields the Serve goroutine reads without a lock.
		deadline := time.Now().Add(closeTimeout)
		_ = u.conn.SetWriteDeadline(deadline)
		_ = u.conn.SetReadDeadline(deadline)
		err := u.sess.Close()
		<-u.done
		if cerr := u.conn.Close(); err == nil {
			err = cerr
		}
		if err != nil && !errors.Is(err, net.ErrClosed) {
			u.closeErr = fmt.Errorf("close %s: %w", u.JID, err)
		}
	})
	return u.closeErr
}

// wireLog serialises tee output from the reading and writing goroutines.
type wireLog struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *wireLog) prefixed(prefix string) io.Writer {
	return writerFunc(func(b []byte) (int, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		// A failing log must not break the XMPP connection it observes.
		_, _ = fmt.Fprintf(l.w, "%s%s\n", prefix, b)
		return len(b), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
