// Command build turns xcaddy.json, the build manifest, into an xcaddy call
// and runs it. The manifest is the one place that pins what goes into the
// binary: the Caddy version and the plugin modules with their versions.
//
//	go run ./internal/cmd/build [-o bin/caddy] [-manifest xcaddy.json] [-print] [-release]
//
// By default it builds this checkout: every manifest module inside
// github.com/xepauth/caddy-xepauth is taken from the working tree through
// xcaddy's --replace, so the binary holds exactly the code being tested.
// -release builds what a user gets from the published versions instead,
// and -print only prints that user-facing command line (the one README.md
// shows) and exits.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// modulePath is this repository's Go module.
const modulePath = "github.com/xepauth/caddy-xepauth"

// Manifest is the content of xcaddy.json.
type Manifest struct {
	// Caddy is the Caddy version to build, a tag such as v2.11.9.
	Caddy string `json:"caddy"`
	// Dependencies are the plugin modules compiled in.
	Dependencies []Dependency `json:"dependencies"`
}

// Dependency is one plugin module and the version a user builds.
type Dependency struct {
	Module  string `json:"module"`
	Version string `json:"version"`
}

// Validate reports every problem of the manifest at once.
func (m Manifest) Validate() error {
	var errs []error
	switch {
	case m.Caddy == "":
		errs = append(errs, errors.New(`"caddy" is missing: give the Caddy version, like "v2.11.9"`))
	case !strings.HasPrefix(m.Caddy, "v") || strings.ContainsAny(m.Caddy, " \t\r\n"):
		errs = append(errs, fmt.Errorf(`"caddy" is %q: it must be a version starting with v, like "v2.11.9"`, m.Caddy))
	}
	if len(m.Dependencies) == 0 {
		errs = append(errs, errors.New(`"dependencies" is empty: list at least the module `+modulePath+"/caddymodule"))
	}
	seen := map[string]bool{}
	for i, d := range m.Dependencies {
		where := fmt.Sprintf("dependencies[%d]", i)
		if d.Module != "" {
			where += " (" + d.Module + ")"
		}
		switch {
		case d.Module == "":
			errs = append(errs, fmt.Errorf(`%s: "module" is empty`, where))
		case strings.ContainsAny(d.Module, "@= \t\r\n"):
			errs = append(errs, fmt.Errorf(`%s: "module" must be a bare module path, without @version, = or spaces`, where))
		case seen[d.Module]:
			errs = append(errs, fmt.Errorf("%s: listed twice", where))
		}
		seen[d.Module] = true
		switch {
		case d.Version == "":
			errs = append(errs, fmt.Errorf(`%s: "version" is empty: give the version users build, like "v0.1.0"`, where))
		case strings.ContainsAny(d.Version, "@= \t\r\n"):
			errs = append(errs, fmt.Errorf(`%s: "version" %q must be a plain version, like "v0.1.0"`, where, d.Version))
		}
	}
	return errors.Join(errs...)
}

// parseManifest decodes and validates xcaddy.json. Unknown fields are an
// error, so a misspelt key cannot be silently ignored.
func parseManifest(data []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("not valid JSON for a manifest: %w", err)
	}
	if dec.More() {
		return Manifest{}, errors.New("not valid JSON for a manifest: more than one value")
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// inRepo tells whether a module path is this repository's module or a
// package inside it.
func inRepo(module string) bool {
	return module == modulePath || strings.HasPrefix(module, modulePath+"/")
}

// buildArgs returns xcaddy's arguments (after the program name) for a
// valid manifest.
//
// With repoRoot empty they are the user form: every dependency as
// module@version. With repoRoot set, the dependencies inside this
// repository are taken from repoRoot: plain --with module, plus one
// --replace of the whole module by the checkout; other dependencies keep
// their version. output, when set, becomes --output.
func buildArgs(m Manifest, repoRoot, output string) []string {
	args := []string{"build", m.Caddy}
	local := false
	for _, d := range m.Dependencies {
		if repoRoot != "" && inRepo(d.Module) {
			args = append(args, "--with", d.Module)
			local = true
			continue
		}
		args = append(args, "--with", d.Module+"@"+d.Version)
	}
	if local {
		args = append(args, "--replace", modulePath+"="+repoRoot)
	}
	if output != "" {
		args = append(args, "--output", output)
	}
	return args
}

// userCommand is the command line a user runs with xcaddy installed, as
// README.md shows it.
func userCommand(m Manifest) string {
	return "xcaddy " + strings.Join(buildArgs(m, "", ""), " ")
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}

func run(argv []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("o", "", "the binary to write (default bin/caddy in the repository root)")
	manifestPath := fs.String("manifest", "", "the build manifest (default xcaddy.json in the repository root)")
	printOnly := fs.Bool("print", false, "only print the user-facing xcaddy command line and exit")
	release := fs.Bool("release", false, "build the published versions (the user form) instead of this checkout")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./internal/cmd/build [-o bin/caddy] [-manifest xcaddy.json] [-print] [-release]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(argv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	root, err := findRepoRoot()
	if err != nil {
		return err
	}
	if *manifestPath == "" {
		*manifestPath = filepath.Join(root, "xcaddy.json")
	}
	data, err := os.ReadFile(*manifestPath)
	if err != nil {
		return fmt.Errorf("read the manifest: %w", err)
	}
	m, err := parseManifest(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *manifestPath, err)
	}

	if *printOnly {
		_, err := fmt.Fprintln(stdout, userCommand(m))
		return err
	}

	out := *output
	if out == "" {
		out = filepath.Join(root, "bin", "caddy")
	}
	// xcaddy runs in the repository root (where go.mod declares it as a
	// tool), so a path given relative to here must be made absolute.
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}

	if *release {
		return runLogged(stderr, root, nil, "go", append([]string{"tool", "xcaddy"}, buildArgs(m, "", out)...)...)
	}

	// Fill the module cache with everything go.mod needs: Caddy at the
	// manifest's version and our own dependencies are in it, which is
	// exactly what xcaddy's throwaway module asks for.
	if err := runLogged(stderr, root, nil, "go", "mod", "download"); err != nil {
		return err
	}
	// The cache now holds everything, so xcaddy's own "go get" and
	// "go build" in its temporary module need no network: GOPROXY=off and
	// GOSUMDB=off make sure of it (and that the build cannot quietly fetch
	// something else). A plugin from outside this repository must
	// therefore also be required by go.mod (import it in
	// internal/cmd/caddy) so that its version is in the cache.
	env := []string{"GOPROXY=off", "GOSUMDB=off"}
	return runLogged(stderr, root, env, "go", append([]string{"tool", "xcaddy"}, buildArgs(m, root, out)...)...)
}

// runLogged prints the command, then runs it in dir with the extra
// environment, streaming its output.
func runLogged(log io.Writer, dir string, env []string, name string, args ...string) error {
	words := append(append([]string{}, env...), name)
	for _, a := range args {
		words = append(words, shellQuote(a))
	}
	fmt.Fprintln(log, "+", strings.Join(words, " "))
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// shellQuote quotes a word for display when the shell would split it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// findRepoRoot walks up from the working directory to the go.mod that
// declares this module.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && declaresModule(data, modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside a checkout of %s: no go.mod declaring it above the working directory", modulePath)
		}
		dir = parent
	}
}

// declaresModule tells whether go.mod content has "module path".
func declaresModule(gomod []byte, path string) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == path {
			return true
		}
	}
	return false
}
