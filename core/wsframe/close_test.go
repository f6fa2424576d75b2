package wsframe

import (
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseClose(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		code    ws.StatusCode
		reason  string
		err     error
	}{
		{name: "empty", payload: "", code: ws.StatusNoStatusRcvd},
		{name: "code only", payload: closeBody(1000, ""), code: 1000},
		{name: "code and reason", payload: closeBody(4001, "bye ✓"), code: 4001, reason: "bye ✓"},
		{name: "one byte", payload: "\x03", err: ErrCloseLength},
		{name: "reserved 1004", payload: closeBody(1004, ""), err: ErrCloseCode},
		{name: "no status 1005", payload: closeBody(1005, ""), err: ErrCloseCode},
		{name: "abnormal 1006", payload: closeBody(1006, ""), err: ErrCloseCode},
		{name: "tls 1015", payload: closeBody(1015, ""), err: ErrCloseCode},
		{name: "unassigned 2000", payload: closeBody(2000, ""), err: ErrCloseCode},
		{name: "over 4999", payload: closeBody(5000, ""), err: ErrCloseCode},
		{name: "bad reason", payload: closeBody(1000, "\xC0\xAF"), err: ErrCloseReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason, err := ParseClose([]byte(tt.payload))
			if tt.err != nil {
				assert.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.code, code)
			assert.Equal(t, tt.reason, reason)
		})
	}
}

func TestValidCloseCode(t *testing.T) {
	valid := 0
	for code := range ws.StatusCode(65535) {
		if validCloseCode(code) {
			valid++
		}
	}
	assert.Equal(t, 4+8+2000, valid, "1000-1003, 1007-1014 and 3000-4999")
}

func TestAppendCloseRoundTrip(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	for _, tt := range []struct {
		code   ws.StatusCode
		reason string
		want   string
	}{
		{1000, "", ""},
		{1001, "going away", "going away"},
		{4000, long, long[:122]}, // 61 characters: a cut inside one is moved back
	} {
		frame := AppendClose([]byte("prefix"), tt.code, tt.reason)
		require.Equal(t, "prefix", string(frame[:6]), "AppendClose appends")
		var p Parser
		p.Reset(Config{Client: true})
		var got []byte
		require.NoError(t, p.Feed(frame[6:], func(op ws.OpCode, payload []byte) error {
			assert.Equal(t, ws.OpClose, op)
			got = append(got, payload...)
			return nil
		}))
		code, reason, err := ParseClose(got)
		require.NoError(t, err)
		assert.Equal(t, tt.code, code)
		assert.Equal(t, tt.want, reason)
	}
	assert.Equal(t, []byte{0x88, 0x00}, AppendClose(nil, 0, "ignored"), "code 0: empty close payload")
}
