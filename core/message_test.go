package core

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pushMessage is a JSON push as a client decodes it; pointers tell absent
// fields from empty ones.
type pushMessage struct {
	Code  int     `json:"code"`
	Topic *string `json:"topic"`
	Data  string  `json:"data"`
}

func TestFormatEncodeJSON(t *testing.T) {
	big := strings.Repeat("\x00\xff", 40000) // encodes past 64 KiB: 64-bit length
	cases := []struct {
		name  string
		push  Push
		code  Op
		topic string // "" = no topic field
	}{
		{"broadcast", Push{Data: []byte("数据")}, OpPushAll, ""},
		{"public topic", Push{Topic: "test", Data: []byte("数据")}, OpPushTopic, "test"},
		{"private topic", Push{UID: "alice", Topic: "orders", Data: []byte(`{"id":1}`)}, OpPushPrivate, "orders"},
		{"every topic byte", Push{Topic: "A-z_0.9:/", Data: []byte("x")}, OpPushTopic, "A-z_0.9:/"},
		{"empty payload", Push{Topic: "t"}, OpPushTopic, "t"},
		{"binary payload", Push{Data: []byte{0, 1, 0xfe, 0xff}}, OpPushAll, ""},
		{"large payload", Push{Topic: "t", Data: []byte(big)}, OpPushTopic, "t"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := parseFrames(t, FormatJSON.Encode(tc.push))
			require.Len(t, fs, 1, "one frame")
			assert.Equal(t, OpcodeText, fs[0].op, "JSON pushes are text frames")
			var m pushMessage
			require.NoError(t, json.Unmarshal(fs[0].payload, &m), "the payload is JSON: %.100s", fs[0].payload)
			assert.Equal(t, int(tc.code), m.Code, "the code")
			if tc.topic == "" {
				assert.Nil(t, m.Topic, "no topic field")
			} else if assert.NotNil(t, m.Topic, "a topic field") {
				assert.Equal(t, tc.topic, *m.Topic, "the topic")
			}
			data, err := base64.StdEncoding.DecodeString(m.Data)
			require.NoError(t, err, "data is standard base64")
			assert.Equal(t, string(tc.push.Data), string(data), "data decodes to the pushed bytes")
			assert.NotContains(t, string(fs[0].payload), "alice", "the uid never goes on the wire")
		})
	}
}

func TestFormatEncodeJSONGolden(t *testing.T) {
	got := FormatJSON.Encode(Push{Topic: "test", Data: []byte("数据")})
	assert.Equal(t, AppendFrame(nil, OpcodeText, []byte(`{"code":7,"topic":"test","data":"5pWw5o2u"}`)), got,
		"the example of docs/protocol.md, byte for byte")
}

func TestFormatEncodeRaw(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		op   byte
	}{
		{"UTF-8 text", []byte("hello, 世界"), OpcodeText},
		{"empty", nil, OpcodeText},
		{"invalid UTF-8", []byte{'a', 0xff, 'b'}, OpcodeBinary},
		{"truncated rune", []byte("世")[:2], OpcodeBinary},
		{"large text", []byte(strings.Repeat("z", 70000)), OpcodeText},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []Push{{Data: tc.data}, {Topic: "t", Data: tc.data}, {UID: "u", Topic: "t", Data: tc.data}} {
				fs := parseFrames(t, FormatRaw.Encode(p))
				require.Len(t, fs, 1, "one frame")
				assert.Equal(t, tc.op, fs[0].op, "the opcode for target %v", p.Target())
				assert.Equal(t, string(tc.data), string(fs[0].payload), "the bytes as they are, target %v", p.Target())
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	cases := []struct {
		in   string
		want Format
		ok   bool
	}{
		{"json", FormatJSON, true},
		{"", FormatJSON, true},
		{"raw", FormatRaw, true},
		{"RAW", FormatJSON, false},
		{"xml", FormatJSON, false},
	}
	for _, tc := range cases {
		f, ok := ParseFormat(tc.in)
		assert.Equal(t, tc.ok, ok, "ParseFormat(%q) ok", tc.in)
		assert.Equal(t, tc.want, f, "ParseFormat(%q)", tc.in)
	}
	assert.Equal(t, "json", FormatJSON.String(), "String of FormatJSON")
	assert.Equal(t, "raw", FormatRaw.String(), "String of FormatRaw")
}
