package harness

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/gpush/gpush/proto/pushpb"
)

// Centrifugo as a peer: the harness writes its config, starts it, pushes
// through its HTTP API (publish; batch where gpushd gets a PushBatch) and
// the generators speak its JSON client protocol (centrifugo_client.go).

// ProtoCentrifugo is the client protocol of Centrifugo's JSON transport.
const ProtoCentrifugo = "centrifugo"

// centrifugoKey is the HTTP API key of every Centrifugo the bench starts.
const centrifugoKey = "gpush-bench-api-key"

// ErrNoStream: Centrifugo has no streaming publish call.
var ErrNoStream = errors.New("centrifugo: no streaming publish in its API")

// CentrifugoConfig is the config a run starts Centrifugo with: one port for
// WebSocket (at /ws, the path the generators dial), API, metrics and
// debug; no history and no presence (the defaults); anonymous connect and
// subscribe allowed; user-limited channels (name#user) for the private
// scenario, whose users connect with a token signed by secret; a ping
// interval longer than any run, so that no client is dropped for a pong
// the server's own backlog delayed; logging off.
func CentrifugoConfig(addr, apiKey, secret string) ([]byte, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("centrifugo port %q: %w", port, err)
	}
	type m = map[string]any
	cfg := m{
		"http_server": m{"address": host, "port": p},
		"log":         m{"level": "none"},
		"client": m{
			"allow_anonymous_connect_without_token": true,
			"ping_interval":                         "1h",
			"pong_timeout":                          "30m",
			"token":                                 m{"hmac_secret_key": secret},
		},
		"channel": m{"without_namespace": m{
			"allow_subscribe_for_anonymous": true,
			"allow_subscribe_for_client":    true,
			"allow_user_limited_channels":   true,
		}},
		"http_api":    m{"key": apiKey},
		"websocket":   m{"handler_prefix": "/ws"},
		"debug":       m{"enabled": true},
		"prometheus":  m{"enabled": true},
		"health":      m{"enabled": true},
		"usage_stats": m{"disabled": true},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// StartCentrifugo writes a config into a temporary directory, starts bin
// with it on a free port and waits until it is healthy.
func StartCentrifugo(bin string) (*Server, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gpush-centrifugo-")
	if err != nil {
		return nil, err
	}
	cfg, err := CentrifugoConfig(ports[0], centrifugoKey, benchSecret)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o600)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	api := newCentrifugoAPI("http://"+ports[0], centrifugoKey, dir)
	s := &Server{WSAddr: ports[0], HTTPAddr: ports[0], exited: make(chan struct{}),
		Proto: ProtoCentrifugo, kind: Centrifugo, cf: api, Push: api}
	s.Config = map[string]string{"variant": Centrifugo, "version": binVersion(bin), "addr": ports[0], "config": string(cfg)}
	if err := s.start(bin, "--config", filepath.Join(dir, "config.json")); err != nil {
		os.RemoveAll(dir) // Stop removed it unless the process never started
		return nil, err
	}
	return s, nil
}

// modes are the push modes the server's API has: all but the stream on
// Centrifugo.
func (s *Server) modes() []string {
	if s.kind == Centrifugo {
		return []string{ModeUnary, ModeBatch}
	}
	return Modes
}

// readyPath is where the server answers 200 once it serves.
func (s *Server) readyPath() string {
	if s.kind == Centrifugo {
		return "/health"
	}
	return "/readyz"
}

// binVersion is the main module's version a Go binary was built from.
func binVersion(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "unknown"
	}
	return info.Main.Version
}

// centrifugoAPI pushes through Centrifugo's HTTP API; it stands where
// gpushd's gRPC push client stands, so the pushers drive both alike.
type centrifugoAPI struct {
	base, key, dir string
	http           *http.Client
}

func newCentrifugoAPI(base, key, dir string) *centrifugoAPI {
	t := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	return &centrifugoAPI{base: base, key: key, dir: dir, http: &http.Client{Transport: t, Timeout: 30 * time.Second}}
}

