package core

import (
	"context"
	"errors"
	"fmt"
)

// ErrInvalidPush is wrapped by every error that Push.Check returns: the push
// API answers it with 400 / InvalidArgument.
var ErrInvalidPush = errors.New("invalid push")

// Target says who a push is for.
type Target uint8

const (
	// TargetAll is every open connection.
	TargetAll Target = iota
	// TargetTopic is every subscriber of a public channel.
	TargetTopic
	// TargetUser is every connection of one user that subscribed to one of
	// its private channels.
	TargetUser
)

// String names the target kind; metrics use it as a label.
func (t Target) String() string {
	switch t {
	case TargetTopic:
		return "topic"
	case TargetUser:
		return "user"
	default:
		return "all"
	}
}

// Push is one message from a back end, as the push API received it.
type Push struct {
	UID   string // user id: push to that user's private channel Topic
	Topic string // channel; empty together with UID: every connection
	Data  []byte // payload
}

// Target derives the delivery target from UID and Topic.
func (p Push) Target() Target {
	switch {
	case p.UID != "":
		return TargetUser
	case p.Topic != "":
		return TargetTopic
	default:
		return TargetAll
	}
}

// Check validates p against the push payload limit. Every error wraps
// ErrInvalidPush and says what is wrong.
func (p Push) Check(maxPayload int) error {
	if p.UID != "" && p.Topic == "" {
		return fmt.Errorf("%w: uid %q given without a topic", ErrInvalidPush, p.UID)
	}
	if len(p.UID) > MaxUIDLen {
		return fmt.Errorf("%w: uid longer than %d bytes", ErrInvalidPush, MaxUIDLen)
	}
	if p.Topic != "" {
		if err := CheckTopic(p.Topic); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidPush, err)
		}
	}
	if maxPayload > 0 && len(p.Data) > maxPayload {
		return fmt.Errorf("%w: payload of %d bytes is over the limit of %d", ErrInvalidPush, len(p.Data), maxPayload)
	}
	return nil
}

// Publisher accepts pushes for delivery: the push API calls it.
type Publisher interface {
	Publish(ctx context.Context, p Push) error
}

// BatchPublisher is a Publisher that also takes many pushes in one call, an
// optional capability the push API finds by type assertion: a broker can
// then confirm a batch once instead of once per push. PublishBatch pushes ps
// one after another in order, as if each were Published after the previous
// one returned; every p has passed Push.Check. An error means some of ps may
// not have been accepted.
type BatchPublisher interface {
	PublishBatch(ctx context.Context, ps []Push) error
}
