package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gobwas/ws"

	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/internal/memstat"
	"github.com/gpush/gpush/proto/pushpb"
)

// pushAPI is the push API's gRPC surface on the floor: every item goes to
// every subscriber, whatever its topic or uid; a batch is encoded into one
// buffer and appended once per subscriber.
type pushAPI struct {
	pushpb.UnimplementedPushServer
	f *floor
}

// PushData pushes one frame.
func (a pushAPI) PushData(_ context.Context, d *pushpb.Data) (*pushpb.PushReply, error) {
	a.f.push(frame(nil, d))
	return &pushpb.PushReply{}, nil
}

// PushBatch pushes every item, coalesced into one append per subscriber.
func (a pushAPI) PushBatch(_ context.Context, b *pushpb.DataBatch) (*pushpb.BatchReply, error) {
	var frames []byte
	for _, d := range b.GetItems() {
		frames = frame(frames, d)
	}
	a.f.push(frames)
	return &pushpb.BatchReply{}, nil
}

// PushStream pushes each item as it arrives.
func (a pushAPI) PushStream(s pushpb.Push_PushStreamServer) error {
	for {
		d, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return s.SendAndClose(&pushpb.BatchReply{})
		}
		if err != nil {
			return err
		}
		a.f.push(frame(nil, d))
	}
}

// frame appends d's payload as one binary frame, as gpushd's raw push
// format sends it.
func frame(b []byte, d *pushpb.Data) []byte {
	return wsframe.AppendFrame(b, ws.OpBinary, true, d.GetData())
}

// control serves /readyz and /debug/gpush/memory (after a forced GC and a
// return of free memory to the OS, as gpushd does).
func (f *floor) control() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/debug/gpush/memory", func(w http.ResponseWriter, _ *http.Request) {
		rep := struct { // the fields of gpushd's report the floor has
			Conns int64 `json:"conns"`
			memstat.Runtime
		}{f.count.Load(), memstat.Read()}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rep)
	})
	return mux
}
