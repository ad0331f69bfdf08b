package xmpptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind names an XMPP server implementation the harness can run.
type Kind string

const (
	// KindProsody is Prosody 0.12 (Debian package prosody).
	KindProsody Kind = "prosody"
	// KindEjabberd is ejabberd 23.01 (Debian package ejabberd).
	KindEjabberd Kind = "ejabberd"
)

// EnvServer names the environment variable NewServer reads to choose the
// server: "prosody" (the default when unset or empty) or "ejabberd".
const EnvServer = "XEPAUTH_XMPP_SERVER"

// ParseKind returns the Kind called s.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case KindProsody, KindEjabberd:
		return k, nil
	default:
		return "", fmt.Errorf("xmpptest: unknown XMPP server %q: want %q or %q", s, KindProsody, KindEjabberd)
	}
}

// KindFromEnv returns the kind named by $XEPAUTH_XMPP_SERVER, KindProsody
// when it is unset or empty. Tests use it to know which server's quirks to
// expect.
func KindFromEnv() (Kind, error) {
	v := os.Getenv(EnvServer)
	if v == "" {
		return KindProsody, nil
	}
	k, err := ParseKind(v)
	if err != nil {
		return "", fmt.Errorf("%s=%s: %w", EnvServer, v, err)
	}
	return k, nil
}

const (
	// startTimeout bounds how long StartServer and Restart wait for the
	// ports to answer. Prosody usually needs ~200 ms, ejabberd ~1.5 s.
	startTimeout = 15 * time.Second
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 5 * time.Second
	// defaultLogTail is how many log lines error messages carry.
	defaultLogTail = 30
)

// Config describes the server to start. Zero fields get defaults; the
// filled-in values are available as Server.Config.
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
	// LogLevel is the server's minimum log level: "debug", "info"
	// (default), "warn" or "error".
	LogLevel string
	// DisableSASLMechanisms lists SASL mechanisms, spelled as the servers
	// spell them (e.g. "PLAIN", "X-OAUTH2"), that the server neither
	// offers nor accepts: both servers' disable_sasl_mechanisms option,
	// which Prosody 0.12 compares case-sensitively. Default: none, so PLAIN
	// stays available to ConnectRaw.
	//
	// ejabberd 23.01 lets a PLAIN, DIGEST-MD5 or X-OAUTH2 login act as any
	// account of the host named in the authorization identity; disabling
	// all three is the configuration that stops it (see
	// TestEjabberdWithTheDisabledMechanismsOffersOnlySCRAMWhateverThePasswordStorage).
	DisableSASLMechanisms []string
	// PlainPasswords stores passwords in plain text instead of as SCRAM
	// hashes (ejabberd's auth_password_format: plain, its own default;
	// Prosody's internal_plain). ejabberd then offers DIGEST-MD5 too.
	PlainPasswords bool
}

// Server is a running (or stopped, restartable) XMPP server bound to
// 127.0.0.1. Its methods are safe for concurrent use.
type Server struct {
	// Config holds the filled-in configuration.
	Config
	// Kind is the server implementation.
	Kind Kind
	// C2SAddr is the client-to-server listener, "127.0.0.1:port".
	C2SAddr string
	// ComponentAddr is the XEP-0114 listener, "127.0.0.1:port".
	ComponentAddr string

	impl    serverImpl
	ownsDir bool

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil when not running
	done chan struct{} // closed when cmd has been waited for
}

// serverImpl is what differs between server implementations. The Server
// owns the process; an implementation only says how to configure, launch
// and talk to it.
type serverImpl interface {
	// ports is how many loopback ports the implementation needs beyond
	// the c2s and component ones.
	ports() int
	// prepare creates the implementation's files in s.Dir. s.Config,
	// C2SAddr and ComponentAddr are filled in; extra holds ports() more
	// free ports.
	prepare(s *Server, extra []int) error
	// command returns the command that runs the server in the foreground
	// with s.Dir as its working directory. Its stdout and stderr go to
	// logPath.
	command(s *Server) *exec.Cmd
	// logPath is the file the server logs to; LogTail reads it.
	logPath() string
	// portFailure reports whether a log line says a listening port could
	// not be opened.
	portFailure(line string) bool
	// ready returns nil once whatever the implementation needs beyond
	// the c2s and component ports is up (nil when there is nothing).
	// logSince returns what the server has logged in this run.
	ready(ctx context.Context, logSince func() string) error
	// register creates local@s.Domain or sets its password.
	register(ctx context.Context, s *Server, local, password string) error
}

