package binarytest

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestListModules(t *testing.T) {
	t.Parallel()
	stdout, _ := runCaddy(t, "list-modules")
	have := map[string]bool{}
	for _, line := range strings.Split(stdout, "\n") {
		have[strings.TrimSpace(line)] = true
	}
	for _, id := range []string{"xmpp_auth", "http.handlers.xmpp_auth"} {
		if !have[id] {
			t.Errorf("caddy list-modules does not list %s:\n%s", id, stdout)
		}
	}
}

// TestAdaptCaddyfileExample checks the shipped example through the
// binary's own adapter against its JSON twin.
func TestAdaptCaddyfileExample(t *testing.T) {
	t.Parallel()
	stdout, _ := runCaddy(t, "adapt", "--config", "../../Caddyfile.example", "--adapter", "caddyfile")
	want, err := os.ReadFile("../../caddymodule/testdata/Caddyfile.example.json")
	if err != nil {
		t.Fatal(err)
	}
	var gotV, wantV any
	if err := json.Unmarshal([]byte(stdout), &gotV); err != nil {
		t.Fatalf("caddy adapt printed no JSON: %v\n%s", err, stdout)
	}
	if err := json.Unmarshal(want, &wantV); err != nil {
		t.Fatalf("Caddyfile.example.json: %v", err)
	}
	if !reflect.DeepEqual(gotV, wantV) {
		pretty, _ := json.MarshalIndent(gotV, "", "\t")
		t.Errorf("caddy adapt of Caddyfile.example differs from caddymodule/testdata/Caddyfile.example.json; adapt gave:\n%s", pretty)
	}
}

// TestValidateNeverDials: a config whose XMPP server is down still
// validates, because provisioning never connects.
func TestValidateNeverDials(t *testing.T) {
	t.Parallel()

	t.Run("nobody listens", func(t *testing.T) {
		t.Parallel()
		validate(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	})

	t.Run("listener sees no connection", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var dialled atomic.Int32
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				dialled.Add(1)
				c.Close()
			}
		}()
		validate(t, l.Addr().String())
		time.Sleep(100 * time.Millisecond) // let a late connection show up
		if n := dialled.Load(); n != 0 {
			t.Errorf("caddy validate connected to the XMPP server %d time(s); provisioning must never dial", n)
		}
	})
}

func validate(t *testing.T, server string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	conf := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	storage file_system %s
	xmpp_auth {
		server %s
		domain auth.localhost
		secret not-so-secret
	}
}

http://127.0.0.1:%d {
	bind 127.0.0.1
	xmpp_auth
	respond "hello"
}
`, freePort(t), filepath.Join(dir, "storage"), server, freePort(t))
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stdout, stderr := runCaddy(t, "validate", "--config", path, "--adapter", "caddyfile")
	if !strings.Contains(stdout, "Valid configuration") {
		t.Errorf("caddy validate did not say \"Valid configuration\":\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	t.Logf("caddy validate (XMPP server %s) took %s", server, time.Since(start).Round(time.Millisecond))
}
