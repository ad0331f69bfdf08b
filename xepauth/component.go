package xepauth

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"
)

// Config says how to reach the XMPP server as a component.
type Config struct {
	// Server is the host:port of the server's component port (XEP-0114),
	// usually 5347 on loopback.
	Server string
	// Domain is the component's address, e.g. "auth.example.org"; it must
	// match the server's component declaration.
	Domain string
	// Secret is the component's shared secret.
	Secret string
	// Name is shown in service discovery. Default: "xepauth (XEP-0070)".
	Name string
	// KeepAlive is how often the connection is checked with a ping through
	// the server when it is idle, and how long an answer may take. Default:
	// 30s; negative disables the check.
	KeepAlive time.Duration
	// MinBackoff and MaxBackoff bound the wait between two dials. Defaults:
	// 200ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds the TCP connect and the handshake. Default: 5s.
	DialTimeout time.Duration
	// WriteTimeout bounds every write; a server that does not take a
	// stanza in this time is dropped and redialled. Default: 10s.
	WriteTimeout time.Duration
}

// Component is one XEP-0114 component connection, kept up by a supervisor
// goroutine, through which any number of asks are sent at once.
type Component struct {
	cfg    Config
	domain jid.JID
	log    *zap.Logger

	cur atomic.Pointer[conn] // nil while not connected

	mu       sync.Mutex
	started  bool
	ctx      context.Context
	cancel   context.CancelFunc
	stopped  chan struct{}
	changed  chan struct{} // closed and replaced at every connect and drop
	lastErr  error
	dialFail int // dials failed in a row

	probeTimeout time.Duration // probeTimeout, shorter in tests
}

// New checks cfg and returns a Component that is not connected yet: Start
// dials. A nil logger logs nothing.
func New(cfg Config, log *zap.Logger) (*Component, error) {
	if log == nil {
		log = zap.NewNop()
	}
	var errs []error
	if cfg.Server == "" {
		errs = append(errs, errors.New("server address is empty (want host:port of the XMPP server's component port)"))
	} else if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
		errs = append(errs, fmt.Errorf("server address %q: %w", cfg.Server, err))
	}
	domain, err := jid.Parse(cfg.Domain)
	switch {
	case cfg.Domain == "":
		errs = append(errs, errors.New("component domain is empty"))
	case err != nil:
		errs = append(errs, fmt.Errorf("component domain %q: %w", cfg.Domain, err))
	case domain.Localpart() != "" || domain.Resourcepart() != "":
		errs = append(errs, fmt.Errorf("component domain %q must be a bare domain, like auth.example.org", cfg.Domain))
	}
	if cfg.Secret == "" {
		errs = append(errs, errors.New("component secret is empty"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "xepauth (XEP-0070)"
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 30 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Component{
		cfg:     cfg,
		domain:  domain,
		log:     log.With(zap.String("component", domain.String()), zap.String("server", cfg.Server)),
		ctx:     ctx,
		cancel:  cancel,
		stopped: make(chan struct{}),
		changed: make(chan struct{}),

		probeTimeout: probeTimeout,
	}, nil
}

// Domain returns the component's address.
func (c *Component) Domain() jid.JID { return c.domain }

// Start starts the supervisor, which dials and keeps redialling until
// Close. It returns at once; calling it again does nothing.
func (c *Component) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started || c.ctx.Err() != nil {
		return
	}
	c.started = true
	go c.supervise()
}

// Close stops the supervisor and ends the connection. Pending asks end as
// unreachable. It waits for the supervisor to return.
func (c *Component) Close() error {
	c.mu.Lock()
	started := c.started
	c.cancel() // the supervisor ends the session it is serving, if any
	c.mu.Unlock()
	if started {
		<-c.stopped
	}
	return nil
}

// Connected reports whether the component session is up right now.
func (c *Component) Connected() bool {
	cn := c.cur.Load()
	return cn != nil && cn.up()
}

// Err returns why the last dial or session failed, or nil while connected.
func (c *Component) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur.Load() != nil {
		return nil
	}
	return c.lastErr
}

// WaitConnected waits until the session is up or ctx ends.
func (c *Component) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		ch := c.changed
		c.mu.Unlock()
		if c.Connected() {
			return nil
		}
		select {
		case <-ctx.Done():
			if err := c.Err(); err != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
			}
			return ctx.Err()
		case <-ch:
		}
	}
}

// Pending returns the number of asks waiting for an answer.
func (c *Component) Pending() int {
	if cn := c.cur.Load(); cn != nil {
		return cn.table.len()
	}
	return 0
}

// setState publishes the current connection (or none) and wakes waiters.
func (c *Component) setState(cn *conn, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur.Store(cn)
	c.lastErr = err
	close(c.changed)
	c.changed = make(chan struct{})
}

