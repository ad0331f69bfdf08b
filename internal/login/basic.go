package login

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

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
//   - A Basic login is a transaction (transactions.go): its id is spent
//     once asked, identical concurrent requests share one ask, and the
//     same credentials on a different request while the ask is pending
//     get 401: the transaction id is in use.
//   - An approved HEAD or OPTIONS lets the same credentials through once
//     more, within basicCarryOver, from the same client IP and on the same
//     site (§5).
//   - Once approved, the gate's credentials are removed from the request:
//     the upstream sees the user header, never "Authorization".
//   - Answers other than an approval are *StatusErrors (see env.go), so
//     that a site's handle_errors can restyle them.

const (
	// basicMaxTxID bounds the transaction id, in bytes after decoding.
	basicMaxTxID = 64
	// basicMaxHeader bounds the Base64 credentials: room for a full JID
	// of RFC 7622's maximum size (3071 bytes), all percent-encoded.
	basicMaxHeader = 16 << 10
	// basicMaxURL bounds the URL sent in the <confirm/> and shown to the
	// person who answers.
	basicMaxURL = 4096
)

// serveBasicLogin handles a request without a session that carries Basic
// credentials, which are checked over XMPP. It returns false when there
// are none, and the request gets the usual challenge.
func (g *Gate) serveBasicLogin(w http.ResponseWriter, r *http.Request, next Handler) (bool, error) {
	cred, ok, err := parseBasicAuthorization(r.Header)
	if !ok {
		return false, nil
	}
	deleteHeader(r.Header, g.cfg.UserHeader)
	if err != nil {
		return true, basicRefused(w, http.StatusBadRequest, err.Error())
	}
	return true, g.serveBasic(w, r, next, cred)
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
func (g *Gate) serveBasic(w http.ResponseWriter, r *http.Request, next Handler, cred basicCredentials) error {
	bare := cred.jid.Bare().String()
	if g.svc.ownDomain(cred.jid) {
		return basicRefused(w, http.StatusBadRequest, "this JID is the gate's own XMPP address, not a person's")
	}
	if ipLiteralDomain(cred.jid.Domainpart()) && !g.allowed.namesDomain(cred.jid) {
		return basicRefused(w, http.StatusBadRequest, "the JID's domain is an IP address, which this site does not allow")
	}
	if !g.allowed.admits(bare) {
		return basicRefused(w, http.StatusForbidden, "this XMPP address may not log in here")
	}
	if !g.hostNamesSite(r) {
		return basicRefused(w, http.StatusMisdirectedRequest, "this site does not ask for logins for this host name")
	}
	target := scheme(r) + "://" + r.Host + g.env.OriginalURL(r).RequestURI()
	if len(target) > basicMaxURL {
		return basicRefused(w, http.StatusRequestURITooLong, "the URL is too long to be confirmed over XMPP")
	}
	if err := xepauth.ValidMethod(r.Method); err != nil {
		return basicRefused(w, http.StatusBadRequest, fmt.Sprintf("the method %q cannot be confirmed over XMPP", r.Method))
	}

	site, ip := siteOf(r), g.env.ClientIP(r)
	log := g.log.With(zap.String("jid", cred.jid.String()), zap.String("method", r.Method),
		zap.String("site", site), zap.String("remote_ip", r.RemoteAddr))
	o, carried, err := g.svc.transact(r, txRequest{
		// Keyed by the id's normal form: "abc" and "ABC" are the same
		// answer to the person typing it, so they are the same
		// transaction.
		key:     txKey{bare: bare, txid: xepauth.NormaliseCode(cred.txid)},
		id:      txIdentity{full: cred.jid.String(), method: r.Method, url: target, site: site, ip: ip},
		ip:      ip,
		timeout: g.cfg.LoginTimeout,
		ask: xepauth.Request{
			JID:      cred.jid,
			Site:     g.siteName(r),
			URL:      target,
			Method:   r.Method,
			Code:     cred.txid,
			Language: g.messageLang(r),
			Messages: g.xmppMessages(),
		},
	})
	var refused *refusal
	switch {
	case errors.Is(err, errGone):
		// 499, as Caddy's reverse proxy records a client that went away.
		w.WriteHeader(499)
		return nil
	case errors.As(err, &refused):
		log.Debug("login not asked (Basic)", zap.Error(err))
		switch refused.kind {
		case refusedSpent, refusedInUse:
			return g.basicUnauthorized(w, r, refused.Error())
		case refusedCrowded, refusedLimit:
			return basicRefused(w, http.StatusTooManyRequests, refused.Error())
		}
		return basicRefused(w, http.StatusServiceUnavailable, refused.Error())
	case carried:
		log.Info("login approved (Basic, credentials of an approved HEAD or OPTIONS)")
		return g.basicPass(w, r, next, bare)
	}
	g.env.Metrics.Asked(o.Result.String())
	log.Info("login answered (Basic)", zap.Stringer("result", o.Result), zap.String("detail", o.Detail))
	switch o.Result {
	case xepauth.Approved:
		return g.basicPass(w, r, next, bare)
	case xepauth.Denied:
		return basicRefused(w, http.StatusForbidden, "the XMPP account refused this request")
	case xepauth.Unreachable:
		return basicRefused(w, http.StatusServiceUnavailable, "the XMPP account could not be reached")
	default:
		return g.basicUnauthorized(w, r, "no answer came from the XMPP account in time")
	}
}

// basicPass lets an approved request through, as a session would, and
// gives the client a session cookie for the next ones.
func (g *Gate) basicPass(w http.ResponseWriter, r *http.Request, next Handler, bare string) error {
	if err := g.issueSession(w, r, bare); err != nil {
		return err
	}
	g.pass(r, bare)
	r.Header.Del("Authorization")
	return next.ServeHTTP(w, r)
}

// basicUnauthorized answers 401 with the challenge, so the client can try
// again with a new transaction id; a browser gets the login page, or its
// script a 401 without challenge, since the Basic prompt would invite a
// password.
func (g *Gate) basicUnauthorized(w http.ResponseWriter, r *http.Request, msg string) error {
	if wantsHTML(r) && !isUpgradeRequest(r) || fromBrowser(r) {
		return g.challenge(w, r)
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="xmpp"`)
	return basicRefused(w, http.StatusUnauthorized, msg)
}

// basicRefused is a Basic login's answer other than an approval.
func basicRefused(w http.ResponseWriter, status int, msg string) error {
	w.Header().Set("Cache-Control", "no-store")
	return statusError(status, msg)
}
