package xmpptest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"time"
)

const (
	nsClient  = "jabber:client"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"

	// Ids of the iqs ConnectRaw sends while it sets up the stream.
	rawBindID    = "xmpptest-bind"
	rawSessionID = "xmpptest-session"
	rawPingID    = "xmpptest-ping"
)

// SASLError is a SASL <failure/> the server sent to ConnectRaw, e.g.
// Condition "not-authorized" for a wrong password or an unknown name.
type SASLError struct {
	Condition string
	Text      string
}

// Error implements error.
func (e *SASLError) Error() string {
	if e.Text == "" {
		return "SASL failure: " + e.Condition
	}
	return "SASL failure: " + e.Condition + ": " + e.Text
}

// RawOption changes how ConnectRaw logs in.
type RawOption func(*rawOptions)

type rawOptions struct {
	resource     string
	streamDomain string
	authzid      string
	forced       bool // send the mechanism even when it is not offered
	digestMD5    bool // DIGEST-MD5 instead of PLAIN
}

// WithResource asks the server to bind resource, sent as given. Without it
// the server picks one.
func WithResource(resource string) RawOption {
	return func(o *rawOptions) { o.resource = resource }
}

// WithStreamDomain puts domain, exactly as given, in the stream header's
// to attribute instead of Config.Domain: the domain a client typed.
func WithStreamDomain(domain string) RawOption {
	return func(o *rawOptions) { o.streamDomain = domain }
}

// WithAuthzid puts authzid, exactly as given, in the SASL message as the
// authorization identity: the account the client asks to act as (RFC 4616:
// authzid NUL authcid NUL passwd; RFC 2831's authzid="…"). Without it the
// field is empty or absent, which asks for the authcid's own account. A
// server may refuse it, ignore it or honour it; see
// TestEjabberd2301BindsASASLPlainAuthzidOfAnotherAccount.
func WithAuthzid(authzid string) RawOption {
	return func(o *rawOptions) { o.authzid = authzid }
}

// WithForcedMechanism sends the SASL mechanism (PLAIN, or DIGEST-MD5 with
// WithDigestMD5) even when the server's features do not offer it, as a
// client that ignores the offer would, so that a test sees the server's
// own answer (a *SASLError when it refuses) instead of ConnectRaw's
// "server offers no SASL …".
func WithForcedMechanism() RawOption {
	return func(o *rawOptions) { o.forced = true }
}

// WithDigestMD5 logs in with SASL DIGEST-MD5 (RFC 2831) instead of PLAIN.
func WithDigestMD5() RawOption {
	return func(o *rawOptions) { o.digestMD5 = true }
}

// RawClient is a client-to-server connection driven by hand. mellium (and
// so User) normalises the name it logs in with; RawClient sends it byte for
// byte as given, the way a client that does no normalisation would, so
// tests can see what a server makes of a name that is not in its
// canonical form. Stanzas go out as written, and come in verbatim.
type RawClient struct {
	*rawStream
	jid string
}

// ConnectRaw logs in over plaintext c2s with SASL PLAIN (or DIGEST-MD5), the authcid being
// rawLocal exactly as given (no stringprep, no PRECIS) and the authzid
// empty unless WithAuthzid, binds a resource,
// sends the initial presence and returns once the server has processed it,
// so a message to the bare JID right after ConnectRaw reaches this client.
// A refused login returns a *SASLError.
//
// Elements the server sends during the set-up other than the replies to
// the set-up's own iqs (for instance the echo of the presence) are the
// first ones Next returns.
func (s *Server) ConnectRaw(ctx context.Context, rawLocal, password string, opts ...RawOption) (*RawClient, error) {
	o := rawOptions{streamDomain: s.Domain}
	for _, opt := range opts {
		opt(&o)
	}
	who := fmt.Sprintf("raw client %q", rawLocal+"@"+o.streamDomain)
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()

	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.C2SAddr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", who, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Closing the connection is what unblocks a read when ctx is
	// cancelled before its deadline.
	stopWatch := context.AfterFunc(ctx, func() { conn.Close() })

	c := &rawSetup{conn: conn, domain: o.streamDomain}
	bound, early, err := c.login(rawLocal, password, &o)
	if err == nil && !stopWatch() {
		err = ctx.Err()
	}
	if err != nil {
		stopWatch()
		conn.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("log in %s: %w", who, err)
	}
	_ = conn.SetDeadline(time.Time{})

	rc := &RawClient{jid: bound, rawStream: newRawStream(conn, "raw client "+bound, early)}
	go rc.read(c.d, c.rec)
	return rc, nil
}

// JID returns the full JID the server bound, exactly as the server wrote
// it in its reply to the bind request.
func (c *RawClient) JID() string { return c.jid }

