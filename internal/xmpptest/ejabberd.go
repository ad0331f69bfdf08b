package xmpptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// ErrNoEjabberd is returned by StartServer for KindEjabberd when ejabberd
// (its ejabberdctl script, the Erlang runtime or its code) is not
// installed.
var ErrNoEjabberd = errors.New("xmpptest: ejabberd not found; the end-to-end tests with " + EnvServer + "=ejabberd need a real ejabberd 23.01: install the Debian package with `apt-get install -y ejabberd` (or run go test -short to skip them)")

// ejabberdctlPaths are tried when ejabberdctl is not on PATH: Debian puts
// it in /usr/sbin, which a normal user's PATH lacks.
var ejabberdctlPaths = []string{"/usr/sbin/ejabberdctl", "/usr/local/sbin/ejabberdctl"}

// ejabberd runs ejabberd 23.01 by starting the Erlang VM directly, as
// `ejabberdctl foreground` would, rather than through ejabberdctl:
//
//   - as root, ejabberdctl insists on switching to the ejabberd user
//     (`su ejabberd`), who can neither read a root-owned temporary folder
//     nor be relied upon to exist elsewhere; the VM itself runs fine as
//     root, which is how CI runs the tests.
//   - the VM runs without Erlang distribution (node nonode@nohost): no
//     node name, cookie, epmd or distribution port, so any number of
//     instances can run side by side, and none can reach the system's own
//     ejabberd. Mnesia keys its files by node name, which is therefore the
//     same on every start, so accounts survive Restart.
//   - the process we start is the VM itself (the erl script execs it), so
//     signals reach the server, not a shell wrapped around it.
//
// The price of no distribution is that ejabberdctl cannot talk to the node;
// accounts are created through mod_http_api instead (see register).
type ejabberd struct {
	erl  string // the erl launcher
	ebin string // ejabberd's compiled code

	configPath string
	spool      string // Mnesia's folder
	log        string
	httpBase   string // "http://127.0.0.1:port"
	client     *http.Client
}

// translations keeps the language translation cache the first ejabberd of
// this process built in its Mnesia folder (an ETS table dump ejabberd
// reads back when it is newer than its message files). Seeding each new
// folder with it saves every later start the quarter of a second that
// building it costs; all instances run the same installed ejabberd.
var translations struct {
	sync.Mutex
	cache []byte
}

const (
	// ejabberdSpool is Mnesia's folder inside Config.Dir.
	ejabberdSpool    = "spool"
	translationsFile = "translations.cache"
)