// StartServer writes a configuration for kind into cfg.Dir and starts the
// server in the foreground. It returns once the ports answer. The error
// wraps ErrNoProsody or ErrNoEjabberd when the server is not installed.
func StartServer(ctx context.Context, kind Kind, cfg Config) (*Server, error) {
	var impl serverImpl
	var err error
	switch kind {
	case KindProsody:
		impl, err = newProsody()
	case KindEjabberd:
		impl, err = newEjabberd()
	default:
		_, err = ParseKind(string(kind))
	}
	if err != nil {
		return nil, err
	}

	s := &Server{Kind: kind, impl: impl}
	extra, err := s.fillConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := impl.prepare(s, extra); err != nil {
		s.removeOwnDir()
		return nil, fmt.Errorf("prepare %s: %w", kind, err)
	}
	if err := s.start(ctx); err != nil {
		s.removeOwnDir()
		return nil, err
	}
	return s, nil
}

// fillConfig applies defaults, creates Dir and picks the ports: the two
// XMPP ones go into s, the implementation's further ones are returned.
func (s *Server) fillConfig(cfg Config) ([]int, error) {
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
		return nil, fmt.Errorf("xmpptest: unknown log level %q", cfg.LogLevel)
	}
	if cfg.Domain == cfg.ComponentDomain {
		return nil, fmt.Errorf("xmpptest: component domain %q is also the user domain", cfg.Domain)
	}
	// Copy the map so later changes by the caller cannot desynchronise
	// Config from the file the server actually read.
	extra := make(map[string]string, len(cfg.ExtraComponents))
	for d, sec := range cfg.ExtraComponents {
		if d == cfg.Domain || d == cfg.ComponentDomain {
			return nil, fmt.Errorf("xmpptest: extra component %q clashes with another host", d)
		}
		extra[d] = sec
	}
	cfg.ExtraComponents = extra
	cfg.DisableSASLMechanisms = append([]string(nil), cfg.DisableSASLMechanisms...)

	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "xmpptest-"+string(s.Kind)+"-")
		if err != nil {
			return nil, fmt.Errorf("create %s folder: %w", s.Kind, err)
		}
		cfg.Dir = dir
		s.ownsDir = true
	} else if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create %s folder: %w", s.Kind, err)
	}
	s.Config = cfg

	// All at once, so that they differ.
	ports, err := freePorts(2 + s.impl.ports())
	if err != nil {
		s.removeOwnDir()
		return nil, err
	}
	s.C2SAddr = loopbackAddr(ports[0])
	s.ComponentAddr = loopbackAddr(ports[1])
	return ports[2:], nil
}

func loopbackAddr(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// portOf returns the port of a "127.0.0.1:port" address made by
// loopbackAddr.
func portOf(addr string) int {
	p, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	return p
}

// freePorts asks the kernel for n distinct free loopback ports. The
// listeners stay open until all are picked so the ports differ; there is a
// small window before the server binds them, acceptable on a test machine.
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

// start launches the server and waits until it answers. The caller must
// not hold s.mu.
func (s *Server) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		select {
		case <-s.done: // died on its own; start afresh
			s.cmd, s.done = nil, nil
		default:
			return fmt.Errorf("xmpptest: %s is already running", s.Kind)
		}
	}

	// The server's stdout and stderr (tracebacks and crashes from before its
	// logging is set up) go to the file it logs to, so LogTail shows
	// everything in one place.
	logOut, err := os.OpenFile(s.impl.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open %s log: %w", s.Kind, err)
	}
	// Where this run's log starts: the file is shared across restarts.
	logStart, _ := logOut.Seek(0, io.SeekEnd)
	// Not CommandContext: the ctx bounds the start-up, not the server's life.
	cmd := s.impl.command(s)
	cmd.Dir = s.Dir
	cmd.Stdout = logOut
	cmd.Stderr = logOut
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logOut.Close()
		return fmt.Errorf("start %s: %w", s.Kind, err)
	}
	// The child has its own copy of the descriptor.
	logOut.Close()

	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status is uninteresting; LogTail tells why
		close(done)
	}()
	s.cmd, s.done = cmd, done

	if err := s.waitReady(ctx, done, logStart); err != nil {
		s.killLocked()
		return fmt.Errorf("start %s: %w\n--- %s log ---\n%s", s.Kind, err, s.Kind, s.LogTail(defaultLogTail))
	}
	return nil
}

