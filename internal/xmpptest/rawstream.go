package xmpptest

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// rawStream is the part RawComponent and RawClient share once their
// stream is set up: bytes go out exactly as given, and every top-level
// element that comes in is handed to next exactly as the server sent it.
type rawStream struct {
	conn net.Conn
	who  string // for errors: "component auth.localhost", "client alice@localhost/r"
	wmu  sync.Mutex

	elems    chan string   // raw received top-level elements
	done     chan struct{} // closed when the reader goroutine ends
	readErr  error         // written before done is closed
	stop     chan struct{} // closed by close, unblocks the reader
	once     sync.Once
	closeErr error
}

// newRawStream returns a stream over conn whose queue already holds
// early, the elements read while the stream was being set up.
func newRawStream(conn net.Conn, who string, early []string) *rawStream {
	s := &rawStream{
		conn:  conn,
		who:   who,
		elems: make(chan string, rawQueue+len(early)),
		done:  make(chan struct{}),
		stop:  make(chan struct{}),
	}
	for _, e := range early {
		s.elems <- e
	}
	return s
}

// read hands every received top-level element, as the exact bytes the
// server sent, to next until the stream ends or close is called.
func (s *rawStream) read(d *xml.Decoder, rec *recorder) {
	defer close(s.done)
	defer close(s.elems)
	for {
		raw, name, end, err := readElement(d, rec)
		if err != nil {
			s.readErr = err
			return
		}
		if end {
			s.readErr = io.EOF
			return
		}
		if raw == "" {
			continue
		}
		if name.Space == nsStream && name.Local == "error" {
			s.readErr = fmt.Errorf("server sent %s", raw)
		}
		select {
		case s.elems <- raw:
		case <-s.stop:
			return
		}
	}
}

// readElement reads the next top-level element and returns it verbatim,
// with its name. It returns "" for what lies between elements (whitespace
// keepalives) and end=true at the stream's end tag.
func readElement(d *xml.Decoder, rec *recorder) (raw string, name xml.Name, end bool, err error) {
	begin := d.InputOffset()
	tok, err := d.Token()
	if err != nil {
		return "", xml.Name{}, false, err
	}
	switch t := tok.(type) {
	case xml.StartElement:
		if err := d.Skip(); err != nil {
			return "", xml.Name{}, false, err
		}
		return string(bytes.TrimSpace(rec.take(begin, d.InputOffset()))), t.Name, false, nil
	case xml.EndElement: // </stream:stream>
		return "", xml.Name{}, true, nil
	default:
		rec.take(begin, d.InputOffset())
		return "", xml.Name{}, false, nil
	}
}

func (s *rawStream) next(ctx context.Context) (string, error) {
	select {
	case e, ok := <-s.elems:
		if !ok {
			return "", fmt.Errorf("next from %s: %w", s.who, s.readErr)
		}
		return e, nil
	case <-ctx.Done():
		return "", fmt.Errorf("next from %s: %w", s.who, ctx.Err())
	}
}

func (s *rawStream) send(raw string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := io.WriteString(s.conn, raw); err != nil {
		return fmt.Errorf("send as %s: %w", s.who, err)
	}
	return nil
}

func (s *rawStream) close() error {
	s.once.Do(func() {
		close(s.stop)
		s.wmu.Lock()
		_ = s.conn.SetWriteDeadline(time.Now().Add(closeTimeout))
		_, _ = io.WriteString(s.conn, "</stream:stream>")
		s.wmu.Unlock()
		if err := s.conn.Close(); err != nil {
			s.closeErr = fmt.Errorf("close %s: %w", s.who, err)
		}
		<-s.done
	})
	return s.closeErr
}
