package harness

import (
	"bytes"
	"strconv"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/core/wsframe/wsclient"
)

// Centrifugo's JSON client protocol, as the generators speak it: commands
// and replies are JSON objects, several to a frame, one per line; a
// connect command first, then a subscribe per channel, each answered by a
// reply with its id; publications arrive as {"push":{"channel":...,
// "pub":{"data":...}}} lines, several per frame when the server coalesces;
// an empty object is a ping, answered with an empty object.

// centrifugoPong answers a ping.
var centrifugoPong = wsframe.AppendMaskedFrame(nil, ws.OpText, true, wsclient.Mask, []byte("{}"))

// centrifugoRequests is subscriber idx's connect and subscribe commands in
// one frame, and how many replies they ask for. A private subscriber
// connects as user idx+1 with a token and subscribes to its user-limited
// channel private#u<idx+1>.
func (sub *subscriber) centrifugoRequests(c Cmd, idx int) ([]byte, int, error) {
	connect := `{}`
	var channels []string
	for j := 0; j < c.PerConn && len(c.Topics) > 0; j++ {
		channels = append(channels, c.Topics[(idx+j)%len(c.Topics)])
	}
	if c.Private != "" {
		sub.user = uint32(idx + 1)
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: UserName(sub.user)}).SignedString([]byte(c.Secret))
		if err != nil {
			return nil, 0, err
		}
		connect = `{"token":"` + tok + `"}`
		channels = append(channels, c.Private+"#"+UserName(sub.user))
	}
	body := []byte(`{"id":1,"connect":` + connect + `}`)
	for i, ch := range channels {
		body = append(body, "\n{\"id\":"+strconv.Itoa(i+2)+`,"subscribe":{"channel":"`+ch+`"}}`...)
	}
	return wsframe.AppendMaskedFrame(nil, ws.OpText, true, wsclient.Mask, body), len(channels) + 1, nil
}

// centrifugoFrame handles every line of one frame: replies, pings and
// publications.
func (s *subscribers) centrifugoFrame(sub *subscriber, p []byte, now uint64) {
	for len(p) > 0 {
		line, rest, _ := bytes.Cut(p, []byte{'\n'})
		p = rest
		switch {
		case bytes.HasPrefix(line, []byte(`{"push"`)):
			if sent, topic, seq, user, ok := centrifugoPub(line); ok {
				s.count(sub, sent, topic, seq, user, now)
			}
		case bytes.Equal(bytes.TrimSpace(line), []byte("{}")):
			sub.c.Write(centrifugoPong)
		case len(line) > 0:
			sub.ack(centrifugoStatus(line))
		}
	}
}

// centrifugoStatus is a reply's status: 0, or 1 when it carries an error.
func centrifugoStatus(line []byte) int {
	if bytes.Contains(line, []byte(`"error"`)) {
		return 1
	}
	return 0
}

// centrifugoPub reads a publication's payload fields from its data string.
func centrifugoPub(line []byte) (sent uint64, topic uint16, seq, user uint32, ok bool) {
	const key = `"data":"`
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return 0, 0, 0, 0, false
	}
	return ParseTextPayload(line[i+len(key):])
}

// TextPayload is a payload's header written as text, "sent.topic.seq.user.",
// padded with 'x' to the payload's length: what a JSON string can carry
// where gpushd carries the raw bytes.
func TextPayload(p []byte) []byte {
	sent, topic, seq, user, ok := payloadFields(p)
	if !ok {
		return bytes.Repeat([]byte{'x'}, len(p))
	}
	b := strconv.AppendUint(nil, sent, 10)
	for _, v := range []uint64{uint64(topic), uint64(seq), uint64(user)} {
		b = strconv.AppendUint(append(b, '.'), v, 10)
	}
	b = append(b, '.')
	for len(b) < len(p) {
		b = append(b, 'x')
	}
	return b
}

// ParseTextPayload reads TextPayload's fields back from the start of b.
func ParseTextPayload(b []byte) (sent uint64, topic uint16, seq, user uint32, ok bool) {
	var v [4]uint64
	for i := range v {
		n := 0
		for n < len(b) && b[n] >= '0' && b[n] <= '9' {
			v[i] = v[i]*10 + uint64(b[n]-'0')
			n++
		}
		if n == 0 || n == len(b) || b[n] != '.' {
			return 0, 0, 0, 0, false
		}
		b = b[n+1:]
	}
	return v[0], uint16(v[1]), uint32(v[2]), uint32(v[3]), true
}
