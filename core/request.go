package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Op is a client request code.
type Op int

// Client request codes, and the codes of unsolicited server messages.
const (
	OpInvalid          Op = 0
	OpSubscribe        Op = 1
	OpUnsubscribe      Op = 2
	OpLogin            Op = 3
	OpLogout           Op = 4
	OpSubscribePrivate Op = 5
	OpUnsubscribePriv  Op = 6
	OpPushTopic        Op = 7
	OpPushPrivate      Op = 8
	OpPushAll          Op = 9
)

// Request is one decoded client message.
type Request struct {
	Code  Op
	Topic string
	Cred  string          // data of a login: the credential
	ID    json.RawMessage // echoed verbatim in the reply; nil when absent
	Since *Since          // a subscribe's since (codes 1 and 5); nil when absent

	limited bool // over the rate limit when it arrived (Admit): answered 429
}

type wireRequest struct {
	Code  json.RawMessage `json:"code"`
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data"`
	ID    json.RawMessage `json:"id"`
	Since json.RawMessage `json:"since"`
}

// ErrBadSince: a subscribe's since is not {"offset": N, "epoch": "E"}.
var ErrBadSince = errors.New("since must be an object with a non-negative integer offset below 2^53 and a string epoch")

// DecodeRequest parses one client text message. On error the returned
// Request still carries what could be read (ID, and Code when it was a valid
// number), so that the reply can echo them.
func DecodeRequest(msg []byte) (Request, error) {
	var w wireRequest
	err := json.Unmarshal(msg, &w)
	var te *json.UnmarshalTypeError // a field of the wrong type: the rest was read
	if err != nil && (!errors.As(err, &te) || te.Field == "") {
		return Request{}, fmt.Errorf("malformed JSON: %s", jsonErrText(err))
	}
	r := Request{Topic: w.Topic, ID: compactID(w.ID)}
	if len(w.Code) == 0 {
		return r, fmt.Errorf("missing code")
	}
	var code int
	if err := json.Unmarshal(w.Code, &code); err != nil {
		return r, fmt.Errorf("code must be an integer")
	}
	r.Code = Op(code)
	if r.Code < OpSubscribe || r.Code > OpUnsubscribePriv {
		c := r.Code
		r.Code = OpInvalid
		return r, fmt.Errorf("unknown code %d", c)
	}
	if te != nil {
		return r, fmt.Errorf("%s must be a %s", te.Field, te.Type)
	}
	if r.Code == OpLogin {
		if len(w.Data) == 0 || w.Data[0] != '"' || json.Unmarshal(w.Data, &r.Cred) != nil {
			return r, fmt.Errorf("login data must be a credential string")
		}
	}
	if r.Code == OpSubscribe || r.Code == OpSubscribePrivate {
		since, err := decodeSince(w.Since)
		if err != nil {
			return r, err
		}
		r.Since = since
	}
	return r, nil
}

// decodeSince parses a subscribe's since; absent (or null) gives nil.
func decodeSince(raw json.RawMessage) (*Since, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var w struct {
		Offset json.RawMessage `json:"offset"`
		Epoch  json.RawMessage `json:"epoch"`
	}
	if raw[0] != '{' || json.Unmarshal(raw, &w) != nil {
		return nil, ErrBadSince
	}
	off, err := strconv.ParseUint(string(w.Offset), 10, 64) // digits only: no sign, fraction or exponent
	if err != nil || off >= 1<<53 {
		return nil, ErrBadSince
	}
	var s Since
	if len(w.Epoch) == 0 || w.Epoch[0] != '"' || json.Unmarshal(w.Epoch, &s.Epoch) != nil {
		return nil, ErrBadSince
	}
	s.Offset = off
	return &s, nil
}

func compactID(id json.RawMessage) json.RawMessage {
	if len(id) == 0 || bytes.Equal(id, []byte("null")) {
		return nil
	}
	var b bytes.Buffer
	if json.Compact(&b, id) != nil {
		return nil
	}
	return b.Bytes()
}

func jsonErrText(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset)
	}
	return err.Error()
}

// NeedsLogin reports whether op requires a logged-in connection.
func (o Op) NeedsLogin() bool {
	return o == OpLogout || o == OpSubscribePrivate || o == OpUnsubscribePriv
}

// NeedsTopic reports whether op requires a topic.
func (o Op) NeedsTopic() bool {
	return o == OpSubscribe || o == OpUnsubscribe || o == OpSubscribePrivate || o == OpUnsubscribePriv
}

// MayBlock reports whether applying r may wait on something outside the
// server (a login's Authenticator), so that an event loop hands it to a
// goroutine instead of applying it in place.
func (r Request) MayBlock() bool { return r.Code == OpLogin }
