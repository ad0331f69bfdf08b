// Command caddy is Caddy with Caddy's standard modules and xepauth, the
// same binary xcaddy builds from xcaddy.json. `go build ./internal/cmd/caddy`
// is the quick way to it while developing; it also keeps everything xcaddy
// needs in the module cache.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/xepauth/caddy-xepauth/caddymodule"
)

func main() {
	caddycmd.Main()
}
