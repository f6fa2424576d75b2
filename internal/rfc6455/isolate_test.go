package rfc6455

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A case marked isolate runs, for each variant and mode, in a child
// process: the test binary itself, told by childEnv to run that one row
// and write what the server did to a file. A server panic then ends the
// child, not the suite, and the row reports it.
const childEnv = "GPUSH_RFC_CHILD"

// childSpec is the one row a child process runs.
type childSpec struct {
	Variant, Case, Mode string
	Out                 string // file for the row's childRow
}

// childRow is what a child reports of its row.
type childRow struct {
	OK  bool
	Got []event
}

// childFromEnv returns the row to run when this process is a child, or nil.
func childFromEnv(t *testing.T) *childSpec {
	v := os.Getenv(childEnv)
	if v == "" {
		return nil
	}
	var spec childSpec
	require.NoError(t, json.Unmarshal([]byte(v), &spec), "%s=%s", childEnv, v)
	return &spec
}

// only narrows the suite to the child's row.
func (spec *childSpec) only(cases []rfcCase, ms []mode) ([]rfcCase, []string, []mode) {
	cases = slices.DeleteFunc(slices.Clone(cases), func(c rfcCase) bool { return c.id != spec.Case })
	ms = slices.DeleteFunc(slices.Clone(ms), func(m mode) bool { return m.name != spec.Mode })
	return cases, []string{spec.Variant}, ms
}

// write records the child's row for its parent.
func (spec *childSpec) write(t *testing.T, x row) {
	b, err := json.Marshal(childRow{OK: x.ok, Got: x.got})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(spec.Out, b, 0o644), "writing the row for the parent")
}

// playIsolated runs case c against variant v in mode m in a child process
// and returns what the server did, or that its process ended.
func playIsolated(t *testing.T, v string, c rfcCase, m mode) []event {
	spec := childSpec{Variant: v, Case: c.id, Mode: m.name, Out: filepath.Join(t.TempDir(), "row.json")}
	b, err := json.Marshal(spec)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRFC6455$", "-test.count=1", "-test.timeout=2m")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GPUSH_RFC_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childEnv+"="+string(b))
	out, runErr := cmd.CombinedOutput()
	data, readErr := os.ReadFile(spec.Out)
	if readErr != nil {
		return []event{event("server process ended: " + panicLine(out))}
	}
	var r childRow
	require.NoError(t, json.Unmarshal(data, &r), "the child's row")
	if r.OK {
		assert.NoError(t, runErr, "the child process, whose row passed, failed:\n%s", out)
	}
	return r.Got
}

// panicLine picks the line of a child's output that says why it ended.
func panicLine(out []byte) string {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") {
			return l
		}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
