package rfc6455

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// row is the result of one case against one variant in one replay mode.
type row struct {
	variant string
	c       rfcCase
	mode    string
	ok      bool
	got     []event // what the server did, kept for failed rows
}

// report collects rows from concurrent subtests.
type report struct {
	mu   sync.Mutex
	rows []row
}

func (r *report) add(x row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, x)
}

// sorted returns the rows by case number, variant and mode.
func (r *report) sorted() []row {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.rows)
	modeIndex := func(name string) int {
		return slices.IndexFunc(modes, func(m mode) bool { return m.name == name })
	}
	slices.SortFunc(out, func(a, b row) int {
		return cmp.Or(compareIDs(a.c.id, b.c.id), cmp.Compare(a.variant, b.variant),
			cmp.Compare(modeIndex(a.mode), modeIndex(b.mode)))
	})
	return out
}

// compareIDs orders case numbers part by part, numerically.
func compareIDs(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(pa), len(pb))
}

// tally counts OK and FAILED rows per variant.
type tally struct {
	variant    string
	ok, failed int
}

func (r *report) tallies(rows []row) []tally {
	var out []tally
	for _, x := range rows {
		i := slices.IndexFunc(out, func(t tally) bool { return t.variant == x.variant })
		if i < 0 {
			out = append(out, tally{variant: x.variant})
			i = len(out) - 1
		}
		if x.ok {
			out[i].ok++
		} else {
			out[i].failed++
		}
	}
	slices.SortFunc(out, func(a, b tally) int { return cmp.Compare(a.variant, b.variant) })
	return out
}

// countCases counts the distinct cases among rows.
func countCases(rows []row) int {
	ids := map[string]bool{}
	for _, x := range rows {
		ids[x.c.id] = true
	}
	return len(ids)
}

func result(ok bool) string {
	if ok {
		return "OK"
	}
	return "FAILED"
}

// got names what the server did, for a failed row.
func (x row) detail() string {
	if x.ok {
		return ""
	}
	parts := make([]string, len(x.got))
	for i, e := range x.got {
		parts[i] = string(e)
	}
	return "got: " + strings.Join(parts, ", ")
}

// log prints the summary and every row.
func (r *report) log(t *testing.T, took time.Duration) {
	rows := r.sorted()
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "%d cases x %d variants x %d replay modes = %d rows in %v\n\n",
		countCases(rows), len(r.tallies(rows)), len(modes), len(rows), took.Round(time.Millisecond))
	fmt.Fprintln(w, "VARIANT\tOK\tFAILED")
	for _, s := range r.tallies(rows) {
		fmt.Fprintf(w, "%s\t%d\t%d\n", s.variant, s.ok, s.failed)
	}
	fmt.Fprintln(w, "\nCASE\tCATEGORY\tVARIANT\tMODE\tRESULT\tDETAIL")
	for _, x := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", x.c.title(), x.c.category(), x.variant, x.mode, result(x.ok), x.detail())
	}
	w.Flush()
	t.Log("RFC 6455 compliance\n" + b.String())
}

// writeMarkdown writes the summary, the failed rows and every row to path.
func (r *report) writeMarkdown(path string, took time.Duration) error {
	rows := r.sorted()
	var b strings.Builder
	fmt.Fprintf(&b, "# RFC 6455 compliance\n\n%d cases x %d variants x %d replay modes (%s) = %d rows, %v.\n\n",
		countCases(rows), len(r.tallies(rows)), len(modes), modeNames(), len(rows), took.Round(time.Millisecond))
	b.WriteString("| variant | OK | FAILED |\n|---|---:|---:|\n")
	for _, s := range r.tallies(rows) {
		fmt.Fprintf(&b, "| %s | %d | %d |\n", s.variant, s.ok, s.failed)
	}
	failed := slices.DeleteFunc(slices.Clone(rows), func(x row) bool { return x.ok })
	fmt.Fprintf(&b, "\n## Failed rows (%d)\n\n", len(failed))
	markdownRows(&b, failed)
	fmt.Fprintf(&b, "\n## Every row (%d)\n\n", len(rows))
	markdownRows(&b, rows)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func markdownRows(b *strings.Builder, rows []row) {
	b.WriteString("| case | category | server | variant | mode | result | detail |\n|---|---|---|---|---|---|---|\n")
	for _, x := range rows {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", x.c.title(), x.c.category(), x.c.srv.name,
			x.variant, x.mode, result(x.ok), strings.ReplaceAll(x.detail(), "|", `\|`))
	}
}

func modeNames() string {
	names := make([]string, len(modes))
	for i, m := range modes {
		names[i] = m.name
	}
	return strings.Join(names, ", ")
}
