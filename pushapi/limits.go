package pushapi

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// Defaults of the whole-call limits (docs/protocol.md, Limits).
const (
	DefaultMaxBody     = 4 << 20          // HTTP body and gRPC message, bytes
	DefaultBodyTimeout = 10 * time.Second // time to receive an HTTP body
	DefaultMaxMetadata = 64 << 10         // gRPC header list, bytes
)

// withDefaults fills the zero limits of cfg.
func (cfg Config) withDefaults() Config {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	if cfg.MaxMetadata <= 0 {
		cfg.MaxMetadata = DefaultMaxMetadata
	}
	return cfg
}

// grpcLimits are the server options that give every gRPC method the
// receive limits of the HTTP API: the message size (ResourceExhausted
// beyond) and the header list a client may send.
func grpcLimits(cfg Config) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxBody),
		grpc.MaxHeaderListSize(uint32(cfg.MaxMetadata)),
	}
}

// guard runs the whole-call checks of every HTTP push API route before
// the gateway sees the request, in PROTOCOL order: the API key (401) before
// a byte of the body is read, the content type (415), then the body, read
// whole within the body timeout (408) and never past the limit (413). A
// refused call closes the connection and does not read the rest of the
// body.
type guard struct {
	cfg    Config
	next   http.Handler
	failed func(codes.Code)
}

// Call errors of the guard.
var (
	errBodyTooLarge = errors.New("request body too large")
	errBodyTimeout  = errors.New("request body not received in time")
)

func (g guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(g.cfg.BodyTimeout)) // bounds every read of this request, also net/http's own
	body, no := g.check(r)
	if no != nil {
		g.refuse(w, rc, no)
		return
	}
	rc.SetReadDeadline(time.Time{})
	r.Body = io.NopCloser(bytes.NewReader(body))
	g.next.ServeHTTP(w, r)
}

// refusal is a whole-call refusal: its HTTP status, the gRPC code the
// error metric counts, and the message.
type refusal struct {
	status int
	code   codes.Code
	msg    string
}

// check runs the whole-call checks in order and returns the body read, or
// the first refusal.
func (g guard) check(r *http.Request) ([]byte, *refusal) {
	if g.cfg.APIKey != "" && !BearerKey(r.Header.Get("Authorization"), g.cfg.APIKey) {
		return nil, &refusal{http.StatusUnauthorized, codes.Unauthenticated, "missing or wrong API key: send Authorization: Bearer <key>"}
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return nil, &refusal{http.StatusUnsupportedMediaType, codes.InvalidArgument, "Content-Type must be application/json"}
	}
	body, err := readBody(r, g.cfg.MaxBody)
	switch {
	case errors.Is(err, errBodyTooLarge):
		return nil, &refusal{http.StatusRequestEntityTooLarge, codes.ResourceExhausted, "request body over " + strconv.Itoa(g.cfg.MaxBody) + " bytes"}
	case errors.Is(err, errBodyTimeout):
		return nil, &refusal{http.StatusRequestTimeout, codes.DeadlineExceeded, "request body not received within " + g.cfg.BodyTimeout.String()}
	case err != nil:
		return nil, &refusal{http.StatusBadRequest, codes.InvalidArgument, "reading the request body: " + err.Error()}
	}
	return body, nil
}

// refuse answers a whole-call refusal and closes the connection without
// reading what is left of the body.
func (g guard) refuse(w http.ResponseWriter, rc *http.ResponseController, no *refusal) {
	if g.failed != nil {
		g.failed(no.code)
	}
	w.Header().Set("Connection", "close")
	http.Error(w, no.msg, no.status)
	rc.Flush()
	rc.SetReadDeadline(time.Now()) // net/http would otherwise read on to discard the body
}

// isJSON reports whether a Content-Type is application/json, parameters
// (charset) allowed.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// readBody reads r's body whole: errBodyTooLarge as soon as it passes max
// bytes (at once when Content-Length says so), errBodyTimeout when the read
// deadline passes first.
func readBody(r *http.Request, max int) ([]byte, error) {
	if r.ContentLength > int64(max) {
		return nil, errBodyTooLarge
	}
	size := 512 // grown as bytes arrive: an announced length alone reserves little
	if r.ContentLength > 0 {
		size = int(min(r.ContentLength+1, 64<<10))
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	n, err := buf.ReadFrom(io.LimitReader(r.Body, int64(max)+1))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, errBodyTimeout
	case err != nil:
		return nil, err
	case n > int64(max):
		return nil, errBodyTooLarge
	}
	return buf.Bytes(), nil
}
