package core

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// Format is how pushed bytes appear on the wire.
type Format uint8

const (
	// FormatJSON wraps the payload as {"code":7|8|9,"topic":...,"data":"<base64>"}.
	FormatJSON Format = iota
	// FormatRaw sends the payload as it is: a text frame when it is valid
	// UTF-8, else a binary frame.
	FormatRaw
)

// ParseFormat parses "json" or "raw".
func ParseFormat(s string) (Format, bool) {
	switch s {
	case "json", "":
		return FormatJSON, true
	case "raw":
		return FormatRaw, true
	}
	return FormatJSON, false
}

// String returns "json" or "raw".
func (f Format) String() string {
	if f == FormatRaw {
		return "raw"
	}
	return "json"
}

// Encode turns a push into the exact frame bytes every recipient gets. It
// runs once per push; the result is shared, and nobody may modify it.
func (f Format) Encode(p Push) []byte { return f.encode(p, 0) }

// encode is Encode with the push's offset in its channel (history on), 0
// for none. The raw format carries no offset.
func (f Format) encode(p Push, offset uint64) []byte {
	if f == FormatRaw {
		op := OpcodeBinary
		if utf8.Valid(p.Data) {
			op = OpcodeText
		}
		return AppendFrame(make([]byte, 0, len(p.Data)+10), op, p.Data)
	}
	code := OpPushAll
	switch p.Target() {
	case TargetTopic:
		code = OpPushTopic
	case TargetUser:
		code = OpPushPrivate
	}
	n := 64 + len(p.Topic) + base64.StdEncoding.EncodedLen(len(p.Data))
	body := make([]byte, 0, n)
	body = append(body, `{"code":`...)
	body = strconv.AppendInt(body, int64(code), 10)
	if p.Topic != "" { // a validated topic needs no JSON escaping
		body = append(body, `,"topic":"`...)
		body = append(body, p.Topic...)
		body = append(body, '"')
	}
	if offset > 0 {
		body = append(body, `,"offset":`...)
		body = strconv.AppendUint(body, offset, 10)
	}
	body = append(body, `,"data":"`...)
	body = base64.StdEncoding.AppendEncode(body, p.Data)
	body = append(body, `"}`...)
	return AppendFrame(make([]byte, 0, len(body)+10), OpcodeText, body)
}
