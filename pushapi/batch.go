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

// PushBatch implements pushpb.PushServer: the whole-call checks (API key,
// item count), then each item's, then one publish of every accepted item in
// item order. The reply lists the refused items by index, ascending.
func (s *service) PushBatch(ctx context.Context, b *pushpb.DataBatch) (*pushpb.BatchReply, error) {
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	items := b.GetItems()
	if len(items) > s.cfg.MaxBatch {
		return nil, status.Errorf(codes.InvalidArgument, "batch of %d items is over the limit of %d", len(items), s.cfg.MaxBatch)
	}
	ps := make([]core.Push, 0, len(items))
	reply := &pushpb.BatchReply{} // JSON: "errors":[] when empty
	for i, d := range items {
		p := toPush(d)
		if err := p.Check(s.cfg.MaxPayload); err != nil {
			reply.Errors = append(reply.Errors, itemError(uint32(i), err))
			continue
		}
		ps = append(ps, p)
	}
	if err := s.publishAll(ctx, ps); err != nil {
		return nil, publishError(err)
	}
	return reply, nil
}

// publishAll hands ps to the publisher in one call when it takes batches,
// else one after another.
func (s *service) publishAll(ctx context.Context, ps []core.Push) error {
	if len(ps) == 0 {
		return nil
	}
	if bp, ok := s.pub.(core.BatchPublisher); ok {
		return bp.PublishBatch(ctx, ps)
	}
	for _, p := range ps {
		if err := s.pub.Publish(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func itemError(i uint32, err error) *pushpb.ItemError {
	return &pushpb.ItemError{Index: i, Message: err.Error()}
}

// errStreamTooLong ends a stream whose item index would overflow uint32.
var errStreamTooLong = errors.New("stream over 2^32 items: end it and open another")

// PushStream implements pushpb.PushServer: each item is checked and, when
// accepted, published before the next is read, so items reach every
// connection in stream order. The reply, sent when the client closes its
// side, lists the refused items by their index in the stream.
func (s *service) PushStream(stream pushpb.Push_PushStreamServer) error {
	ctx := stream.Context()
	if err := s.authorize(ctx); err != nil {
		return err
	}
	reply := &pushpb.BatchReply{}
	// d is reused: Unmarshal resets it and copies the payload out.
	var d pushpb.Data
	for i := uint64(0); ; i++ {
		err := stream.RecvMsg(&d)
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(reply)
		}
		if err != nil {
			return err
		}
		if err := s.streamItem(ctx, reply, i, toPush(&d)); err != nil {
			return err
		}
	}
}

// streamItem checks and publishes the item at index i of a stream, or lists
// it in reply as refused. An error ends the stream.
func (s *service) streamItem(ctx context.Context, reply *pushpb.BatchReply, i uint64, p core.Push) error {
	if i > math.MaxUint32 {
		return status.Error(codes.InvalidArgument, errStreamTooLong.Error())
	}
	if err := p.Check(s.cfg.MaxPayload); err != nil {
		if len(reply.Errors) == MaxStreamErrors {
			return status.Error(codes.InvalidArgument, fmt.Sprintf(
				"item %d is the stream's refused item number %d, over the limit of %d: items before it were handled, none after", i, MaxStreamErrors+1, MaxStreamErrors))
		}
		reply.Errors = append(reply.Errors, itemError(uint32(i), err))
		return nil
	}
	if err := s.pub.Publish(ctx, p); err != nil {
		return publishError(err)
	}
	return nil
}