// Register creates local@Domain, or sets its password if it exists.
//
// With Prosody it works whether or not the server is running, because the
// internal storage re-reads the account file on each login. ejabberd
// creates accounts through its HTTP API, so there Register needs the server
// running; accounts then survive Stop, Kill and Restart like Prosody's.
func (s *Server) Register(ctx context.Context, local, password string) error {
	if err := s.impl.register(ctx, s, local, password); err != nil {
		return fmt.Errorf("register %s@%s on %s: %w", local, s.Domain, s.Kind, err)
	}
	return nil
}

// Stop sends SIGTERM, the service manager's way of stopping a server, and
// waits for it to exit, which takes either server about a second. Prosody
// closes its streams cleanly (clients get a system-shutdown stream error);
// ejabberd 23.01 just closes the connections. After stopGrace Stop falls
// back to SIGKILL. Stopping a stopped server is a no-op.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	if s.exitedLocked() {
		s.cmd, s.done = nil, nil
		return nil
	}
	helpers := descendants(s.cmd.Process.Pid)
	// SIGCONT too, in case the server is paused: a stopped process would
	// only act on SIGTERM once resumed.
	_ = signalGroup(s.cmd.Process, syscall.SIGTERM)
	_ = signalGroup(s.cmd.Process, syscall.SIGCONT)
	select {
	case <-s.done:
		s.cmd, s.done = nil, nil
		// Helpers (ejabberd's port programs) quit once the server is
		// gone; make sure of it, so nothing outlives Stop.
		reap(helpers)
		return nil
	case <-time.After(stopGrace):
	}
	s.killLocked()
	return fmt.Errorf("stop %s: no exit %s after SIGTERM, killed", s.Kind, stopGrace)
}

// Kill sends SIGKILL, as in a crash, to the server and every process it
// started, and waits for them to exit. Clients see their TCP connections
// reset or closed without a stream end.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
	return nil
}

func (s *Server) killLocked() {
	if s.cmd == nil {
		return
	}
	if s.exitedLocked() {
		s.cmd, s.done = nil, nil
		return
	}
	// Listed before the kill: afterwards the helpers are orphans and can no
	// longer be found through their parent.
	helpers := descendants(s.cmd.Process.Pid)
	_ = signalGroup(s.cmd.Process, syscall.SIGKILL)
	<-s.done
	s.cmd, s.done = nil, nil
	reap(helpers)
}

// Restart starts the server again after Stop or Kill, with the same ports,
// configuration and data, so registered accounts survive.
func (s *Server) Restart(ctx context.Context) error {
	return s.start(ctx)
}

// Pause freezes the server with SIGSTOP: connections stay open but nothing
// is answered, like a server stuck under load. The signal goes to the
// server's whole process group, and Pause returns once the server has
// stopped.
func (s *Server) Pause() error {
	if err := s.signal(syscall.SIGSTOP, "pause"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		waitStopped(s.cmd.Process.Pid)
	}
	return nil
}

// Resume undoes Pause with SIGCONT.
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT, "resume") }

func (s *Server) signal(sig syscall.Signal, what string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.exitedLocked() {
		return fmt.Errorf("%s %s: %w", what, s.Kind, errNotRunning)
	}
	if err := signalGroup(s.cmd.Process, sig); err != nil {
		return fmt.Errorf("%s %s: %w", what, s.Kind, err)
	}
	return nil
}

// Running reports whether the server process is alive (possibly paused).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil && !s.exitedLocked()
}

// Close stops the server and deletes Dir if StartServer created it.
func (s *Server) Close() error {
	err := s.Stop()
	s.removeOwnDir()
	return err
}

func (s *Server) removeOwnDir() {
	if s.ownsDir && s.Dir != "" {
		_ = os.RemoveAll(s.Dir)
	}
}

// LogTail returns the last n lines of the server's log (with its stdout
// and stderr), for error messages.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.impl.logPath())
	if err != nil {
		return fmt.Sprintf("(no %s log: %v)", s.Kind, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if n >= 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// errNotRunning is returned by operations that need a live server.
var errNotRunning = errors.New("server not running")

// exitedLocked reports whether the process has already been waited for;
// its pid, and so its process group id, may then belong to someone else.
func (s *Server) exitedLocked() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// signalGroup sends sig to the process group p leads (see sysProcAttr),
// or to p alone if that fails.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		if perr := p.Signal(sig); perr != nil {
			return fmt.Errorf("signal process group %d: %w", p.Pid, err)
		}
	}
	return nil
}
