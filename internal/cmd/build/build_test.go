package main

import (
	"bufio"
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestBuildArgs(t *testing.T) {
	ours := Dependency{Module: modulePath + "/caddymodule", Version: "v0.1.0"}
	other := Dependency{Module: "github.com/example/caddy-other", Version: "v1.2.3"}
	// A sibling module whose path merely starts with ours is not ours.
	lookalike := Dependency{Module: modulePath + "-extra", Version: "v0.0.1"}
	whole := Dependency{Module: modulePath, Version: "v0.1.0"}

	tests := []struct {
		name     string
		deps     []Dependency
		repoRoot string
		output   string
		want     []string
	}{
		{
			name: "user form",
			deps: []Dependency{ours},
			want: []string{"build", "v2.11.9", "--with", modulePath + "/caddymodule@v0.1.0"},
		},
		{
			name:   "user form with output",
			deps:   []Dependency{ours, other},
			output: "/out/caddy",
			want: []string{"build", "v2.11.9",
				"--with", modulePath + "/caddymodule@v0.1.0",
				"--with", "github.com/example/caddy-other@v1.2.3",
				"--output", "/out/caddy"},
		},
		{
			name:     "from source",
			deps:     []Dependency{ours},
			repoRoot: "/src/xepauth",
			output:   "/src/xepauth/bin/caddy",
			want: []string{"build", "v2.11.9",
				"--with", modulePath + "/caddymodule",
				"--replace", modulePath + "=/src/xepauth",
				"--output", "/src/xepauth/bin/caddy"},
		},
		{
			name:     "from source keeps other versions, one replace",
			deps:     []Dependency{other, ours, whole, lookalike},
			repoRoot: "/r",
			want: []string{"build", "v2.11.9",
				"--with", "github.com/example/caddy-other@v1.2.3",
				"--with", modulePath + "/caddymodule",
				"--with", modulePath,
				"--with", modulePath + "-extra@v0.0.1",
				"--replace", modulePath + "=/r"},
		},
		{
			name:     "from source without our module needs no replace",
			deps:     []Dependency{other},
			repoRoot: "/r",
			want:     []string{"build", "v2.11.9", "--with", "github.com/example/caddy-other@v1.2.3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Manifest{Caddy: "v2.11.9", Dependencies: tt.deps}
			if err := m.Validate(); err != nil {
				t.Fatalf("test manifest invalid: %v", err)
			}
			got := buildArgs(m, tt.repoRoot, tt.output)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("buildArgs:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantErr []string // substrings; none means valid
	}{
		{name: "valid", json: `{"caddy": "v2.11.9", "dependencies": [{"module": "a.example/m", "version": "v1.0.0"}]}`},
		{name: "not JSON", json: `caddy = v2`, wantErr: []string{"not valid JSON"}},
		{name: "empty file", json: ``, wantErr: []string{"not valid JSON"}},
		{name: "unknown field", json: `{"caddy": "v2.11.9", "plugins": []}`, wantErr: []string{`unknown field "plugins"`}},
		{name: "two values", json: `{"caddy": "v2.11.9", "dependencies": [{"module": "m", "version": "v1"}]} {}`, wantErr: []string{"more than one value"}},
		{name: "caddy missing", json: `{"dependencies": [{"module": "m", "version": "v1"}]}`, wantErr: []string{`"caddy" is missing`}},
		{name: "caddy without v", json: `{"caddy": "2.11.9", "dependencies": [{"module": "m", "version": "v1"}]}`, wantErr: []string{`"caddy" is "2.11.9"`, "starting with v"}},
		{name: "no dependencies", json: `{"caddy": "v2.11.9"}`, wantErr: []string{`"dependencies" is empty`}},
		{name: "empty module", json: `{"caddy": "v2.11.9", "dependencies": [{"version": "v1"}]}`, wantErr: []string{`dependencies[0]: "module" is empty`}},
		{name: "module with version", json: `{"caddy": "v2.11.9", "dependencies": [{"module": "m@v1", "version": "v1"}]}`, wantErr: []string{"bare module path"}},
		{name: "empty version", json: `{"caddy": "v2.11.9", "dependencies": [{"module": "a.example/m"}]}`, wantErr: []string{`dependencies[0] (a.example/m): "version" is empty`}},
		{name: "duplicate", json: `{"caddy": "v2.11.9", "dependencies": [{"module": "m", "version": "v1"}, {"module": "m", "version": "v2"}]}`, wantErr: []string{"dependencies[1] (m): listed twice"}},
		{
			name:    "every problem at once",
			json:    `{"caddy": "latest", "dependencies": [{"module": "", "version": ""}]}`,
			wantErr: []string{`"caddy" is "latest"`, `"module" is empty`, `"version" is empty`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseManifest([]byte(tt.json))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; want one mentioning %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestInRepo(t *testing.T) {
	for module, want := range map[string]bool{
		modulePath:                                   true,
		modulePath + "/caddymodule":                  true,
		modulePath + "x":                             false,
		modulePath + "-extra/x":                      false,
		"github.com/xepauth":                         false,
		"github.com/other/caddy-xepauth/caddymodule": false,
	} {
		if got := inRepo(module); got != want {
			t.Errorf("inRepo(%q) = %v, want %v", module, got, want)
		}
	}
}

func TestDeclaresModule(t *testing.T) {
	gomod := []byte("// comment\nmodule " + modulePath + "\n\ngo 1.26\n")
	if !declaresModule(gomod, modulePath) {
		t.Error("module line not recognised")
	}
	if declaresModule([]byte("module "+modulePath+"/sub\n"), modulePath) {
		t.Error("a sub-module taken for this module")
	}
}

// readManifest reads the repository's xcaddy.json.
func readManifest(t *testing.T) Manifest {
	t.Helper()
	data, err := os.ReadFile("../../../xcaddy.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseManifest(data)
	if err != nil {
		t.Fatalf("xcaddy.json: %v", err)
	}
	return m
}

func TestManifestBuildsOurModule(t *testing.T) {
	m := readManifest(t)
	for _, d := range m.Dependencies {
		if d.Module == modulePath+"/caddymodule" {
			return
		}
	}
	t.Errorf("xcaddy.json does not list %s/caddymodule", modulePath)
}

// TestREADMEBuildLineMatchesManifest keeps the build command users copy
// from README.md equal to what xcaddy.json pins.
func TestREADMEBuildLineMatchesManifest(t *testing.T) {
	want := userCommand(readManifest(t))
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	inCode := false
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "```") || strings.HasPrefix(line, "~~~") {
			inCode = !inCode
			continue
		}
		if inCode && strings.HasPrefix(line, "xcaddy build ") {
			if line == want {
				return
			}
			found = append(found, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Fatalf("README.md has no line starting with \"xcaddy build \" in a code block; want:\n\t%s", want)
	}
	t.Fatalf("README.md's xcaddy build line does not match xcaddy.json:\n\tREADME:   %s\n\tmanifest: %s\n(run go run ./internal/cmd/build -print)",
		strings.Join(found, "\n\t          "), want)
}

func TestRunPrint(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"-print", "-manifest", "../../../xcaddy.json"}, &out, &errOut); err != nil {
		t.Fatalf("run -print: %v\n%s", err, errOut.String())
	}
	want := userCommand(readManifest(t)) + "\n"
	if out.String() != want {
		t.Errorf("-print wrote %q, want %q", out.String(), want)
	}
}

func TestRunRejectsBadManifest(t *testing.T) {
	path := t.TempDir() + "/xcaddy.json"
	if err := os.WriteFile(path, []byte(`{"caddy": "2.11.9", "dependencies": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := run([]string{"-print", "-manifest", path}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "starting with v") {
		t.Errorf("run with a bad manifest: err = %v; want one naming the file and the problem", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q despite the bad manifest", out.String())
	}
}
