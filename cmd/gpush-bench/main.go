// Command gpush-bench measures every gpush variant with the harness and
// writes results/: raw rows (raw.jsonl), plots and summary.md.
//
//	gpush-bench -server bin/gpushd -profile full -runs 3 -out results
//	gpush-bench -plots -out results      # rebuild plots and summary from raw.jsonl alone
//
// It starts each variant's server as its own process and its load
// generators as further processes of this same binary (-loadgen).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gpush/gpush/harness"
	"github.com/gpush/gpush/harness/report"
)

func main() {
	if os.Getenv("GPUSH_LOADGEN") == "1" {
		if err := harness.ServeLoadgen(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "gpush-bench: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gpush-bench", flag.ContinueOnError)
	server := fs.String("server", "bin/gpushd", "the gpushd binary to measure")
	floor := fs.String("floor", "bin/gpush-floor", "the floor server (cmd/gpush-floor), measured as variant \"floor\" when the file exists")
	centrifugo := fs.String("centrifugo", "bin/centrifugo", "Centrifugo (make centrifugo), measured as variant \"centrifugo\" when the file exists")
	profile := fs.String("profile", "quick", "sizes: full, quick or tiny")
	runs := fs.Int("runs", 1, "repetitions of every measurement")
	out := fs.String("out", "results", "results directory (raw.jsonl is appended to)")
	vs := fs.String("variants", "", "comma-separated variants (empty: every one the server lists)")
	scs := fs.String("scenarios", "", "comma-separated scenarios (empty: "+strings.Join(harness.Scenarios, ",")+")")
	plotsOnly := fs.Bool("plots", false, "only rebuild plots and summary.md from raw.jsonl")
	mode := fs.String("push-mode", "unary", "how the fanout, flood, split, churn and batch scenarios push: unary, batch or stream (private runs all three)")
	batch := fs.Int("batch-size", harness.DefaultBatch, "items per PushBatch call in batch mode")
	lanes := fs.Int("lanes", harness.DefaultLanes, "private scenario: concurrent pushers")
	closed := fs.Bool("closed-loop", false, "push as fast as calls return instead of at each load's fixed rate")
	set := fs.String("set", "", "extra gpushd flags for every server, comma-separated name=value (e.g. grpc-workers=4)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raw := filepath.Join(*out, "raw.jsonl")
	if *plotsOnly {
		return report.Build(raw, *out)
	}
	p, ok := harness.Profiles[*profile]
	if !ok {
		return fmt.Errorf("-profile %q: want full, quick or tiny", *profile)
	}
	externals := existing(map[string]string{harness.Floor: *floor, harness.Centrifugo: *centrifugo})
	variants, err := listVariants(*server, *vs, externals)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b := &harness.Bench{
		Server: *server, Externals: externals, Loadgen: []string{self}, Variants: variants, Profile: p,
		Runs: *runs, Out: *out, Progress: os.Stdout,
		PushMode: *mode, BatchSize: *batch, Lanes: *lanes, ClosedLoop: *closed,
	}
	if b.Flags, err = serverFlags(*set); err != nil {
		return err
	}
	if *scs != "" {
		b.Scenarios = strings.Split(*scs, ",")
	}
	if _, err := b.Run(); err != nil {
		return err
	}
	return report.Build(raw, *out)
}

// listVariants asks the server for its variants, adds the external
// servers whose binaries exist, or checks the chosen ones.
func listVariants(server, chosen string, externals map[string]string) ([]string, error) {
	outb, err := exec.Command(server, "-variants").Output()
	if err != nil {
		return nil, fmt.Errorf("%s -variants: %w (run make build first)", server, err)
	}
	all := strings.Fields(string(outb))
	sort.Strings(all)
	for _, name := range []string{harness.Floor, harness.Centrifugo} {
		if externals[name] != "" {
			all = append(all, name)
		}
	}
	if chosen == "" {
		return all, nil
	}
	var vs []string
	for _, v := range strings.Split(chosen, ",") {
		found := false
		for _, a := range all {
			found = found || a == v
		}
		if !found {
			return nil, fmt.Errorf("-variants: no variant %q (%s lists gpushd's; floor and centrifugo need their binaries)", v, server)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// existing keeps the binaries that exist.
func existing(bins map[string]string) map[string]string {
	out := map[string]string{}
	for name, path := range bins {
		if st, err := os.Stat(path); err == nil && !st.IsDir() {
			out[name] = path
		}
	}
	return out
}

// serverFlags parses -set's "name=value,name=value".
func serverFlags(set string) (map[string]string, error) {
	flags := map[string]string{}
	if set == "" {
		return flags, nil
	}
	for _, kv := range strings.Split(set, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-set: %q is not name=value", kv)
		}
		flags[strings.TrimPrefix(k, "-")] = v
	}
	return flags, nil
}
