// Package report turns the harness's raw rows (results/raw.jsonl) into a
// Markdown summary and plots. Everything is recomputed from the rows: the
// medians over runs, their spread, the marks against the targets and the
// figures drawn.
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/gpush/gpush/harness"
)

// maxLine bounds one JSON line of raw.jsonl (idle rows carry their points).
const maxLine = 64 << 20

// Load reads every row of a raw.jsonl file. Blank lines are skipped; a line
// that is not a row is an error naming its line number.
func Load(path string) ([]harness.Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open raw rows: %w", err)
	}
	defer f.Close()
	var rows []harness.Row
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r harness.Row
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return rows, nil
}

// Build reads the rows at rawPath and writes outDir/summary.md and the
// plots under outDir/plots (each as PNG and SVG). Only the rows of the
// newest run id are used; the summary says which and what it left out.
func Build(rawPath, outDir string) error {
	all, err := Load(rawPath)
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return fmt.Errorf("build report: no rows in %s", rawPath)
	}
	runID, rows, ids := newestRun(all)
	d := newData(rows)
	plotDir := filepath.Join(outDir, "plots")
	if err := os.MkdirAll(plotDir, 0o755); err != nil {
		return fmt.Errorf("build report: %w", err)
	}
	plots, err := writePlots(d, plotDir)
	if err != nil {
		return fmt.Errorf("build report: %w", err)
	}
	md := summary(d, runInfo{ID: runID, AllIDs: ids, Source: rawPath, Plots: plots})
	if err := os.WriteFile(filepath.Join(outDir, "summary.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("build report: %w", err)
	}
	return nil
}

// newestRun picks the run id whose latest row is newest (ties: the greater
// id) and returns it, its rows, and every run id present, newest first.
func newestRun(rows []harness.Row) (string, []harness.Row, []string) {
	latest := map[string]int{} // run id -> index of its newest row
	for i, r := range rows {
		j, ok := latest[r.RunID]
		if !ok || r.Time.After(rows[j].Time) {
			latest[r.RunID] = i
		}
	}
	ids := make([]string, 0, len(latest))
	for id := range latest {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool {
		ta, tb := rows[latest[ids[a]]].Time, rows[latest[ids[b]]].Time
		if !ta.Equal(tb) {
			return ta.After(tb)
		}
		return ids[a] > ids[b]
	})
	var kept []harness.Row
	for _, r := range rows {
		if r.RunID == ids[0] {
			kept = append(kept, r)
		}
	}
	return ids[0], kept, ids
}