// publish is the body of one publish command.
type publish struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// publishOf turns a push into a publish: a private push goes to the
// user-limited channel topic#uid; the payload travels as a JSON string
// (TextPayload), as Centrifugo's JSON protocol carries no raw bytes.
func publishOf(d *pushpb.Data) publish {
	ch := d.GetTopic()
	if d.GetUid() != "" {
		ch += "#" + d.GetUid()
	}
	return publish{Channel: ch, Data: json.RawMessage(`"` + string(TextPayload(d.GetData())) + `"`)}
}

// PushData publishes one push.
func (a *centrifugoAPI) PushData(ctx context.Context, d *pushpb.Data, _ ...grpc.CallOption) (*pushpb.PushReply, error) {
	var r struct {
		Error *apiError `json:"error"`
	}
	if err := a.call(ctx, "publish", publishOf(d), &r); err != nil {
		return nil, err
	}
	if r.Error != nil {
		return nil, r.Error
	}
	return &pushpb.PushReply{}, nil
}

// PushBatch publishes every item with one batch call, in order.
func (a *centrifugoAPI) PushBatch(ctx context.Context, b *pushpb.DataBatch, _ ...grpc.CallOption) (*pushpb.BatchReply, error) {
	type command struct {
		Publish publish `json:"publish"`
	}
	body := struct {
		Commands []command `json:"commands"`
	}{}
	for _, d := range b.GetItems() {
		body.Commands = append(body.Commands, command{Publish: publishOf(d)})
	}
	var r struct {
		Replies []struct {
			Error *apiError `json:"error"`
		} `json:"replies"`
	}
	if err := a.call(ctx, "batch", body, &r); err != nil {
		return nil, err
	}
	rep := &pushpb.BatchReply{}
	for i, x := range r.Replies {
		if x.Error != nil {
			rep.Errors = append(rep.Errors, &pushpb.ItemError{Index: uint32(i), Message: x.Error.Error()})
		}
	}
	return rep, nil
}

// PushStream is not available: Centrifugo publishes by unary calls only.
func (a *centrifugoAPI) PushStream(context.Context, ...grpc.CallOption) (pushpb.Push_PushStreamClient, error) {
	return nil, ErrNoStream
}

// apiError is an error a Centrifugo API reply carries.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("centrifugo: %d %s", e.Code, e.Message) }

// call posts one API method and decodes its reply into out.
func (a *centrifugoAPI) call(ctx context.Context, method string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/api/"+method, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", a.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("centrifugo %s: status %d: %s", method, resp.StatusCode, bytes.TrimSpace(b))
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// memory forces a collection (the pprof heap handler's gc=1) and reads
// the Go runtime's figures from the Prometheus endpoint and VmRSS from
// /proc. Centrifugo returns no free memory to the OS on demand, so its RSS
// is not comparable with gpushd's (taken after FreeOSMemory); heap and
// stacks are.
func (a *centrifugoAPI) memory(pid int) (MemoryReport, error) {
	var m MemoryReport
	if err := a.get("/debug/pprof/heap?gc=1", io.Discard); err != nil {
		return m, err
	}
	var metrics bytes.Buffer
	if err := a.get("/metrics", &metrics); err != nil {
		return m, err
	}
	vals := promValues(metrics.Bytes(), "go_goroutines", "go_memstats_heap_alloc_bytes", "go_memstats_stack_inuse_bytes", "centrifugo_node_num_clients")
	m.Goroutines = int(vals[0])
	m.HeapBytes, m.StackBytes, m.Conns = uint64(vals[1]), uint64(vals[2]), int64(vals[3])
	st, err := SampleProc(pid)
	if err != nil {
		return m, err
	}
	m.RSSBytes = uint64(st.RSSBytes)
	return m, nil
}

// get copies a GET's body into w.
func (a *centrifugoAPI) get(path string, w io.Writer) error {
	resp, err := a.http.Get(a.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("centrifugo GET %s: status %d", path, resp.StatusCode)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// promValues reads the unlabelled samples of the named metrics from a
// Prometheus text exposition, NaN-free: an absent metric reads 0.
func promValues(text []byte, names ...string) []float64 {
	out := make([]float64, len(names))
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		for i, n := range names {
			if name == n {
				out[i], _ = strconv.ParseFloat(strings.TrimSpace(val), 64)
			}
		}
	}
	return out
}
