// Command gpushd is the gpush WebSocket push server.
//
// Every flag is also read from the environment as GPUSH_ plus the flag name
// upper-cased with '-' as '_' (GPUSH_WS_ADDR for -ws-addr); a flag on the
// command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gpush/gpush/internal/server"
	"github.com/gpush/gpush/variants"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, opts, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gpushd: %v\n", err)
		return 2
	}
	if opts.listVariants {
		for _, n := range variants.Names() {
			fmt.Fprintln(stdout, n)
		}
		return 0
	}
	cfg.Logger = newLogger(opts.logLevel, stderr)
	slog.SetDefault(cfg.Logger) // libraries that log through slog (nbio) follow -log-level
	srv, err := server.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gpushd: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := srv.Serve(ctx); err != nil {
		cfg.Logger.Error("gpushd failed", "err", err)
		return 1
	}
	return 0
}

func newLogger(level string, w io.Writer) *slog.Logger {
	if level == "off" {
		return slog.New(slog.DiscardHandler)
	}
	var l slog.Level
	l.UnmarshalText([]byte(level)) // checked in parse
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// envName is the environment variable that sets a flag.
func envName(flagName string) string {
	return "GPUSH_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
