package xepauth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"encoding/xml"
	"go.uber.org/zap"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// Ask sends req to its JID and waits for the answer, until ctx ends
// (Timeout) or the connection drops (Unreachable, at once). It never
// returns an error: a request that cannot be sent is an outcome too.
//
// The context only bounds the wait; the writes have their own deadline,
// so a visitor who goes away cannot break the shared connection.
func (c *Component) Ask(ctx context.Context, req Request) Outcome {
	if err := validate(req); err != nil {
		return Outcome{Result: Unreachable, Detail: err.Error()}
	}
	cn := c.cur.Load()
	if cn == nil {
		detail := "not connected to the XMPP server"
		if err := c.Err(); err != nil {
			detail += ": " + err.Error()
		}
		return Outcome{Result: Unreachable, Detail: detail}
	}
	a := newAsk(req)
	if !cn.table.add(a) {
		return Outcome{Result: Unreachable, Detail: "connection to the XMPP server lost"}
	}
	defer cn.table.remove(a)

	// Sends run beside the wait, so the ask ends on time even when the
	// output is stuck behind a blocked write (which itself fails after
	// writeTimeout and takes the connection down).
	sent := make(chan error, 2) // the first send and the fallback: never blocks
	if !a.full.Equal(jid.JID{}) {
		go func() { sent <- cn.sendIQ(a) }()
	} else {
		go func() { sent <- cn.sendMessage(a) }()
	}
	for {
		select {
		case err := <-sent:
			if err != nil {
				return Outcome{Result: Unreachable, Detail: err.Error()}
			}
		case ev := <-a.events:
			if !ev.fallback {
				c.logOutcome(req, ev.outcome)
				return ev.outcome
			}
			c.log.Debug("client does not answer XEP-0070 iqs; asking the bare JID by message",
				zap.Stringer("jid", req.JID), zap.String("condition", ev.outcome.Detail))
			go func() { sent <- cn.sendMessage(a) }()
		case <-ctx.Done():
			o := Outcome{Result: Timeout, Detail: context.Cause(ctx).Error()}
			c.logOutcome(req, o)
			return o
		case <-cn.done:
			// closeAll has queued the outcome; take it if it is there.
			select {
			case ev := <-a.events:
				if !ev.fallback {
					return ev.outcome
				}
			default:
			}
			return Outcome{Result: Unreachable, Detail: "connection to the XMPP server lost"}
		}
	}
}

func (c *Component) logOutcome(req Request, o Outcome) {
	c.log.Debug("confirmation answered",
		zap.Stringer("jid", req.JID), zap.Stringer("result", o.Result),
		zap.String("via", o.Via), zap.String("detail", o.Detail))
}

func validate(req Request) error {
	var errs []error
	if req.JID.Equal(jid.JID{}) {
		errs = append(errs, errors.New("no JID to ask"))
	}
	if err := (Confirm{ID: req.Code, Method: req.Method, URL: req.URL}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := ValidCode(req.Code); err != nil {
		errs = append(errs, err)
	}
	if req.Messages != nil && req.Code != "" && !strings.Contains(req.Messages.Body(req), req.Code) {
		errs = append(errs, fmt.Errorf("the message text for language %q does not carry the code", req.Language))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid request: %w", err)
	}
	return nil
}

// sendIQ asks a full JID: XEP-0070 §4.5, iq of type get.
func (c *conn) sendIQ(a *ask) error {
	id := newID()
	c.table.useIQ(a, id)
	iq := stanza.IQ{ID: id, To: a.full, From: c.domain, Type: stanza.GetIQ}
	return c.send(iq.Wrap(a.confirm().TokenReader()))
}

// sendMessage asks the bare JID: a normal message with a thread, a body a
// person can read and answer, and the <confirm/>. Every part is there
// because some client needs it: Salut à Toi handles only type='normal'; the
// Converse.js XEP-0070 plugin fails on a message without a <thread/>; aTalk
// ignores a sender other than the component's bare domain and shows only
// the body when there is one, so the body carries the URL, the method and
// the code.
func (c *conn) sendMessage(a *ask) error {
	id, thread := newID(), newID()
	c.table.useMessage(a, id, thread)
	msg := stanza.Message{ID: id, To: a.bare, From: c.domain, Type: stanza.NormalMessage, Lang: a.req.Language}
	return c.send(msg.Wrap(xmlstream.MultiReader(
		text("thread", thread),
		text("body", a.req.Messages.Body(a.req)),
		a.confirm().TokenReader(),
	)))
}

func (a *ask) confirm() Confirm {
	return Confirm{ID: a.req.Code, Method: a.req.Method, URL: a.req.URL}
}

// text is an element with character data only.
func text(local, s string) xml.TokenReader {
	return xmlstream.Wrap(xmlstream.Token(xml.CharData(s)), xml.StartElement{Name: xml.Name{Local: local}})
}