// Next returns the next top-level element the server sent, verbatim. It
// returns an error when ctx ends or the stream is over (io.EOF for a clean
// close).
func (c *RawClient) Next(ctx context.Context) (string, error) { return c.next(ctx) }

// Send writes raw to the stream as is.
func (c *RawClient) Send(raw string) error { return c.send(raw) }

// Close ends the stream, closes the connection and waits for the reader.
func (c *RawClient) Close() error { return c.close() }

// rawSetup is a RawClient's stream while ConnectRaw sets it up.
type rawSetup struct {
	conn   net.Conn
	domain string
	rec    *recorder
	d      *xml.Decoder
}

// login runs the whole set-up and returns the bound JID and the elements
// that arrived meanwhile and belong to the caller.
func (c *rawSetup) login(rawLocal, password string, o *rawOptions) (string, []string, error) {
	f, err := c.open()
	if err != nil {
		return "", nil, err
	}
	mech := "PLAIN"
	if o.digestMD5 {
		mech = "DIGEST-MD5"
	}
	if !f.offers(mech) && !o.forced {
		return "", nil, fmt.Errorf("server offers no SASL %s (mechanisms %v)", mech, f.Mechanisms)
	}
	if o.digestMD5 {
		if err := c.digestMD5(rawLocal, password, o.authzid); err != nil {
			return "", nil, err
		}
	} else {
		creds := base64.StdEncoding.EncodeToString(plainMessage(o.authzid, rawLocal, password))
		if err := c.write("<auth xmlns='" + nsSASL + "' mechanism='PLAIN'>" + creds + "</auth>"); err != nil {
			return "", nil, err
		}
		if _, err := c.saslStep(); !errors.Is(err, errSASLSuccess) {
			if err == nil {
				err = errors.New("a SASL challenge in answer to PLAIN")
			}
			return "", nil, err
		}
	}

	// RFC 6120 §6.4.6: after success both sides start a new stream on the
	// same connection, with a new parser.
	if f, err = c.open(); err != nil {
		return "", nil, err
	}
	if f.Bind == nil {
		return "", nil, errors.New("server offers no resource binding after SASL")
	}
	var bind bytes.Buffer
	bind.WriteString("<iq type='set' id='" + rawBindID + "'><bind xmlns='" + nsBind + "'>")
	if o.resource != "" {
		bind.WriteString("<resource>")
		_ = xml.EscapeText(&bind, []byte(o.resource))
		bind.WriteString("</resource>")
	}
	bind.WriteString("</bind></iq>")
	if err := c.write(bind.String()); err != nil {
		return "", nil, err
	}
	var early []string
	reply, err := c.await(rawBindID, &early)
	if err != nil {
		return "", nil, fmt.Errorf("bind: %w", err)
	}
	var bound struct {
		Type string `xml:"type,attr"`
		JID  string `xml:"urn:ietf:params:xml:ns:xmpp-bind bind>jid"`
	}
	if err := xml.Unmarshal([]byte(reply), &bound); err != nil || bound.Type != "result" || bound.JID == "" {
		return "", nil, fmt.Errorf("bind refused: %s", reply)
	}
	// RFC 3921 sessions: a server that still requires one gets it.
	if f.Session != nil && f.Session.Optional == nil {
		if err := c.write("<iq type='set' id='" + rawSessionID + "'><session xmlns='" + nsSession + "'/></iq>"); err != nil {
			return "", nil, err
		}
		if reply, err := c.await(rawSessionID, &early); err != nil {
			return "", nil, fmt.Errorf("session: %w", err)
		} else if iqType(reply) != "result" {
			return "", nil, fmt.Errorf("session refused: %s", reply)
		}
	}
	// Both servers handle one connection's stanzas in order: once the ping
	// is answered, the presence has been processed too.
	var ping bytes.Buffer
	ping.WriteString("<presence/><iq type='get' id='" + rawPingID + "' to='")
	_ = xml.EscapeText(&ping, []byte(c.domain))
	ping.WriteString("'><ping xmlns='urn:xmpp:ping'/></iq>")
	if err := c.write(ping.String()); err != nil {
		return "", nil, err
	}
	if reply, err := c.await(rawPingID, &early); err != nil {
		return "", nil, fmt.Errorf("ping the server: %w", err)
	} else if iqType(reply) != "result" {
		return "", nil, fmt.Errorf("ping refused: %s", reply)
	}
	return bound.JID, early, nil
}

// plainMessage is the SASL PLAIN message (RFC 4616): [authzid] NUL authcid
// NUL passwd, an empty authzid meaning none.
func plainMessage(authzid, authcid, password string) []byte {
	return []byte(authzid + "\x00" + authcid + "\x00" + password)
}

