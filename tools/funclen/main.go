// Command funclen measures function length over a Go tree, for the house
// style's target (median <= 10 lines, p90 <= 25): every function and
// method declaration, counted from its func line to its closing brace,
// generated files left out. It prints the count, median, p90 and the
// longest functions.
//
// Usage, from the repository root: go -C tools run ./funclen [-tests=false] [-top 15] ..
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// fn is one measured function.
type fn struct {
	name  string // file:line name
	lines int
}

func main() {
	tests := flag.Bool("tests", true, "count _test.go files too")
	top := flag.Int("top", 15, "list the longest n functions")
	flag.Parse()
	root := flag.Arg(0)
	if root == "" {
		root = "."
	}
	fns, err := walk(root, *tests)
	if err != nil {
		log.Fatal(err)
	}
	report(fns, *top)
}

// walk measures every function of the .go files under root, skipping
// hidden folders, testdata and generated files.
func walk(root string, tests bool) ([]fn, error) {
	var out []fn
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return skipDir(path, root, d.Name())
		}
		if !strings.HasSuffix(path, ".go") || (!tests && strings.HasSuffix(path, "_test.go")) {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil || ast.IsGenerated(f) {
			return err
		}
		out = append(out, measure(fset, f, path)...)
		return nil
	})
	return out, err
}

// skipDir skips hidden folders, testdata and node_modules.
func skipDir(path, root, name string) error {
	if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
		return filepath.SkipDir
	}
	return nil
}

// measure returns the functions of one file.
func measure(fset *token.FileSet, f *ast.File, path string) []fn {
	var out []fn
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		start, end := fset.Position(fd.Pos()), fset.Position(fd.End())
		out = append(out, fn{fmt.Sprintf("%s:%d %s", path, start.Line, fd.Name.Name), end.Line - start.Line + 1})
	}
	return out
}

// report prints the figures.
func report(fns []fn, top int) {
	if len(fns) == 0 {
		fmt.Println("no functions")
		return
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].lines > fns[j].lines })
	n := len(fns)
	fmt.Fprintf(os.Stdout, "functions %d  median %d  p90 %d  over 50: %d\n",
		n, quantile(fns, 0.5), quantile(fns, 0.9), count(fns, 50))
	for _, f := range fns[:min(top, n)] {
		fmt.Printf("%5d  %s\n", f.lines, f.name)
	}
}

// quantile returns the length that a fraction q of fns do not exceed;
// fns is sorted longest first.
func quantile(fns []fn, q float64) int {
	i := int(float64(len(fns)) * (1 - q))
	return fns[min(i, len(fns)-1)].lines
}

// count returns how many of fns are longer than n lines.
func count(fns []fn, n int) int {
	c := 0
	for _, f := range fns {
		if f.lines > n {
			c++
		}
	}
	return c
}
