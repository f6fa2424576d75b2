// Command gpush-nats runs a NATS server (nats-server, embedded) on one
// address until SIGINT or SIGTERM: the broker of `make cluster` and of the
// harness when Debian's nats-server is not installed.
//
//	gpush-nats -addr 127.0.0.1:4222
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gpush-nats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:4222", "client listen address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ns, err := start(*addr)
	if err != nil {
		fmt.Fprintln(stderr, "gpush-nats:", err)
		return 1
	}
	fmt.Fprintln(stdout, "gpush-nats: serving", ns.ClientURL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	ns.Shutdown()
	ns.WaitForShutdown()
	return 0
}

// start runs an embedded NATS server on addr and waits until it accepts
// clients.
func start(addr string) (*server.Server, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", p, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as its default, 4222
	}
	ns, err := server.NewServer(&server.Options{Host: host, Port: port, NoSigs: true, NoLog: true})
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("not accepting clients on %s within 10 s", addr)
	}
	return ns, nil
}
