// Command gpush-floor is the harness's floor: the least a WebSocket push
// server can do on this machine, measured beside gpushd in the same runs so
// that every figure reads as a distance to it. It upgrades with gobwas/ws,
// takes each socket out of the Go runtime onto one epoll poller
// (variants/transport/epoll/poll), and keeps no protocol and no registry:
// every connection that sends a request frame is subscribed to everything,
// each request frame is answered with one canned reply (frames are counted
// by their headers, payloads are skipped unread), and a push is one frame
// encoded once and appended to every subscriber's buffer; one flusher per
// core writes each buffer with one write every flush interval (gpushd's
// default, 10 ms, unless told otherwise), so that the floor coalesces as
// gpushd's batched variants do and the distance to it is the cost of
// everything else. With -flush-interval 0 a flusher writes as soon as it
// is free: frames pushed while a flush runs coalesce into the next.
//
// It serves the push API's gRPC surface (PushData, PushBatch, PushStream)
// so that the harness's pusher drives it exactly as it drives gpushd, and
// the control endpoints the harness reads (/readyz, /debug/gpush/memory).
//
//	gpush-floor -ws-addr 127.0.0.1:8080 -grpc-addr 127.0.0.1:9090 -http-addr 127.0.0.1:8081
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/gpush/gpush/proto/pushpb"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "gpush-floor: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gpush-floor", flag.ContinueOnError)
	wsAddr := fs.String("ws-addr", "127.0.0.1:8080", "WebSocket listen address (any path upgrades)")
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:9090", "push API (gRPC) listen address")
	httpAddr := fs.String("http-addr", "127.0.0.1:8081", "control address: /readyz, /debug/gpush/memory")
	interval := fs.Duration("flush-interval", 10*time.Millisecond, "write what is pending every this often (gpushd's default); 0: as soon as a flusher is free")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := newFloor(*interval)
	if err != nil {
		return err
	}
	wsl, err := net.Listen("tcp", *wsAddr)
	if err != nil {
		return err
	}
	gl, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		return err
	}
	hl, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return err
	}
	g := grpc.NewServer()
	pushpb.RegisterPushServer(g, pushAPI{f: f})
	f.accept(wsl)
	go g.Serve(gl)
	go http.Serve(hl, f.control())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	slog.Debug("gpush-floor: stopping")
	g.Stop()
	return nil
}
