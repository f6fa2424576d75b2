package pushapi

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/proto/pushpb"
)

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
