package xmpptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoProsody is returned by StartProsody when the prosody or prosodyctl
// binary is not on PATH.
var ErrNoProsody = errors.New("xmpptest: prosody not found on PATH; the end-to-end tests need a real Prosody 0.12: install the Debian package with `apt-get install -y prosody` (or run go test -short to skip them)")

const (
	// startTimeout bounds how long StartProsody and Restart wait for both
	// ports to accept connections. Prosody usually needs ~200 ms.
	startTimeout = 15 * time.Second
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 5 * time.Second
	// defaultLogTail is how many log lines error messages carry.
	defaultLogTail = 30
)

// Config describes the Prosody instance to start. Zero fields get defaults;
// the filled-in values are available as Prosody.Config.
type Config struct {
	// Domain is the virtual host users live on. Default "localhost".
	Domain string
	// ComponentDomain is the XEP-0114 component the code under test
	// connects as. Default "auth.localhost".
	ComponentDomain string
	// ComponentSecret is ComponentDomain's shared secret. Default: random.
	ComponentSecret string
	// ExtraComponents maps further component domains to their secrets,
	// e.g. "evil.localhost" for tests where another component attacks.
	ExtraComponents map[string]string
	// Dir holds the configuration, data and log. Default: a new temporary
	// folder, removed by Close.
	Dir string
	// LogLevel is Prosody's minimum log level: "debug", "info" (default),
	// "warn" or "error".
	LogLevel string
}

// Prosody is a running (or stopped, restartable) Prosody server bound to
// 127.0.0.1. Its methods are safe for concurrent use.
type Prosody struct {
	// Config holds the filled-in configuration.
	Config
	// C2SAddr is the client-to-server listener, "127.0.0.1:port".
	C2SAddr string
	// ComponentAddr is the XEP-0114 listener, "127.0.0.1:port".
	ComponentAddr string

	prosodyBin    string
	prosodyctlBin string
	configPath    string
	logPath       string
	ownsDir       bool

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil when not running
	done chan struct{} // closed when cmd has been waited for
}

// StartProsody writes a configuration into cfg.Dir and starts prosody in the
// foreground (prosody -F). It returns once both ports accept TCP connections. The error
// wraps ErrNoProsody when prosody is not installed.
func StartProsody(ctx context.Context, cfg Config) (*Prosody, error) {
	prosodyBin, err := exec.LookPath("prosody")
	if err != nil {
		return nil, ErrNoProsody
	}
	prosodyctlBin, err := exec.LookPath("prosodyctl")
	if err != nil {
		return nil, ErrNoProsody
	}

	p := &Prosody{prosodyBin: prosodyBin, prosodyctlBin: prosodyctlBin}
	if err := p.fillConfig(cfg); err != nil {
		return nil, err
	}
	if err := p.writeConfig(); err != nil {
		p.removeOwnDir()
		return nil, err
	}
	if err := p.start(ctx); err != nil {
		p.removeOwnDir()
		return nil, err
	}
	return p, nil
}

// fillConfig applies defaults, creates the folders and picks the ports.
func (p *Prosody) fillConfig(cfg Config) error {
	if cfg.Domain == "" {
		cfg.Domain = "localhost"
	}
	if cfg.ComponentDomain == "" {
		cfg.ComponentDomain = "auth.localhost"
	}
	if cfg.ComponentSecret == "" {
		cfg.ComponentSecret = randomHex(16)
	}
	switch cfg.LogLevel {
	case "":
		cfg.LogLevel = "info"
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("xmpptest: unknown prosody log level %q", cfg.LogLevel)
	}
	// Copy the map so later changes by the caller cannot desynchronise
	// Config from the file prosody actually read.
	extra := make(map[string]string, len(cfg.ExtraComponents))
	for d, s := range cfg.ExtraComponents {
		if d == cfg.Domain || d == cfg.ComponentDomain {
			return fmt.Errorf("xmpptest: extra component %q clashes with another host", d)
		}
		extra[d] = s
	}
	cfg.ExtraComponents = extra

	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "xmpptest-prosody-")
		if err != nil {
			return fmt.Errorf("create prosody folder: %w", err)
		}
		cfg.Dir = dir
		p.ownsDir = true
	}
	for _, sub := range []string{"data", "certs"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, sub), 0o750); err != nil {
			p.Config = cfg
			p.removeOwnDir()
			return fmt.Errorf("create prosody folder: %w", err)
		}
	}
	p.Config = cfg

	ports, err := freePorts(2)
	if err != nil {
		p.removeOwnDir()
		return err
	}
	p.C2SAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	p.ComponentAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	p.configPath = filepath.Join(cfg.Dir, configFile)
	p.logPath = filepath.Join(cfg.Dir, logFile)
	return nil
}

