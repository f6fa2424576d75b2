package wsframe

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// splitSizes cover each length form and both sides of each boundary.
var splitSizes = []int{0, 1, 125, 126, 65535, 65536}

func TestCutEveryLengthForm(t *testing.T) {
	mask := [4]byte{9, 8, 7, 6}
	for _, n := range splitSizes {
		payload := bytes.Repeat([]byte{'p'}, n)
		stream := AppendFrame(nil, ws.OpText, true, payload)
		first := len(stream)
		stream = AppendMaskedFrame(stream, ws.OpBinary, false, mask, payload)
		stream = append(stream, 0x89) // the start of a third frame

		h, p, used := Cut(stream)
		require.Equal(t, first, used, "length %d: the first frame's span", n)
		assert.Equal(t, ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(n)}, h)
		assert.Equal(t, payload, p)

		h, p, used = Cut(stream[first:])
		require.Equal(t, len(stream)-first-1, used, "length %d: the masked frame's span", n)
		assert.Equal(t, ws.Header{OpCode: ws.OpBinary, Masked: true, Mask: mask, Length: int64(n)}, h)
		assert.Equal(t, payload, p, "unmasked in place")

		_, _, used = Cut(stream[first+used:])
		assert.Zero(t, used, "a lone first byte is no frame")
	}
}

func TestCutWaitsForTheWholeFrame(t *testing.T) {
	frame := AppendFrame(nil, ws.OpBinary, true, bytes.Repeat([]byte{'x'}, 300))
	for i := range len(frame) {
		_, _, n := Cut(frame[:i])
		require.Zero(t, n, "a frame cut after %d of %d bytes", i, len(frame))
	}
	h, _, n := Cut(frame)
	assert.Equal(t, len(frame), n)
	assert.Equal(t, []byte{0x82, 0x7E, 0x01, 0x2C}, frame[:4], "the header Cut read")
	assert.Equal(t, int64(300), h.Length)
}

func TestCutHugeLengthIsIncomplete(t *testing.T) {
	b := []byte{0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 'x'}
	_, _, n := Cut(b)
	assert.Zero(t, n, "a 2^63-1 byte payload is never whole")
}

// TestReaderEveryLengthForm reads frames that fit the read buffer and
// frames that do not.
func TestReaderEveryLengthForm(t *testing.T) {
	var stream []byte
	for _, n := range splitSizes {
		stream = AppendFrame(stream, ws.OpBinary, true, bytes.Repeat([]byte{byte(n)}, n))
	}
	stream = AppendMaskedFrame(stream, ws.OpText, true, [4]byte{1, 2, 3, 4}, []byte("masked"))
	r := Reader{R: bufio.NewReaderSize(bytes.NewReader(stream), 256), Max: 1 << 20}
	for _, n := range splitSizes {
		h, p, err := r.Next()
		require.NoError(t, err, "length %d", n)
		assert.Equal(t, ws.OpBinary, h.OpCode)
		assert.Equal(t, bytes.Repeat([]byte{byte(n)}, n), p, "length %d", n)
	}
	h, p, err := r.Next()
	require.NoError(t, err)
	assert.True(t, h.Masked)
	assert.Equal(t, "masked", string(p))
	_, _, err = r.Next()
	assert.ErrorIs(t, err, io.EOF, "the stream ended at a frame boundary")
}

// pauses serves its chunks one a read, failing once (like a passed read
// deadline) before each.
type pauses struct {
	chunks [][]byte
	failed bool
}

var errPause = errors.New("pause")

func (s *pauses) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	if !s.failed {
		s.failed = true
		return 0, errPause
	}
	s.failed = false
	n := copy(p, s.chunks[0])
	s.chunks = s.chunks[1:]
	return n, nil
}

func TestReaderKeepsAnIncompleteFrame(t *testing.T) {
	frame := AppendFrame(nil, ws.OpText, true, []byte("hello, reader"))
	src := &pauses{chunks: [][]byte{frame[:1], frame[1:3], frame[3:7], frame[7:]}}
	r := Reader{R: bufio.NewReader(src)}
	pausesSeen := 0
	for {
		h, p, err := r.Next()
		if errors.Is(err, errPause) {
			pausesSeen++
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, ws.OpText, h.OpCode)
		assert.Equal(t, "hello, reader", string(p))
		break
	}
	assert.Equal(t, 4, pausesSeen, "every pause came back as an error and left the frame whole")
}

func TestReaderErrors(t *testing.T) {
	frame := AppendFrame(nil, ws.OpBinary, true, make([]byte, 5000))
	r := Reader{R: bufio.NewReader(bytes.NewReader(frame))}
	_, _, err := r.Next()
	assert.ErrorIs(t, err, ErrTooBig, "over DefaultMaxMessage")

	for _, size := range []int{16, 8192} { // the payload beyond the buffer, and within it
		r = Reader{R: bufio.NewReaderSize(bytes.NewReader(frame[:len(frame)-1]), size), Max: 8000}
		_, _, err = r.Next()
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "the stream ended inside a frame (buffer %d)", size)
	}
	r = Reader{R: bufio.NewReader(bytes.NewReader(frame[:3]))}
	_, _, err = r.Next()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "the stream ended inside a header")
}
