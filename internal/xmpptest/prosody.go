package xmpptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoProsody is returned by StartServer for KindProsody when the prosody
// or prosodyctl binary is not on PATH.
var ErrNoProsody = errors.New("xmpptest: prosody not found on PATH; the end-to-end tests need a real Prosody 0.12: install the Debian package with `apt-get install -y prosody` (or run go test -short to skip them)")

// prosody runs Prosody 0.12 in the foreground (prosody -F) with a
// generated prosody.cfg.lua.
type prosody struct {
	prosodyBin    string
	prosodyctlBin string
	configPath    string
	log           string
}

func newProsody() (*prosody, error) {
	prosodyBin, err := exec.LookPath("prosody")
	if err != nil {
		return nil, ErrNoProsody
	}
	prosodyctlBin, err := exec.LookPath("prosodyctl")
	if err != nil {
		return nil, ErrNoProsody
	}
	return &prosody{prosodyBin: prosodyBin, prosodyctlBin: prosodyctlBin}, nil
}

func (p *prosody) ports() int { return 0 }

func (p *prosody) prepare(s *Server, _ []int) error {
	for _, sub := range []string{"data", "certs"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, sub), 0o750); err != nil {
			return fmt.Errorf("create prosody folder: %w", err)
		}
	}
	p.configPath = filepath.Join(s.Dir, prosodyConfigFile)
	p.log = filepath.Join(s.Dir, prosodyLogFile)
	cfg := renderProsodyConfig(s.Config, portOf(s.C2SAddr), portOf(s.ComponentAddr))
	if err := os.WriteFile(p.configPath, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write prosody config: %w", err)
	}
	return nil
}

// command runs prosody in the foreground, so we own the process (0.12
// deprecates the daemonize config option in favour of -F).
func (p *prosody) command(*Server) *exec.Cmd {
	return exec.Command(p.prosodyBin, "-F", "--config", p.configPath)
}

func (p *prosody) logPath() string { return p.log }

// portFailure matches the error prosody logs when it cannot bind a port;
// it then keeps running without that port.
func (p *prosody) portFailure(line string) bool {
	return strings.Contains(line, "Failed to open server port")
}

func (p *prosody) ready(context.Context, func() string) error { return nil }

// register runs prosodyctl, which writes the account file directly.
func (p *prosody) register(ctx context.Context, s *Server, local, password string) error {
	cmd := exec.CommandContext(ctx, p.prosodyctlBin, "--config", p.configPath, "register", local, s.Domain, password)
	cmd.Dir = s.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("prosodyctl: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
