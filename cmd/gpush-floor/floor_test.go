package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core/wsframe"
)

// TestScanCountsDataFrames: scan counts every complete text or binary
// frame, whatever the reads' boundaries, and skips control frames.
func TestScanCountsDataFrames(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	var stream []byte
	stream = wsframe.AppendMaskedFrame(stream, ws.OpText, true, mask, []byte(`{"code":1,"topic":"a"}`))
	stream = wsframe.AppendMaskedFrame(stream, ws.OpPing, true, mask, nil)
	stream = wsframe.AppendMaskedFrame(stream, ws.OpBinary, true, mask, bytes.Repeat([]byte{'x'}, 300)) // 16-bit length
	stream = wsframe.AppendMaskedFrame(stream, ws.OpText, true, mask, nil)                              // empty payload
	for cut := 0; cut <= len(stream); cut++ {
		var c conn
		n := c.scan(stream[:cut]) + c.scan(stream[cut:])
		assert.Equal(t, 3, n, "cut at %d", cut)
		assert.Zero(t, c.hn, "no header left half read")
		assert.Zero(t, c.skip, "no payload left to skip")
	}
	var c conn
	n := 0
	for i := range stream {
		n += c.scan(stream[i : i+1])
	}
	assert.Equal(t, 3, n, "one byte at a time")
}

// TestScanHalfFrame: a frame that never completes is never counted, and
// costs no more than its header.
func TestScanHalfFrame(t *testing.T) {
	f := wsframe.AppendMaskedFrame(nil, ws.OpText, true, [4]byte{}, bytes.Repeat([]byte{'a'}, 4000))
	var c conn
	assert.Zero(t, c.scan(f[:12]))
	assert.Equal(t, uint64(4000-4), c.skip)
	assert.Equal(t, 1, c.scan(f[12:]))
}

// TestMemoryReport: the floor answers /debug/gpush/memory with the fields
// gpushd's report has (connections, heap, stacks and RSS after a forced
// collection), so the harness reads both servers alike.
func TestMemoryReport(t *testing.T) {
	f := &floor{}
	f.count.Store(7)
	rec := httptest.NewRecorder()
	f.control().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/gpush/memory", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var rep map[string]float64
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &rep))
	assert.Equal(t, 7.0, rep["conns"])
	for _, k := range []string{"goroutines", "heap_bytes", "stack_bytes", "rss_bytes"} {
		assert.Positive(t, rep[k], k)
	}
}
