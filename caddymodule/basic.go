package caddymodule

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// Non-browser clients (XEP-0070 §4): a request without a session that
// carries "Authorization: Basic" with user = JID and password = a
// transaction id chosen by the client is held while that JID is asked to
// confirm the request, and then served (approved), refused (403), answered
// with the challenge again (timeout) or with 503 (unreachable).
//
// Choices where XEP-0070 is silent:
//
//   - Both halves of the credentials are percent-decoded (§4.3.1 has every
//     non-ASCII character of the JID and of the transaction id
//     percent-encoded); raw UTF-8 is accepted too. A literal "%" must be
//     sent as %25, a ":" in the JID as %3A (the first ":" splits user and
//     password, as RFC 7617 says).
//   - A transaction id is spent once it has been asked, whatever the
//     outcome, and stays spent for max(2×login_timeout, 4m), across
//     reloads, for every site of the gate.
//   - An approved HEAD or OPTIONS lets the same credentials through once
//     more, within basicCarryOver, from the same client IP and on the same
//     site (§5).
//   - Concurrent identical requests (same JID as sent, transaction id,
//     method, URL and client IP) share one ask: the later ones wait for
//     its outcome, at most basicMaxWaiters of them. The ask ends when its
//     time is up or when every waiting request has gone. The same
//     credentials on a different request while the ask is pending get
//     401: the transaction id is in use.
//   - Once approved, the gate's credentials are removed from the request:
//     the upstream sees the user header, never "Authorization".

const (
	// basicCarryOver is how long the credentials of an approved HEAD or
	// OPTIONS stay usable for the next request (XEP-0070 §5).
	basicCarryOver = 2 * time.Minute
	// basicMaxTxID bounds the transaction id, in bytes after decoding.
	basicMaxTxID = 64
	// basicMaxHeader bounds the Base64 credentials: room for a full JID
	// of RFC 7622's maximum size (3071 bytes), all percent-encoded.
	basicMaxHeader = 16 << 10
	// basicMaxURL bounds the URL sent in the <confirm/> and shown to the
	// person who answers.
	basicMaxURL = 4096
	// basicMaxWaiters bounds the identical requests that wait for one ask.
	basicMaxWaiters = 8
	// basicMaxEntries bounds the transaction ids remembered (spent and in
	// flight). When full, new asks get 503 until entries expire: forgetting
	// a spent id early would let it be replayed.
	basicMaxEntries = 100_000
)

// serveWithoutSession handles the requests without a session that are not
// for the login page: CORS preflights (preflight.go), and Basic
// credentials, which are checked over XMPP. It returns false when the
// request gets the usual challenge.
func (h *Handler) serveWithoutSession(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) (bool, error) {
	if isCORSPreflight(r) {
		return true, h.servePreflight(w, r, next)
	}
	cred, ok, err := parseBasicAuthorization(r.Header)
	if !ok {
		return false, nil
	}
	deleteHeader(r.Header, h.UserHeader)
	if err != nil {
		return true, basicPlain(w, http.StatusBadRequest, err.Error())
	}
	return true, h.serveBasic(w, r, next, cred)
}

// basicCredentials are a JID and a transaction id, decoded.
type basicCredentials struct {
	jid  jid.JID // as sent: a full JID gets an iq, a bare JID a message
	txid string
}

// errBasic is a problem with the credentials, said in a few words to the
// client.
type errBasic string

func (e errBasic) Error() string { return string(e) }

