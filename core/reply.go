package core

import (
	"encoding/json"
)

// Reply statuses.
const (
	StatusOK           = 0
	StatusBadRequest   = 400
	StatusUnauthorized = 401
	StatusTooMany      = 429
	StatusServerError  = 500
)

// Reply is the server's answer to one request.
type Reply struct {
	Code    Op              `json:"code"`
	ID      json.RawMessage `json:"id,omitempty"`
	Topic   string          `json:"topic,omitempty"`
	Status  int             `json:"status"`
	Message string          `json:"message,omitempty"`
	// A successful subscribe's position with history on (docs/protocol.md,
	// History and recovery): the channel's last offset, even 0, and epoch.
	Offset *uint64 `json:"offset,omitempty"`
	Epoch  string  `json:"epoch,omitempty"`
	// Recovered answers a successful subscribe's since; nil without one.
	Recovered *bool `json:"recovered,omitempty"`
}

// Frame encodes the reply as one WebSocket text frame.
func (r Reply) Frame() []byte {
	b, err := json.Marshal(r)
	if err != nil { // only an ID that is not JSON could fail, and DecodeRequest compacts it
		r.ID = nil
		b, _ = json.Marshal(r)
	}
	return AppendFrame(nil, OpcodeText, b)
}
