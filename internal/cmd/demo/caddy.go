package main

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"

	"github.com/caddyserver/caddy/v2"

	// Caddy's standard modules (reverse_proxy, file_system storage, …)
	// and ours: the same set as the xcaddy-built binary.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/xepauth/caddy-xepauth/caddymodule"
)

// caddyConfig is the demo's Caddy JSON: the xmpp_auth app connected to
// the demo's Prosody, and one plain-HTTP site on listen that sends every
// request through the gate, then to the upstream.
//
// Maps rather than Caddy's structs, so the code reads like the JSON in the
// README.
func caddyConfig(listen, upstreamAddr, storageDir, componentAddr, componentDomain, secret, userDomain string) ([]byte, error) {
	type obj = map[string]any
	cfg := obj{
		// No admin endpoint: nothing else needs to talk to this Caddy,
		// and with persist off it writes no autosave.json into the
		// user's home either.
		"admin": obj{"disabled": true, "config": obj{"persist": false}},
		// Warnings only: Caddy's start-up chatter would push the
		// instructions and the login requests off the screen. The admin
		// logger only ever says that the endpoint is disabled.
		"logging": obj{"logs": obj{"default": obj{"level": "WARN", "exclude": []string{"admin"}}}},
		// The session key the gate generates lives here, in the demo's
		// temporary folder rather than in ~/.local/share/caddy.
		"storage": obj{"module": "file_system", "root": storageDir},
		"apps": obj{
			// The TLS app runs with every HTTP server, even without
			// certificates; its storage cleaner would write an instance
			// id into ~/.local/share/caddy for nothing.
			"tls": obj{"disable_storage_clean": true},
			"xmpp_auth": obj{
				"server": componentAddr,
				"domain": componentDomain,
				"secret": secret,
			},
			"http": obj{"servers": obj{"demo": obj{
				"listen":          []string{listen},
				"automatic_https": obj{"disable": true},
				// Plain HTTP: HTTP/2 and HTTP/3 need TLS, and
				// leaving them on only earns a warning for each.
				"protocols": []string{"h1"},
				"routes": []obj{{
					// The hosts the demo answers: a login is asked only
					// for a host the server names.
					"match": []obj{{"host": demoHosts(listen)}},
					"handle": []obj{
						{"handler": "xmpp_auth", "allow": []string{userDomain}, "site_name": "the xepauth demo"},
						{"handler": "reverse_proxy", "upstreams": []obj{{"dial": upstreamAddr}}},
					},
				}},
			}}},
		},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode the Caddy config: %w", err)
	}
	return b, nil
}

// demoHosts are the names a browser may reach the demo by: its listen
// address's host, and the loopback names.
func demoHosts(listen string) []string {
	hosts := []string{"127.0.0.1", "localhost", "::1"}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" && !slices.Contains(hosts, h) {
		hosts = append(hosts, h)
	}
	return hosts
}

// startCaddy runs Caddy in this process with the demo config.
func (d *demo) startCaddy() error {
	cfg, err := caddyConfig(d.listen, d.upstream.addr, filepath.Join(d.dir, "caddy"),
		d.prosody.ComponentAddr, d.prosody.ComponentDomain, d.prosody.ComponentSecret, d.prosody.Domain)
	if err != nil {
		return err
	}
	if err := caddy.Load(cfg, true); err != nil {
		// Caddy's error names the address; the usual cause is another
		// program (or another demo) on the port.
		return fmt.Errorf("start Caddy on %s (is the port in use? pick another with -listen): %w", d.listen, err)
	}
	// caddy.Stop is process-wide: it stops whatever config is running,
	// which here is always ours.
	d.onClose("stop Caddy", caddy.Stop)
	return nil
}
