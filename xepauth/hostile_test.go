package xepauth

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// Stanzas a user or a remote server can get routed to the component, sent
// straight down the component's connection: the session must survive each
// of them and answer the next request.
func TestHostileShapesDoNotEndTheSession(t *testing.T) {
	deep := 20000
	hostile := []struct{ name, stanza string }{
		{"1 MB body", `<message from='m@localhost/r' to='auth.localhost' type='chat'><body>` + strings.Repeat("A", 1<<20) + `</body></message>`},
		{"deeply nested", `<message from='m@localhost/r' to='auth.localhost'>` + strings.Repeat("<x>", deep) + strings.Repeat("</x>", deep) + `</message>`},
		{"deeply nested confirm", `<message from='m@localhost/r' to='auth.localhost'><confirm xmlns='http://jabber.org/protocol/http-auth' id='ABCDEF' method='GET' url='https://s/'>` + strings.Repeat("<x>", deep) + strings.Repeat("</x>", deep) + `</confirm></message>`},
		{"unknown namespaces", `<message from='m@localhost/r' to='auth.localhost' xmlns:a='urn:a'><a:thing><b xmlns='urn:b'/></a:thing></message>`},
		{"many attributes", `<message from='m@localhost/r' to='auth.localhost'` + func() string {
			var b strings.Builder
			for i := range 10000 {
				fmt.Fprintf(&b, " a%d='x'", i)
			}
			return b.String()
		}() + `/>`},
		{"unparseable address", `<iq type='result' id='x' from='☃@localhost' to='auth.localhost'/>`},
	}
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			answered := make(chan string, 1)
			addr, n := fakeServer(t, false, func(c net.Conn, r *bufio.Reader) {
				fmt.Fprint(c, h.stanza)
				fmt.Fprint(c, `<iq type='get' id='after' from='m@localhost/r' to='auth.localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
				var got strings.Builder
				if readPastInto(r, "</iq>", &got) {
					answered <- got.String()
				}
				idle(c, r)
			})
			c := newTestComponent(t, Config{Server: addr, KeepAlive: -1})
			c.Start()
			defer c.Close()
			select {
			case got := <-answered:
				if !strings.Contains(got, `id="after"`) || !strings.Contains(got, `type="result"`) {
					t.Errorf("the next request got %q", got)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the session did not answer the request that followed")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.WaitConnected(ctx); err != nil || n.Load() != 1 {
				t.Errorf("the session ended: %d connections, connected %v (%v)", n.Load(), c.Connected(), c.Err())
			}
		})
	}
}
