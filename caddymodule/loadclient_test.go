//go:build bench

package caddymodule_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// loadBrowser is the load generator's browser for the bench's
// concurrent-logins figure (docs/performance.md): one kept-alive HTTP/1.1
// connection and a cookie jar of one site, with requests written
// and answers read directly. It sends what a browser sends for the login
// (cookies, Origin, the form), but without net/http's client machinery (a
// transport, two goroutines and channel hand-offs per connection), which
// on a 2-core machine shared with the server under test cost a quarter of
// the CPU of a login and so measured the load generator more than the gate.
type loadBrowser struct {
	host    string
	conn    net.Conn
	r       *bufio.Reader
	cookies map[string]string
	buf     bytes.Buffer // the request being written
	body    bytes.Buffer // the last answer's body, valid until the next do
}

func dialLoadBrowser(addr string) (*loadBrowser, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &loadBrowser{host: addr, conn: c, r: bufio.NewReader(c), cookies: map[string]string{}}, nil
}

func (b *loadBrowser) close() { b.conn.Close() }

// do sends one request (a form body when form is not empty) and returns
// the answer with its body read (valid until the next do); Set-Cookie
// headers update the jar.
func (b *loadBrowser) do(method, path, form string) (*http.Response, []byte, error) {
	b.buf.Reset()
	fmt.Fprintf(&b.buf, "%s %s HTTP/1.1\r\nHost: %s\r\nAccept: text/html,application/xhtml+xml,*/*;q=0.8\r\n", method, path, b.host)
	if len(b.cookies) > 0 {
		b.buf.WriteString("Cookie: ")
		first := true
		for k, v := range b.cookies {
			if !first {
				b.buf.WriteString("; ")
			}
			first = false
			b.buf.WriteString(k + "=" + v)
		}
		b.buf.WriteString("\r\n")
	}
	if form != "" {
		b.buf.WriteString("Content-Type: application/x-www-form-urlencoded\r\nOrigin: http://" + b.host +
			"\r\nContent-Length: " + strconv.Itoa(len(form)) + "\r\n")
	}
	b.buf.WriteString("\r\n")
	b.buf.WriteString(form)
	if _, err := b.conn.Write(b.buf.Bytes()); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(b.r, nil)
	if err != nil {
		return nil, nil, err
	}
	b.body.Reset()
	_, err = b.body.ReadFrom(resp.Body)
	resp.Body.Close()
	body := b.body.Bytes()
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return resp, body, err
}