// SASLMechanisms opens a c2s stream to the Domain, returns the SASL
// mechanisms the server offers before login, as listed (Prosody's order
// varies from one connection to the next), and closes the connection.
func (s *Server) SASLMechanisms(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.C2SAddr)
	if err != nil {
		return nil, fmt.Errorf("SASL mechanisms of %s: %w", s.Kind, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stopWatch := context.AfterFunc(ctx, func() { conn.Close() })
	defer stopWatch()
	f, err := (&rawSetup{conn: conn, domain: s.Domain}).open()
	if err != nil {
		return nil, fmt.Errorf("SASL mechanisms of %s: %w", s.Kind, err)
	}
	return f.Mechanisms, nil
}

// rawFeatures is what ConnectRaw reads of <stream:features/>.
type rawFeatures struct {
	Mechanisms []string  `xml:"urn:ietf:params:xml:ns:xmpp-sasl mechanisms>mechanism"`
	Bind       *struct{} `xml:"urn:ietf:params:xml:ns:xmpp-bind bind"`
	Session    *struct {
		Optional *struct{} `xml:"optional"`
	} `xml:"urn:ietf:params:xml:ns:xmpp-session session"`
}

func (f *rawFeatures) offers(mech string) bool {
	for _, m := range f.Mechanisms {
		if m == mech {
			return true
		}
	}
	return false
}

// open sends a stream header, starts a new parser, reads the server's
// header and returns its features.
func (c *rawSetup) open() (*rawFeatures, error) {
	var header bytes.Buffer
	header.WriteString("<?xml version='1.0'?><stream:stream xmlns='" + nsClient + "' xmlns:stream='" + nsStream + "' version='1.0' to='")
	_ = xml.EscapeText(&header, []byte(c.domain))
	header.WriteString("'>")
	if err := c.write(header.String()); err != nil {
		return nil, err
	}
	c.rec = &recorder{r: c.conn}
	c.d = xml.NewDecoder(c.rec)
	for {
		tok, err := c.d.Token()
		if err != nil {
			return nil, fmt.Errorf("read stream header: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Space != nsStream || se.Name.Local != "stream" {
				return nil, fmt.Errorf("unexpected <%s/> instead of the stream header", se.Name.Local)
			}
			break
		}
	}
	c.rec.take(0, c.d.InputOffset())
	raw, name, err := c.element()
	if err != nil {
		return nil, fmt.Errorf("read stream features: %w", err)
	}
	if name.Space != nsStream || name.Local != "features" {
		return nil, fmt.Errorf("unexpected %s instead of stream features", raw)
	}
	var f rawFeatures
	if err := xml.Unmarshal([]byte(raw), &f); err != nil {
		return nil, fmt.Errorf("stream features %s: %w", raw, err)
	}
	return &f, nil
}

// element reads the next top-level element. A stream error or the end of
// the stream is an error.
func (c *rawSetup) element() (string, xml.Name, error) {
	for {
		raw, name, end, err := readElement(c.d, c.rec)
		switch {
		case err != nil:
			return "", xml.Name{}, err
		case end:
			return "", xml.Name{}, errors.New("server closed the stream")
		case raw == "":
			continue
		case name.Space == nsStream && name.Local == "error":
			return "", xml.Name{}, fmt.Errorf("server sent %s", raw)
		}
		return raw, name, nil
	}
}

// await reads elements until the iq with id arrives and returns it; other
// elements are appended to early.
func (c *rawSetup) await(id string, early *[]string) (string, error) {
	for {
		raw, name, err := c.element()
		if err != nil {
			return "", err
		}
		if name.Local == "iq" && attrOf(raw, "id") == id {
			return raw, nil
		}
		*early = append(*early, raw)
	}
}

// attrOf returns the attribute called name of raw's top-level element.
func attrOf(raw, name string) string {
	tok, err := xml.NewDecoder(bytes.NewReader([]byte(raw))).Token()
	if se, ok := tok.(xml.StartElement); ok && err == nil {
		return attrValue(se.Attr, name)
	}
	return ""
}

func iqType(raw string) string { return attrOf(raw, "type") }

func (c *rawSetup) write(s string) error {
	if _, err := c.conn.Write([]byte(s)); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// saslFailure turns a SASL <failure/> into a *SASLError.
func saslFailure(raw string) error {
	var v struct {
		Children []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal([]byte(raw), &v); err != nil {
		return fmt.Errorf("SASL failure %s: %w", raw, err)
	}
	e := &SASLError{}
	for _, c := range v.Children {
		if c.XMLName.Local == "text" {
			e.Text = c.Text
		} else if e.Condition == "" {
			e.Condition = c.XMLName.Local
		}
	}
	return e
}
