package harness

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gpush/gpush/proto/pushpb"
)

// Server is one gpushd process under test.
type Server struct {
	cmd      *exec.Cmd
	WSAddr   string
	HTTPAddr string
	GRPCAddr string
	Config   map[string]string // every flag it was started with
	grpc     *grpc.ClientConn
	Push     pushpb.PushClient
	exited   chan struct{}

	// External servers (peers.go): Proto is the client protocol the
	// generators speak ("": gpush's); kind is Floor, Centrifugo or "".
	Proto string
	kind  string
	cf    *centrifugoAPI
}

// benchSecret signs the benchmark users' login tokens.
const benchSecret = "gpush-bench-secret"

// StartServer starts bin as variant with the harness's settings plus
// extra flags (name without the dash), waits until it serves, and dials
// its push API.
func StartServer(bin, variant string, extra map[string]string) (*Server, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	s := &Server{
		WSAddr:   ports[0],
		GRPCAddr: ports[1],
		HTTPAddr: ports[2],
		exited:   make(chan struct{}),
	}
	s.Config = map[string]string{
		"variant":      variant,
		"log-level":    "off",
		"ws-addr":      s.WSAddr,
		"grpc-addr":    s.GRPCAddr,
		"http-addr":    s.HTTPAddr,
		"push-format":  "raw",
		"jwt-secret":   benchSecret,
		"idle-timeout": "10m",
		"max-req-rate": "1000",
	}
	for k, v := range extra {
		s.Config[k] = v
	}
	args := make([]string, 0, len(s.Config))
	for _, k := range slices.Sorted(maps.Keys(s.Config)) {
		args = append(args, "-"+k+"="+s.Config[k])
	}
	if err := s.launch(bin, args); err != nil {
		return nil, err
	}
	return s, nil
}

// launch starts bin with args, waits until it serves, and dials its push
// API.
func (s *Server) launch(bin string, args []string) error {
	if err := s.start(bin, args...); err != nil {
		return err
	}
	var err error
	s.grpc, err = grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.Stop()
		return err
	}
	s.Push = pushpb.NewPushClient(s.grpc)
	return nil
}

// start runs bin with args as the server's process and waits until it
// serves (its readiness endpoint answers); a server that does not is
// stopped.
func (s *Server) start(bin string, args ...string) error {
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(15 * time.Second); err != nil {
		s.Stop()
		return err
	}
	return nil
}

// freePorts reserves n loopback ports by binding and releasing them.
func freePorts(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var addrs []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

func (s *Server) waitReady(d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("gpushd exited at start (%s)", s.cmd.ProcessState)
		default:
		}
		resp, err := http.Get("http://" + s.HTTPAddr + s.readyPath())
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("gpushd not ready in %s", d)
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Alive reports whether the process still runs.
func (s *Server) Alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// MemoryReport is what the control endpoint answers (after GC).
type MemoryReport struct {
	Conns      int64  `json:"conns"`
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"`
	StackBytes uint64 `json:"stack_bytes"`
	RSSBytes   uint64 `json:"rss_bytes"`
	Writes     int64  `json:"writes"`
	Deliveries int64  `json:"deliveries"`

	HistoryChannels int64 `json:"history_channels"` // history on: channels with a sequence
	HistoryPushes   int64 `json:"history_pushes"`   // pushes kept
	HistoryBytes    int64 `json:"history_bytes"`    // their frame bytes
}

// Memory asks the server for its figures after a forced GC.
func (s *Server) Memory() (MemoryReport, error) {
	var m MemoryReport
	if s.kind == Centrifugo {
		return s.cf.memory(s.Pid())
	}
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + s.HTTPAddr + "/debug/gpush/memory")
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&m)
	return m, err
}

// WaitConns polls the server until it counts n connections.
func (s *Server) WaitConns(n int64, d time.Duration) error {
	if s.kind == Centrifugo {
		return nil // its count lags; the generators saw every connect and subscribe answered
	}
	deadline := time.Now().Add(d)
	for {
		m, err := s.Memory()
		if err == nil && m.Conns == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server holds %d connections, want %d (%v)", m.Conns, n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server: SIGTERM, then SIGKILL after a grace period.
func (s *Server) Stop() {
	if s.grpc != nil {
		s.grpc.Close()
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	if s.cf != nil {
		os.RemoveAll(s.cf.dir)
	}
}