// parseBasicAuthorization reads "Authorization: Basic". ok is false when
// there are no Basic credentials (no header, another scheme); err says what
// is wrong with credentials that cannot be used.
func parseBasicAuthorization(hdr http.Header) (cred basicCredentials, ok bool, err error) {
	values := hdr.Values("Authorization")
	basic := 0
	var value string
	for _, v := range values {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		if strings.EqualFold(scheme, "Basic") {
			basic++
			value = strings.TrimSpace(rest)
		}
	}
	switch {
	case basic == 0:
		return basicCredentials{}, false, nil
	case len(values) > 1:
		return basicCredentials{}, true, errBasic("more than one Authorization header")
	case value == "":
		return basicCredentials{}, true, errBasic("empty Basic credentials")
	case len(value) > basicMaxHeader:
		return basicCredentials{}, true, errBasic("Basic credentials too long")
	}
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil && !strings.Contains(value, "=") {
		raw, err = base64.RawStdEncoding.DecodeString(value)
	}
	if err != nil {
		return basicCredentials{}, true, errBasic("the credentials are not valid Base64")
	}
	user, pass, found := strings.Cut(string(raw), ":")
	switch {
	case !found:
		return basicCredentials{}, true, errBasic(`no ":" between the JID and the transaction id`)
	case user == "":
		return basicCredentials{}, true, errBasic("empty JID (the user name must be your XMPP address)")
	case pass == "":
		return basicCredentials{}, true, errBasic("empty transaction id (the password must be an id of your choice)")
	}
	user, err = basicUnescape(user)
	if err != nil {
		return basicCredentials{}, true, errBasic("the JID is " + err.Error())
	}
	pass, err = basicUnescape(pass)
	if err != nil {
		return basicCredentials{}, true, errBasic("the transaction id is " + err.Error())
	}
	if err := checkTxID(pass); err != nil {
		return basicCredentials{}, true, err
	}
	j, err := jid.Parse(user)
	switch {
	case err != nil || !canonicalJID(j):
		return basicCredentials{}, true, errBasic("the user name is not a JID (name@example.org)")
	case j.Localpart() == "":
		return basicCredentials{}, true, errBasic("the JID has no local part (name@example.org)")
	case len(j.Bare().String()) > maxJIDLen:
		return basicCredentials{}, true, errBasic("the JID is too long")
	}
	if err := checkSpelling(user, j); err != nil {
		return basicCredentials{}, true, errBasic("the JID cannot be used: " + err.Error())
	}
	return basicCredentials{jid: j, txid: pass}, true, nil
}

// basicUnescape undoes RFC 3986 percent-encoding and insists on UTF-8.
func basicUnescape(s string) (string, error) {
	out, err := url.PathUnescape(s)
	if err != nil {
		return "", errors.New(`not properly percent-encoded (send "%" as %25)`)
	}
	if !utf8.ValidString(out) {
		return "", errors.New("not UTF-8 once percent-decoded")
	}
	return out, nil
}

// checkTxID accepts a transaction id that can go in a <confirm/> and be
// read by a person: short, without control characters, and not "no",
// which a person answering in plain text means as a refusal.
func checkTxID(id string) error {
	if len(id) > basicMaxTxID {
		return errBasic(fmt.Sprintf("transaction id longer than %d bytes", basicMaxTxID))
	}
	for _, c := range id {
		if unicode.IsControl(c) {
			return errBasic("control characters in the transaction id")
		}
	}
	if err := xepauth.ValidCode(id); err != nil {
		return errBasic("transaction id: " + err.Error() + "; choose another")
	}
	return nil
}

