// Package internal holds what xepauth's packages share and users must not import.
package internal

// Keep the pinned versions in go.mod while the packages that use them are written.
import (
	_ "github.com/caddyserver/caddy/v2"
	_ "mellium.im/xmpp"
)
