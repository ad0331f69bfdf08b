package main

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
)

// nsHTTPAuth is the XEP-0070 namespace.
const nsHTTPAuth = "http://jabber.org/protocol/http-auth"

// policy is how the approver answers.
type policy int

const (
	// ask shows each request and waits for y or n.
	ask policy = iota
	// autoApprove approves every request, for tests and CI.
	autoApprove
	// autoDeny denies every request, for tests and CI.
	autoDeny
)

// parsePolicy reads -auto.
func parsePolicy(s string) (policy, error) {
	switch s {
	case "":
		return ask, nil
	case "approve":
		return autoApprove, nil
	case "deny":
		return autoDeny, nil
	}
	return ask, fmt.Errorf("-auto %q: want approve, deny, or nothing to ask in the terminal", s)
}

// approver plays alice's XMPP client: it shows each confirm request the
// gate sends her and answers it as the person at the terminal (or the
// policy) decides.
type approver struct {
	alice  *xmpptest.User
	policy policy
	keys   *keyboard // nil unless policy is ask
	out    io.Writer
}

// run answers requests until ctx ends (nil), the person presses Ctrl-C
// while asked (errInterrupted), or alice's session ends (an error).
func (a *approver) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case r, ok := <-a.alice.Requests():
			if !ok {
				return fmt.Errorf("alice's XMPP session ended: %v", a.alice.Err())
			}
			if err := a.handle(ctx, r); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// handle shows one request, gets the decision and sends the answer.
func (a *approver) handle(ctx context.Context, r xmpptest.Request) error {
	fmt.Fprint(a.out, requestBox(r, a.alice.JID.String()))
	var approve bool
	switch a.policy {
	case autoApprove:
		approve = true
		fmt.Fprintln(a.out, "Approving (-auto approve).")
	case autoDeny:
		fmt.Fprintln(a.out, "Denying (-auto deny).")
	default:
		fmt.Fprint(a.out, "Does the login page show this code? Approve? [y/n] ")
		var err error
		approve, err = a.keys.ask(ctx)
		switch {
		case errors.Is(err, errNoInput):
			fmt.Fprintln(a.out, "no answer possible: the input is closed; denying. (Use -auto approve to approve without a terminal.)")
		case err != nil:
			return err
		case approve:
			fmt.Fprintln(a.out, "yes")
		default:
			fmt.Fprintln(a.out, "no")
		}
	}
	raw, err := answerXML(r, approve)
	if err != nil {
		// A request we cannot answer is the gate's problem to time out,
		// not a reason to stop the demo.
		fmt.Fprintf(a.out, "Cannot answer this request: %v\n\n", err)
		return nil
	}
	if err := a.alice.SendRaw(ctx, raw); err != nil {
		return fmt.Errorf("send the answer: %w", err)
	}
	if approve {
		fmt.Fprintln(a.out, "Approved: the browser is let in.")
	} else {
		fmt.Fprintln(a.out, "Denied: the browser is told the login was refused.")
	}
	fmt.Fprintln(a.out)
	return nil
}

// answerXML is alice's answer to r, as her XMPP client would send it
// (XEP-0070 §4.4 and §4.5): for an iq, a result, or an error echoing the
// <confirm/>; for a message, a normal message with the same thread and the
// <confirm/>, or an error message with both. Every value comes from the
// network, so all are escaped.
func answerXML(r xmpptest.Request, approve bool) (string, error) {
	if r.From == "" {
		return "", errors.New("the request has no sender to answer")
	}
	const notAuthorized = `<error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	var b strings.Builder
	switch {
	case r.Kind == "iq" && approve:
		fmt.Fprintf(&b, "<iq type='result' id='%s' to='%s'/>", esc(r.StanzaID), esc(r.From))
	case r.Kind == "iq":
		fmt.Fprintf(&b, "<iq type='error' id='%s' to='%s'>%s%s</iq>", esc(r.StanzaID), esc(r.From), confirmXML(r), notAuthorized)
	case r.Kind == "message" && approve:
		fmt.Fprintf(&b, "<message type='normal' to='%s'>%s%s</message>", esc(r.From), threadXML(r.Thread), confirmXML(r))
	case r.Kind == "message":
		// RFC 6120 §8.3.1: an error carries the id of the stanza it
		// answers; the gate also matches it by thread.
		idAttr := ""
		if r.StanzaID != "" {
			idAttr = " id='" + esc(r.StanzaID) + "'"
		}
		fmt.Fprintf(&b, "<message type='error' to='%s'%s>%s%s%s</message>", esc(r.From), idAttr, threadXML(r.Thread), confirmXML(r), notAuthorized)
	default:
		return "", fmt.Errorf("unknown request kind %q", r.Kind)
	}
	return b.String(), nil
}

// confirmXML echoes the request's <confirm/>; attributes it did not carry
// stay absent.
func confirmXML(r xmpptest.Request) string {
	var b strings.Builder
	b.WriteString("<confirm xmlns='" + nsHTTPAuth + "'")
	for _, a := range [][2]string{{"id", r.ID}, {"method", r.Method}, {"url", r.URL}} {
		if a[1] != "" {
			fmt.Fprintf(&b, " %s='%s'", a[0], esc(a[1]))
		}
	}
	b.WriteString("/>")
	return b.String()
}

func threadXML(thread string) string {
	if thread == "" {
		return ""
	}
	return "<thread>" + esc(thread) + "</thread>"
}

// esc escapes s for an attribute value in single quotes or for text.
func esc(s string) string {
	var b strings.Builder
	// Writing to a strings.Builder cannot fail.
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// maxField keeps one long value (a URL with a huge query) from making the
// box wider than any terminal.
const maxField = 90

// requestBox draws r for the person at the terminal: who asks, how, for
// which page, and the code, large, to compare with the browser's.
func requestBox(r xmpptest.Request, to string) string {
	kind := r.Kind
	switch r.Kind {
	case "iq":
		kind = "iq, to this session only (" + to + ")"
	case "message":
		kind = "message, to every client of " + bareJID(to)
	}
	site := r.URL
	if u, err := url.Parse(r.URL); err == nil && u.Host != "" {
		site = u.Host
	}
	lines := []string{
		"Login request for " + bareJID(to),
		"",
		"from    " + printable(r.From) + "   (the gate's XMPP component)",
		"kind    " + printable(kind),
		"site    " + printable(site),
		"url     " + printable(r.URL),
		"method  " + printable(r.Method),
		"code    " + printable(r.ID),
		"",
	}
	if big := bigText(r.ID); big != nil {
		for _, l := range big {
			lines = append(lines, "  "+l)
		}
		lines = append(lines, "")
	}

	width := 0
	for _, l := range lines {
		width = max(width, utf8.RuneCountInString(l))
	}
	var b strings.Builder
	b.WriteString("\n┌" + strings.Repeat("─", width+2) + "┐\n")
	for _, l := range lines {
		b.WriteString("│ " + l + strings.Repeat(" ", width-utf8.RuneCountInString(l)) + " │\n")
	}
	b.WriteString("└" + strings.Repeat("─", width+2) + "┘\n")
	return b.String()
}

// printable makes a value from the network safe to print: control
// characters (which could move the cursor or change the terminal's
// state) become "?", and overlong values are cut.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > maxField {
		s = string([]rune(s)[:maxField-1]) + "…"
	}
	return s
}

func bareJID(j string) string {
	bare, _, _ := strings.Cut(j, "/")
	return bare
}
