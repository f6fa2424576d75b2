package core

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReplyFrame(t *testing.T) {
	long := strings.Repeat("m", 200)
	cases := []struct {
		name  string
		reply Reply
		json  string
	}{
		{"done with id and topic", Reply{Code: OpSubscribe, ID: json.RawMessage(`17`), Topic: "test", Status: StatusOK},
			`{"code":1,"id":17,"topic":"test","status":0}`},
		{"string id", Reply{Code: OpUnsubscribe, ID: json.RawMessage(`"a-1"`), Topic: "t", Status: StatusOK},
			`{"code":2,"id":"a-1","topic":"t","status":0}`},
		{"no id", Reply{Code: OpSubscribePrivate, Topic: "orders", Status: StatusUnauthorized, Message: "login required"},
			`{"code":5,"topic":"orders","status":401,"message":"login required"}`},
		{"code 0", Reply{Status: StatusBadRequest, Message: "malformed JSON"},
			`{"code":0,"status":400,"message":"malformed JSON"}`},
		{"expiry notice", Reply{Code: OpLogout, Status: StatusUnauthorized, Message: "credential expired"},
			`{"code":4,"status":401,"message":"credential expired"}`},
		{"id that is not JSON is dropped", Reply{Code: OpLogout, ID: json.RawMessage(`{`), Status: StatusOK},
			`{"code":4,"status":0}`},
		{"long message: 16-bit length", Reply{Code: OpLogin, Status: StatusServerError, Message: long},
			`{"code":3,"status":500,"message":"` + long + `"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.reply.Frame()
			fs := parseFrames(t, b)
			require.Len(t, fs, 1, "one frame")
			assert.Equal(t, OpcodeText, fs[0].op, "a text frame")
			assert.Equal(t, tc.json, string(fs[0].payload), "the reply JSON")
			assert.Equal(t, AppendFrame(nil, OpcodeText, []byte(tc.json)), b, "the exact frame bytes")
		})
	}
}

func TestAppendFrameHeaders(t *testing.T) {
	cases := []struct {
		n      int
		header []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{0xFFFF, []byte{0x81, 126, 0xFF, 0xFF}},
		{0x10000, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, tc := range cases {
		payload := make([]byte, tc.n)
		b := AppendFrame([]byte("pre"), OpcodeText, payload)
		assert.Equal(t, "pre", string(b[:3]), "n=%d: appends to dst", tc.n)
		assert.Equal(t, tc.header, b[3:3+len(tc.header)], "n=%d: the header", tc.n)
		assert.Len(t, b, 3+len(tc.header)+tc.n, "n=%d: header and payload", tc.n)
	}
}

func TestCloseFrame(t *testing.T) {
	fs := parseFrames(t, CloseFrame(ClosePolicy, "slow consumer"))
	require.Len(t, fs, 1, "one frame")
	assert.Equal(t, OpcodeClose, fs[0].op, "a close frame")
	code, reason := fs[0].closeCode()
	assert.Equal(t, ClosePolicy, code, "the status code")
	assert.Equal(t, "slow consumer", reason, "the reason")
}