func (p *Prosody) writeConfig() error {
	c2s, _ := strconv.Atoi(p.C2SAddr[strings.LastIndexByte(p.C2SAddr, ':')+1:])
	comp, _ := strconv.Atoi(p.ComponentAddr[strings.LastIndexByte(p.ComponentAddr, ':')+1:])
	if err := os.WriteFile(p.configPath, []byte(renderConfig(p.Config, c2s, comp)), 0o600); err != nil {
		return fmt.Errorf("write prosody config: %w", err)
	}
	return nil
}

// freePorts asks the kernel for n distinct free loopback ports. The
// listeners stay open until all are picked so the ports differ; there is a
// small window before prosody binds them, acceptable on a test machine.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on supported platforms (Go 1.24+)
	return hex.EncodeToString(b)
}

// start launches prosody and waits for both ports. The caller must not hold
// p.mu.
func (p *Prosody) start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done: // died on its own; start afresh
			p.cmd, p.done = nil, nil
		default:
			return errors.New("xmpptest: prosody is already running")
		}
	}

	// Prosody writes its own log to the same file; its stdout/stderr (Lua
	// tracebacks before logging is set up) land there too, so LogTail shows
	// everything in one place.
	logOut, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open prosody log: %w", err)
	}
	// Where this run's log starts: the file is shared across restarts.
	logStart, _ := logOut.Seek(0, io.SeekEnd)
	// Not CommandContext: the ctx bounds the start-up, not the server's life.
	// -F: foreground, so we own the process (0.12 deprecates the
	// daemonize config option in favour of this flag).
	cmd := exec.Command(p.prosodyBin, "-F", "--config", p.configPath)
	cmd.Dir = p.Dir
	cmd.Stdout = logOut
	cmd.Stderr = logOut
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logOut.Close()
		return fmt.Errorf("start prosody: %w", err)
	}
	// The child has its own copy of the descriptor.
	logOut.Close()

	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status is uninteresting; LogTail tells why
		close(done)
	}()
	p.cmd, p.done = cmd, done

	if err := p.waitReady(ctx, done, logStart); err != nil {
		p.killLocked()
		return fmt.Errorf("start prosody: %w\n--- prosody log ---\n%s", err, p.LogTail(defaultLogTail))
	}
	return nil
}

// Register creates (or overwrites the password of) local@Domain with
// prosodyctl. It works whether or not the server is running, because the
// internal storage re-reads the account file on each login.
func (p *Prosody) Register(ctx context.Context, local, password string) error {
	cmd := exec.CommandContext(ctx, p.prosodyctlBin, "--config", p.configPath, "register", local, p.Domain, password)
	cmd.Dir = p.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("register %s@%s: %w: %s", local, p.Domain, err, bytes.TrimSpace(out))
	}
	return nil
}

// Stop sends SIGTERM so prosody closes its streams cleanly (clients get a
// system-shutdown stream error), and waits for it to exit, which takes
// prosody 0.12 about a second. After stopGrace it falls back to SIGKILL. Stopping a stopped
// server is a no-op.
func (p *Prosody) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	// SIGCONT too, in case the server is paused: a stopped process would
	// only act on SIGTERM once resumed.
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	select {
	case <-p.done:
		p.cmd, p.done = nil, nil
		return nil
	case <-time.After(stopGrace):
	}
	p.killLocked()
	return fmt.Errorf("stop prosody: no exit %s after SIGTERM, killed", stopGrace)
}

// Kill sends SIGKILL, as in a crash, and waits for the process to exit.
// Clients see their TCP connections reset or closed without a stream end.
func (p *Prosody) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killLocked()
	return nil
}

func (p *Prosody) killLocked() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd, p.done = nil, nil
}

// Restart starts prosody again after Stop or Kill, with the same ports,
// configuration and data, so registered accounts survive.
func (p *Prosody) Restart(ctx context.Context) error {
	return p.start(ctx)
}

// Pause freezes the server with SIGSTOP: connections stay open but nothing
// is answered, like a server stuck under load.
func (p *Prosody) Pause() error { return p.signal(syscall.SIGSTOP, "pause") }

// Resume undoes Pause with SIGCONT.
func (p *Prosody) Resume() error { return p.signal(syscall.SIGCONT, "resume") }

func (p *Prosody) signal(sig syscall.Signal, what string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return fmt.Errorf("%s prosody: not running", what)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s prosody: %w", what, err)
	}
	return nil
}

// Running reports whether the server process is alive (possibly paused).
func (p *Prosody) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Close stops the server and deletes Dir if StartProsody created it.
func (p *Prosody) Close() error {
	err := p.Stop()
	p.removeOwnDir()
	return err
}

func (p *Prosody) removeOwnDir() {
	if p.ownsDir && p.Dir != "" {
		_ = os.RemoveAll(p.Dir)
	}
}

// LogTail returns the last n lines of prosody's log (with its stdout and
// stderr), for error messages.
func (p *Prosody) LogTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no prosody log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if n >= 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