// isUpgradeRequest tells a request to switch protocols (a WebSocket,
// chiefly), which can never show a login page: HTTP/1.1 Upgrade, or an
// extended CONNECT (RFC 8441, RFC 9220).
func isUpgradeRequest(r *http.Request) bool {
	if r.Method == http.MethodConnect && (r.Header.Get(":protocol") != "" || r.ProtoMajor == 3 && r.Proto != "HTTP/3.0") {
		return true
	}
	if r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// serveBasic asks the JID of the credentials to confirm this request and
// holds the request until the answer.
func (h *Handler) serveBasic(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, cred basicCredentials) error {
	bare := cred.jid.Bare().String()
	if h.ownDomain(cred.jid) {
		return basicPlain(w, http.StatusBadRequest, "this JID is the gate's own XMPP address, not a person's")
	}
	if ipLiteralDomain(cred.jid.Domainpart()) && !h.allowed.namesDomain(cred.jid) {
		return basicPlain(w, http.StatusBadRequest, "the JID's domain is an IP address, which this site does not allow")
	}
	if !h.allowed.admits(bare) {
		return basicPlain(w, http.StatusForbidden, "this XMPP address may not log in here")
	}
	if !h.hostNamesSite(r) {
		return basicPlain(w, http.StatusMisdirectedRequest, "this site does not ask for logins for this host name")
	}
	target := scheme(r) + "://" + r.Host + originalRequest(r).URL.RequestURI()
	if len(target) > basicMaxURL {
		return basicPlain(w, http.StatusRequestURITooLong, "the URL is too long to be confirmed over XMPP")
	}
	if err := xepauth.ValidMethod(r.Method); err != nil {
		return basicPlain(w, http.StatusBadRequest, fmt.Sprintf("the method %q cannot be confirmed over XMPP", r.Method))
	}

	site, ip, now := siteOf(r), clientIP(r), time.Now()
	timeout := time.Duration(h.LoginTimeout)
	// Keyed by the id's normal form: "abc" and "ABC" are the same answer to
	// the person typing it, so they are the same transaction.
	key := basicKey{bare: bare, txid: xepauth.NormaliseCode(cred.txid)}
	id := basicIdentity{full: cred.jid.String(), method: r.Method, url: target, site: site, ip: ip}
	tx, verdict, err := h.gate.admitTransaction(key, id, ip, timeout, now)
	log := h.logger.With(zap.String("jid", cred.jid.String()), zap.String("method", r.Method),
		zap.String("site", site), zap.String("remote_ip", r.RemoteAddr))

	switch verdict {
	case basicCarried:
		log.Info("login approved (Basic, credentials of an approved HEAD or OPTIONS)")
		return h.basicPass(w, r, next, bare)
	case basicReused:
		return h.basicUnauthorized(w, r, "this transaction id has been used; choose a new one")
	case basicInUse:
		return h.basicUnauthorized(w, r, "this transaction id is in use by another request; choose a new one")
	case basicCrowded:
		return basicPlain(w, http.StatusTooManyRequests, "too many identical requests are waiting for this confirmation")
	case basicFull:
		return basicPlain(w, http.StatusServiceUnavailable, "too many logins in progress; try again later")
	case basicLimited:
		log.Debug("login refused by a limit", zap.Error(err))
		switch {
		case errors.Is(err, errBasicNotConnected):
			return basicPlain(w, http.StatusServiceUnavailable, "XMPP server unreachable; nothing was sent")
		case errors.Is(err, errBusy):
			return basicPlain(w, http.StatusServiceUnavailable, "too many logins in progress; nothing was sent")
		}
		return basicPlain(w, http.StatusTooManyRequests, err.Error()+"; nothing was sent")
	case basicAsk:
		req := xepauth.Request{
			JID:      cred.jid,
			Site:     h.siteName(r),
			URL:      target,
			Method:   r.Method,
			Code:     cred.txid,
			Language: h.messageLang(r),
			Messages: h.xmppMessages(),
		}
		log.Info("login asked (Basic)")
		h.gate.askTransaction(tx, req)
	}

	o, ok := h.gate.waitTransaction(r, tx)
	if !ok {
		// The client has gone; 499 as Caddy's reverse proxy records it.
		w.WriteHeader(499)
		return nil
	}
	log.Info("login answered (Basic)", zap.Stringer("result", o.Result), zap.String("detail", o.Detail))
	switch o.Result {
	case xepauth.Approved:
		return h.basicPass(w, r, next, bare)
	case xepauth.Denied:
		return basicPlain(w, http.StatusForbidden, "the XMPP account refused this request")
	case xepauth.Unreachable:
		return basicPlain(w, http.StatusServiceUnavailable, "the XMPP account could not be reached")
	default:
		return h.basicUnauthorized(w, r, "no answer came from the XMPP account in time")
	}
}

// basicPass lets an approved request through, as a session would, and
// gives the client a session cookie for the next ones.
func (h *Handler) basicPass(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, bare string) error {
	if err := h.issueSession(w, r, bare); err != nil {
		return err
	}
	h.pass(r, bare)
	r.Header.Del("Authorization")
	return next.ServeHTTP(w, r)
}

// basicUnauthorized answers 401 with the challenge, so the client can try
// again with a new transaction id; a browser navigation gets the login page
// instead, since the Basic prompt would invite a password.
func (h *Handler) basicUnauthorized(w http.ResponseWriter, r *http.Request, msg string) error {
	if wantsHTML(r) && !isUpgradeRequest(r) || fromBrowserScript(r) {
		return h.challenge(w, r)
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="xmpp"`)
	return basicPlain(w, http.StatusUnauthorized, msg)
}

// basicPlain writes a short plain-text answer.
func basicPlain(w http.ResponseWriter, status int, msg string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := fmt.Fprintf(w, "%d %s: %s\n", status, http.StatusText(status), msg)
	return err
}

var errBasicNotConnected = errors.New("not connected to the XMPP server")

// basicKey names a transaction: its id and the bare JID it was asked of.
type basicKey struct{ bare, txid string }

// basicIdentity is what makes two requests identical for sharing one ask.
type basicIdentity struct{ full, method, url, site, ip string }

// basicCall is one ask in flight and the requests waiting for it.
// transaction is one admitted (JID, transaction id) pair, as Basic logins
// and the API both ask them: the shared call, and what its ask needs.
type transaction struct {
	call    *basicCall
	key     basicKey
	ip      string
	ctx     context.Context // the ask's life: the gate's, bounded by the timeout
	cancel  context.CancelFunc
	usedFor time.Duration // how long the id stays spent
}

// admitTransaction admits a request for key: it joins an ask in flight,
// or, when it is the first, checks the connection and the limits so that
// the caller may ask (verdict basicAsk, then askTransaction).
func (g *gate) admitTransaction(key basicKey, id basicIdentity, ip string, timeout time.Duration, now time.Time) (transaction, basicVerdict, error) {
	ctx, cancel := context.WithTimeout(g.ctx, timeout)
	call, verdict, err := g.basic.admit(key, id, now, cancel, func() error {
		if !g.comp.Connected() {
			return errBasicNotConnected
		}
		return g.limits.acquire(key.bare, ip, now)
	})
	if verdict != basicAsk {
		cancel()
	}
	return transaction{call: call, key: key, ip: ip, ctx: ctx, cancel: cancel, usedFor: max(2*timeout, 2*basicCarryOver)}, verdict, err
}

// askTransaction sends the request in the background; its outcome reaches
// every request waiting on the call, and frees the limits it took.
func (g *gate) askTransaction(t transaction, req xepauth.Request) {
	go func() {
		o := g.comp.Ask(t.ctx, req)
		t.cancel()
		g.limits.release(t.key.bare, t.ip)
		g.basic.finish(t.key, t.call, o, time.Now(), t.usedFor)
	}()
}

// waitTransaction waits for the outcome; false when the client went away
// first (the ask ends once no request waits on it).
func (g *gate) waitTransaction(r *http.Request, t transaction) (xepauth.Outcome, bool) {
	select {
	case <-t.call.done:
		return t.call.outcome, true
	case <-r.Context().Done():
		g.basic.leave(t.call)
		return xepauth.Outcome{}, false
	}
}

type basicCall struct {
	id      basicIdentity
	done    chan struct{}
	outcome xepauth.Outcome // set before done is closed
	waiters int             // under basicState.mu
	cancel  context.CancelFunc
}

// basicSpent is a transaction id that has been asked.
type basicSpent struct {
	expires time.Time
	// For an approved HEAD or OPTIONS: one more request from ip on site is
	// let through until carryUntil.
	carryUntil time.Time
	site, ip   string
}

// basicVerdict is what admit decided.
type basicVerdict int

const (
	basicAsk     basicVerdict = iota // a new ask: send it, then wait
	basicJoined                      // an identical ask is in flight: wait for it
	basicCarried                     // the carry-over of a HEAD or OPTIONS: pass
	basicReused                      // a spent transaction id: 401
	basicInUse                       // in flight for another request: 401
	basicCrowded                     // too many waiters already: 429
	basicFull                        // memory bound reached: 503
	basicLimited                     // a limit said no: see the error
)

// basicState is the gate's memory of Basic transactions. It lives with the
// gate, so a reload neither forgets spent ids nor loses asks in flight.
// The zero value is ready to use.
type basicState struct {
	mu        sync.Mutex
	inflight  map[basicKey]*basicCall
	spent     map[basicKey]*basicSpent
	lastSweep time.Time
}

// admit decides what to do with a request for key. When a new ask is
// needed, start (called under the lock) may refuse it; otherwise the
// returned call, with cancel as the way to end its ask, counts the caller
// as its first waiter.
func (s *basicState) admit(key basicKey, id basicIdentity, now time.Time, cancel context.CancelFunc, start func() error) (*basicCall, basicVerdict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == nil {
		s.inflight = make(map[basicKey]*basicCall)
		s.spent = make(map[basicKey]*basicSpent)
	}
	s.sweepLocked(now)
	if sp := s.spent[key]; sp != nil && now.Before(sp.expires) {
		if now.Before(sp.carryUntil) && sp.site == id.site && sp.ip == id.ip {
			sp.carryUntil = time.Time{} // once
			return nil, basicCarried, nil
		}
		return nil, basicReused, nil
	}
	if c := s.inflight[key]; c != nil {
		switch {
		case c.id != id:
			return nil, basicInUse, nil
		case c.waiters >= basicMaxWaiters:
			return nil, basicCrowded, nil
		}
		c.waiters++
		return c, basicJoined, nil
	}
	if len(s.spent)+len(s.inflight) >= basicMaxEntries {
		return nil, basicFull, nil
	}
	if err := start(); err != nil {
		return nil, basicLimited, err
	}
	c := &basicCall{id: id, done: make(chan struct{}), waiters: 1, cancel: cancel}
	s.inflight[key] = c
	return c, basicAsk, nil
}

// finish records the outcome of c's ask, spends its transaction id, and
// wakes its waiters.
func (s *basicState) finish(key basicKey, c *basicCall, o xepauth.Outcome, now time.Time, usedFor time.Duration) {
	s.mu.Lock()
	if s.inflight[key] == c {
		delete(s.inflight, key)
	}
	sp := &basicSpent{expires: now.Add(usedFor)}
	if o.Result == xepauth.Approved && (c.id.method == http.MethodHead || c.id.method == http.MethodOptions) {
		sp.carryUntil = now.Add(basicCarryOver)
		sp.site, sp.ip = c.id.site, c.id.ip
	}
	s.spent[key] = sp
	c.outcome = o
	s.mu.Unlock()
	close(c.done)
}

// leave takes a waiter off c; the last one to go ends the ask.
func (s *basicState) leave(c *basicCall) {
	s.mu.Lock()
	c.waiters--
	last := c.waiters == 0
	s.mu.Unlock()
	if last {
		c.cancel()
	}
}

// sweepLocked forgets expired ids once a minute, or once a second while
// the memory bound is reached.
func (s *basicState) sweepLocked(now time.Time) {
	since := now.Sub(s.lastSweep)
	if since < time.Minute && (len(s.spent)+len(s.inflight) < basicMaxEntries || since < time.Second) {
		return
	}
	s.lastSweep = now
	for k, sp := range s.spent {
		if !now.Before(sp.expires) {
			delete(s.spent, k)
		}
	}
}
