package pushapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/proto/pushpb"
)

// MaxStreamErrors is the most refused items one PushStream reply lists: a
// stream that refuses more ends with InvalidArgument, so that a client
// sending bad items forever cannot grow the server's memory.
const MaxStreamErrors = 1000

// streamGather is the most received stream items one publish carries.
const streamGather = 256

// errStreamTooLong ends a stream whose item index would overflow uint32.
var errStreamTooLong = errors.New("stream over 2^32 items: end it and open another")

// localPublisher is a Publisher that can say it delivers in-process, in
// the caller's goroutine (core.Hub without a broker).
type localPublisher interface{ Local() bool }

// PushStream implements pushpb.PushServer: items are checked and the
// accepted ones published in stream order; the reply, sent when the client
// closes its side, lists the refused items by their index in the stream.
// A local publisher gets each item before the next is read; a broker gets
// every item received while its previous publish was being confirmed in
// one publish, so a stream is not one round trip per item.
func (s *service) PushStream(stream pushpb.Push_PushStreamServer) error {
	if err := s.authorize(stream.Context()); err != nil {
		return err
	}
	if l, ok := s.pub.(localPublisher); ok && l.Local() {
		return s.streamInTurn(stream)
	}
	return s.streamGathered(stream)
}

// streamInTurn reads, checks and publishes one item at a time.
func (s *service) streamInTurn(stream pushpb.Push_PushStreamServer) error {
	ctx := stream.Context()
	reply := &pushpb.BatchReply{}
	err := s.readStream(stream, reply, func(p core.Push) error {
		if err := s.pub.Publish(ctx, p); err != nil {
			return publishError(err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return stream.SendAndClose(reply)
}

// streamGathered has a reader goroutine receive and check the items while
// this one publishes the accepted ones, each time every item received so
// far (up to streamGather) in one publish.
func (s *service) streamGathered(stream pushpb.Push_PushStreamServer) error {
	ctx := stream.Context()
	in := make(chan core.Push, streamGather)
	done := make(chan struct{})
	defer close(done)
	reply := &pushpb.BatchReply{}
	readErr := make(chan error, 1)
	go func() {
		readErr <- s.readStream(stream, reply, func(p core.Push) error {
			select {
			case in <- p:
				return nil
			case <-done:
				return context.Canceled
			}
		})
		close(in)
	}()
	batch := make([]core.Push, 0, streamGather)
	for p := range in {
		batch = gather(append(batch[:0], p), in)
		if err := s.publishAll(ctx, batch); err != nil {
			return publishError(err)
		}
	}
	// The reader is done: reply is its to read from here on.
	if err := <-readErr; err != nil {
		return err
	}
	return stream.SendAndClose(reply)
}

// gather appends to batch what in holds now, up to streamGather items,
// without waiting.
func gather(batch []core.Push, in <-chan core.Push) []core.Push {
	for len(batch) < streamGather {
		select {
		case p, ok := <-in:
			if !ok {
				return batch
			}
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// readStream receives a stream's items until the client closes its side
// (nil) or an error ends the stream, lists refused items in reply, and
// hands accepted ones to accept, whose error ends the stream.
func (s *service) readStream(stream pushpb.Push_PushStreamServer, reply *pushpb.BatchReply, accept func(core.Push) error) error {
	// d is reused: Unmarshal resets it and copies the payload out.
	var d pushpb.Data
	for i := uint64(0); ; i++ {
		err := stream.RecvMsg(&d)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := toPush(&d)
		ok, err := s.streamItem(reply, i, p)
		if err != nil {
			return err
		}
		if ok {
			if err := accept(p); err != nil {
				return err
			}
		}
	}
}

// streamItem checks the item at index i of a stream: ok when accepted, else
// listed in reply as refused. An error ends the stream.
func (s *service) streamItem(reply *pushpb.BatchReply, i uint64, p core.Push) (ok bool, err error) {
	if i > math.MaxUint32 {
		return false, status.Error(codes.InvalidArgument, errStreamTooLong.Error())
	}
	if err := p.Check(s.cfg.MaxPayload); err != nil {
		if len(reply.Errors) == MaxStreamErrors {
			return false, status.Error(codes.InvalidArgument, fmt.Sprintf(
				"item %d is the stream's refused item number %d, over the limit of %d: items before it were handled, none after", i, MaxStreamErrors+1, MaxStreamErrors))
		}
		reply.Errors = append(reply.Errors, itemError(uint32(i), err))
		return false, nil
	}
	return true, nil
}