// supervise is the one goroutine that owns the connection: dial, serve
// until the session ends, wait, dial again; until Close.
func (c *Component) supervise() {
	defer close(c.stopped)
	backoff := c.cfg.MinBackoff
	for c.ctx.Err() == nil {
		cn, served, stopWatch, err := c.connect()
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.dialFailed(err, backoff)
			c.sleep(backoff)
			backoff = min(2*backoff, c.cfg.MaxBackoff)
			continue
		}
		c.mu.Lock()
		c.dialFail = 0
		c.mu.Unlock()
		c.log.Info("connected to XMPP server as a component")
		c.setState(cn, nil)

		began := time.Now()
		kaDone := make(chan struct{})
		go func() { defer close(kaDone); c.keepAlive(cn) }()
		err = <-served
		stopWatch()
		if err == nil {
			err = errors.New("server closed the stream")
		}
		err = fmt.Errorf("component session ended: %w", err)
		c.setState(nil, err)
		cn.down("connection to the XMPP server lost")
		<-kaDone
		if c.ctx.Err() != nil {
			return
		}
		c.log.Warn("lost the XMPP server; reconnecting", zap.Error(err))
		// A session that lasted resets the backoff: the drop is news, often a
		// restart, worth a quick redial. One that ends right after the
		// handshake keeps backing off, or a server that accepts and drops
		// would be redialled many times a second.
		if time.Since(began) > time.Minute {
			backoff = c.cfg.MinBackoff
		}
		c.sleep(backoff)
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// connect dials, starts serving the session and checks that it is alone
// on its domain (probe.go). On success it returns the connection, the
// channel Serve's result arrives on, and the stop function of the watch
// that ends the session when the component is closed; on failure nothing
// of the attempt is left running.
func (c *Component) connect() (*conn, <-chan error, func() bool, error) {
	cn, err := c.dial()
	if err != nil {
		return nil, nil, nil, err
	}
	// Close may come at any moment, even between the dial and Serve:
	// ending the session then is what makes Serve return.
	stopWatch := context.AfterFunc(c.ctx, func() { cn.down("component closed") })
	served := make(chan error, 1)
	go func() {
		err := cn.sess.Serve(cn)
		// Ends the probe at once if the stream ends during it.
		cn.down("connection to the XMPP server lost")
		served <- err
	}()
	if err := cn.checkSole(c.probeTimeout); err != nil {
		cn.down("connection refused for use: " + err.Error())
		// The stream's end, which down caused: expected, so not an error.
		if err := <-served; err != nil {
			cn.log.Debug("the refused connection's stream ended", zap.Error(err))
		}
		stopWatch()
		return nil, nil, nil, err
	}
	return cn, served, stopWatch, nil
}

// dialFailed logs a failed dial: the first of a run of failures, and every
// change of cause, at ERROR with what to check; repeats at DEBUG, so a
// server that is down for an hour does not fill the log.
func (c *Component) dialFailed(err error, backoff time.Duration) {
	c.mu.Lock()
	c.dialFail++
	n := c.dialFail
	same := sameCause(c.lastErr, err)
	c.mu.Unlock()
	c.setState(nil, err)
	if n == 1 || !same {
		c.log.Error("cannot connect to the XMPP server; logins fail as unreachable until it works, retrying",
			zap.Error(err), zap.String("hint", hint(err)))
		return
	}
	c.log.Debug("still cannot connect to the XMPP server", zap.Error(err), zap.Int("attempt", n), zap.Duration("next_in", backoff))
}

// sameCause reports whether two dial failures have one cause: the same
// error, or both a shared domain (whose message carries a count that
// differs from one try to the next).
func sameCause(a, b error) bool {
	if a == nil || b == nil {
		return false
	}
	return a.Error() == b.Error() || errors.Is(a, ErrSharedDomain) && errors.Is(b, ErrSharedDomain)
}

// hint says what to check for the handshake errors the servers send.
func hint(err error) string {
	switch {
	case errors.Is(err, stream.NotAuthorized):
		return "the server refused the secret, or (ejabberd) does not know the component domain: check the component's secret and domain in the server's config"
	case errors.Is(err, stream.HostUnknown):
		return "the server does not know this component domain: declare it (Prosody: a Component line; ejabberd: the hosts of ejabberd_service)"
	case errors.Is(err, stream.Conflict):
		return "another process is already connected as this component: give every gate its own component domain"
	case errors.Is(err, errNoLoopback):
		return "the server routed none of the component's messages to its own address back to it: is it overloaded, or does it not route a component's stanzas to the component's own domain?"
	case errors.Is(err, ErrSharedDomain):
		return "another process is connected as this component (ejabberd accepts several and splits the stanzas between them at random, so logins would lose answers): give every gate, every Caddy instance, its own component domain"
	default:
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) {
			return "is the XMPP server running, with its component port on this address?"
		}
		return ""
	}
}

// sleep waits d (with ±20% jitter, so a fleet of gates does not redial in
// step) or until Close.
func (c *Component) sleep(d time.Duration) {
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
	}
}

// dial connects and does the component handshake.
func (c *Component) dial() (*conn, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("dial component port %s: %w", c.cfg.Server, err)
	}
	// A server that accepts and then says nothing must not hold the dial
	// (and Close, which waits for it) forever: closing the socket is the
	// one thing that surely ends a blocked read.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	sess, err := component.NewSession(ctx, c.domain, []byte(c.cfg.Secret), deadlineConn{Conn: nc, timeout: c.cfg.WriteTimeout})
	if !stop() {
		err = errors.Join(err, fmt.Errorf("no handshake within %s", c.cfg.DialTimeout))
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("component handshake as %s with %s: %w", c.domain, c.cfg.Server, err)
	}
	return newConn(sess, nc, c.cfg.Name, c.log), nil
}

// keepAlive pings through the server while the session is up, and closes
// it when a ping goes unanswered: a server that stopped reading (paused,
// or a half-open TCP connection) is noticed within about twice the
// interval instead of never.
func (c *Component) keepAlive(cn *conn) {
	if c.cfg.KeepAlive < 0 {
		return
	}
	t := time.NewTicker(c.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-cn.done:
			return
		case <-c.ctx.Done():
			return
		case <-t.C:
			if !cn.ping(c.cfg.KeepAlive) {
				select {
				case <-cn.done:
					return
				default:
				}
				c.log.Warn("XMPP server did not answer a ping; reconnecting", zap.Duration("waited", c.cfg.KeepAlive))
				cn.nc.Close()
				return
			}
		}
	}
}