func newEjabberd() (*ejabberd, error) {
	ctl, err := exec.LookPath("ejabberdctl")
	if err != nil {
		for _, p := range ejabberdctlPaths {
			if fi, serr := os.Stat(p); serr == nil && !fi.IsDir() {
				ctl, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w (no ejabberdctl on PATH or in %s)", ErrNoEjabberd, strings.Join(ejabberdctlPaths, ", "))
	}
	script, err := os.ReadFile(ctl)
	if err != nil {
		return nil, fmt.Errorf("%w (read %s: %v)", ErrNoEjabberd, ctl, err)
	}

	// ejabberdctl knows where its package put the Erlang runtime and the
	// ejabberd code (ERL_LIBS is architecture-specific on Debian).
	e := &ejabberd{erl: shellAssignment(script, "ERL")}
	if e.erl == "" || !isFile(e.erl) {
		if e.erl, err = exec.LookPath("erl"); err != nil {
			return nil, fmt.Errorf("%w (no erl, the Erlang runtime, on PATH)", ErrNoEjabberd)
		}
	}
	libs := shellAssignment(script, "ERL_LIBS")
	if e.ebin = ejabberdEbin(libs); e.ebin == "" {
		return nil, fmt.Errorf("%w (%s names ERL_LIBS=%q, which holds no ejabberd-*/ebin/ejabberd.app)", ErrNoEjabberd, ctl, libs)
	}
	e.client = &http.Client{Transport: &http.Transport{
		Proxy: nil,
		// A connection kept across Kill and Restart would be dead, and a
		// POST on a dead connection is not retried.
		DisableKeepAlives: true,
	}}
	return e, nil
}

// shellAssignment returns the value of the first top-level `name=value`
// line of a shell script, without quotes, or "".
func shellAssignment(script []byte, name string) string {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `=(?:"([^"]*)"|'([^']*)'|(\S*))\s*$`)
	m := re.FindSubmatch(script)
	if m == nil {
		return ""
	}
	return string(m[1]) + string(m[2]) + string(m[3])
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// ejabberdEbin returns the ebin folder of ejabberd's code in one of the
// folders of the ERL_LIBS list libs, or "".
func ejabberdEbin(libs string) string {
	for _, dir := range filepath.SplitList(libs) {
		if dir == "" {
			continue
		}
		m, _ := filepath.Glob(filepath.Join(dir, "ejabberd-*", "ebin", "ejabberd.app"))
		if len(m) > 0 {
			sort.Strings(m)
			return filepath.Dir(m[0])
		}
	}
	return ""
}

// ports: the HTTP API listener.
func (e *ejabberd) ports() int { return 1 }

func (e *ejabberd) prepare(s *Server, extra []int) error {
	e.spool = filepath.Join(s.Dir, ejabberdSpool)
	if err := os.MkdirAll(e.spool, 0o750); err != nil {
		return fmt.Errorf("create ejabberd folder: %w", err)
	}
	translations.Lock()
	cache := translations.cache
	translations.Unlock()
	if cache != nil {
		// Only a speed-up: without the file ejabberd builds it.
		_ = os.WriteFile(filepath.Join(e.spool, translationsFile), cache, 0o600)
	}
	e.configPath = filepath.Join(s.Dir, ejabberdConfigFile)
	e.log = filepath.Join(s.Dir, ejabberdLogFile)
	e.httpBase = "http://" + loopbackAddr(extra[0])
	cfg := renderEjabberdConfig(s.Config, portOf(s.C2SAddr), portOf(s.ComponentAddr), extra[0])
	if err := os.WriteFile(e.configPath, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write ejabberd config: %w", err)
	}
	return nil
}

// readyMarker is what the VM prints once durableRegistration has run.
const readyMarker = "xmpptest: ejabberd ready"

// command starts the VM with the arguments `ejabberdctl foreground` uses,
// minus distribution, plus:
//   - quiet: ejabberd logs to its file only, which is also where stdout and
//     stderr go (the console would otherwise repeat every line there);
//   - no log rotation, which would leave our stdout writing to the rotated
//     file;
//   - no scheduler busy-waiting: the VM otherwise spins idle schedulers,
//     which costs CPU that tests on a small shared machine need;
//   - durableRegistration, once ejabberd has started.
func (e *ejabberd) command(s *Server) *exec.Cmd {
	cmd := exec.Command(e.erl,
		"-noinput",
		// Not ERL_LIBS, as ejabberdctl does: on Debian that is
		// /usr/lib/<arch>, whose thousand entries the VM scans at boot,
		// which costs half a second or more. ejabberd's dependencies are
		// in the runtime's own library folder.
		"-pa", e.ebin,
		"+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none",
		// Relative to the working directory, Dir, so no quoting of an
		// arbitrary path into an Erlang string is needed.
		"-mnesia", "dir", `"`+ejabberdSpool+`"`,
		"-ejabberd", "quiet", "true",
		"-ejabberd", "log_rotate_size", "infinity",
		"-s", "ejabberd",
		"-eval", durableRegistration(s.Domain),
	)
	cmd.Env = append(ejabberdEnviron(),
		"HOME="+s.Dir,
		"EJABBERD_CONFIG_PATH="+e.configPath,
		"EJABBERD_LOG_PATH="+e.log,
		// A crash dump is large and slow to write, and the log says why
		// the VM stopped.
		"ERL_CRASH_DUMP_BYTES=0",
	)
	return cmd
}

// durableRegistration returns Erlang code that makes every registration
// on domain reach the disk before the HTTP API answers, then prints
// readyMarker.
//
// Mnesia logs commits through disk_log, which holds writes for up to two
// seconds before it writes them out; a Kill in that window (a test that
// registers a user and then crashes the server) would lose the account,
// which Prosody never does. A register_user hook that syncs the log closes
// the window: hooks run after the commit and before the reply.
func durableRegistration(domain string) string {
	return "ejabberd_hooks:add(register_user, jid:nameprep(unicode:characters_to_binary(" + erlString(domain) + ")), " +
		"fun(_User, _Server) -> mnesia:sync_log() end, 100), " +
		"io:format(" + erlString(readyMarker+"~n") + ")."
}

// erlString quotes s as an Erlang string literal. Everything but printable
// ASCII is written as a \x{...} escape, so the code means the same
// whatever encoding the VM assumes for its command line.
func erlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r >= 0x7f:
			fmt.Fprintf(&b, "\\x{%x}", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ejabberdEnviron is our environment without what would make the server
// depend on the machine or the caller: Erlang and ejabberd settings, HOME
// (an ~/.erlang file would run at start-up) and systemd's NOTIFY_SOCKET
// (ejabberd would report its start to the caller's service manager).
func ejabberdEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "HOME", name == "NOTIFY_SOCKET",
			strings.HasPrefix(name, "ERL_"), strings.HasPrefix(name, "EJABBERD_"),
			name == "ROOTDIR", name == "BINDIR", name == "EMU", name == "PROGNAME":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (e *ejabberd) logPath() string { return e.log }

// portFailure matches the error ejabberd logs when it cannot bind a port;
// it then stops.
func (e *ejabberd) portFailure(line string) bool {
	return strings.Contains(line, "Failed to open socket at")
}

// ready waits for the HTTP API, which Register needs (any HTTP answer
// means the listener is up), and for readyMarker, without which a
// registration could still be lost to a Kill.
func (e *ejabberd) ready(ctx context.Context, logSince func() string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.httpBase+"/", nil)
	if err != nil {
		return err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !strings.Contains(logSince(), readyMarker) {
		return errors.New("ejabberd has not yet installed the registration hook")
	}
	translations.Lock()
	defer translations.Unlock()
	if translations.cache == nil {
		// Written during start-up, before the listeners open.
		if b, err := os.ReadFile(filepath.Join(e.spool, translationsFile)); err == nil && len(b) > 0 {
			translations.cache = b
		}
	}
	return nil
}

// register calls the HTTP API's register command, and change_password
// when the account exists (HTTP 409), so that it behaves like prosodyctl
// register. A new account is on disk when it returns (see
// durableRegistration); a changed password only within two seconds, as
// ejabberd has no hook for it.
func (e *ejabberd) register(ctx context.Context, s *Server, local, password string) error {
	if !s.Running() {
		return fmt.Errorf("ejabberd creates accounts through its HTTP API: %w (Restart it first)", errNotRunning)
	}
	status, body, err := e.call(ctx, "register", map[string]string{"user": local, "host": s.Domain, "password": password})
	if err != nil {
		return err
	}
	switch status {
	case http.StatusOK:
		return nil
	case http.StatusConflict:
	default:
		return fmt.Errorf("HTTP API register: %d %s", status, body)
	}
	status, body, err = e.call(ctx, "change_password", map[string]string{"user": local, "host": s.Domain, "newpass": password})
	if err != nil {
		return err
	}
	// change_password answers 0 for success, as ejabberdctl's exit code.
	if status != http.StatusOK || strings.TrimSpace(body) != "0" {
		return fmt.Errorf("HTTP API change_password: %d %s", status, body)
	}
	return nil
}

// call POSTs args as JSON to the HTTP API command and returns the status
// and body.
func (e *ejabberd) call(ctx context.Context, command string, args map[string]string) (int, string, error) {
	payload, err := json.Marshal(args)
	if err != nil {
		return 0, "", fmt.Errorf("HTTP API %s: %w", command, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.httpBase+"/api/"+command, bytes.NewReader(payload))
	if err != nil {
		return 0, "", fmt.Errorf("HTTP API %s: %w", command, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("HTTP API %s: %w", command, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, "", fmt.Errorf("HTTP API %s: read reply: %w", command, err)
	}
	return resp.StatusCode, string(bytes.TrimSpace(b)), nil
}
