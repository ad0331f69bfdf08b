// Package binarytest tests the real Caddy binary with xepauth compiled in,
// as a user runs it: its command line, its Caddyfile adapter, and a whole
// login through a real Prosody.
//
// XEPAUTH_CADDY names the binary (a relative path is taken from the
// repository root); scripts/test.sh sets it to the one xcaddy built from
// xcaddy.json. When it is unset the tests build
// ./internal/cmd/caddy once with go build (the quick path, same modules),
// or skip under -short.
package binarytest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/webtest"
)

var (
	// caddyBin is the binary under test; empty when tests must skip.
	caddyBin string
	// binNote says where caddyBin comes from, for the test log.
	binNote string
	// buildErr is set when the quick build failed.
	buildErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	switch env := os.Getenv("XEPAUTH_CADDY"); {
	case env != "":
		// go test runs in this package's folder; a relative path is meant
		// from the repository root, where scripts/test.sh runs.
		if !filepath.IsAbs(env) {
			env = filepath.Join("..", "..", env)
		}
		abs, err := filepath.Abs(env)
		if err != nil {
			buildErr = err
			break
		}
		caddyBin, binNote = abs, "XEPAUTH_CADDY="+os.Getenv("XEPAUTH_CADDY")
		if _, err := os.Stat(abs); err != nil {
			buildErr = fmt.Errorf("XEPAUTH_CADDY names a binary that is not there: %w", err)
		}
	case testing.Short():
		// Leave caddyBin empty: every test skips.
	default:
		dir, err := os.MkdirTemp("", "xepauth-binarytest-")
		if err != nil {
			buildErr = err
			break
		}
		defer os.RemoveAll(dir)
		caddyBin = filepath.Join(dir, "caddy")
		binNote = "XEPAUTH_CADDY unset: built with go build ./internal/cmd/caddy (the quick path, not xcaddy)"
		fmt.Fprintf(os.Stderr, "binarytest: %s -> %s\n", binNote, caddyBin)
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", caddyBin, "./internal/cmd/caddy")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./internal/cmd/caddy: %v\n%s", err, out)
		} else {
			fmt.Fprintf(os.Stderr, "binarytest: built in %s\n", time.Since(start).Round(time.Millisecond))
		}
	}
	return m.Run()
}

// binary returns the Caddy binary to test, skipping under -short when
// there is none.
func binary(t *testing.T) string {
	t.Helper()
	if caddyBin == "" {
		t.Skip("needs the caddy binary: set XEPAUTH_CADDY, or run without -short to build it; skipped under -short")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return caddyBin
}

// caddyCommand prepares the binary with args. Caddy's home, config and data
// folders point into a temporary folder, so no test reads or writes the
// real ones.
func caddyCommand(ctx context.Context, t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	bin := binary(t)
	t.Logf("caddy %s\n\tbinary %s (%s)", strings.Join(args, " "), bin, binNote)
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
	)
	return cmd
}

// runCaddy runs the binary to completion and returns its stdout and
// stderr. A non-zero exit fails the test, showing both.
func runCaddy(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := caddyCommand(ctx, t, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("caddy %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int { return webtest.FreePort(t) }

// tail returns at most the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[… %d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
