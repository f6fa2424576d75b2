package harness

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// A pushed payload starts with a header the clients read:
//
//	[0:8]   send time, CLOCK_MONOTONIC ns, big-endian (its first byte is 0
//	        for centuries of uptime, so a push never starts with '{' and
//	        cannot be taken for a JSON reply)
//	[8:10]  topic index in the scenario's topic list
//	[10:14] sequence number within that topic (or user), from 1
//	[14:18] user number for private pushes, 0 otherwise
//
// then padding up to the payload size. The server runs -push-format raw, so
// the frame payload is exactly these bytes.
const payloadHeader = 18

// monoNow is CLOCK_MONOTONIC in ns: the same clock in every process on the
// machine, so latency crosses from the pusher to the generators.
func monoNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// appendPayload builds one payload of size bytes (at least the header).
func appendPayload(b []byte, size int, sent uint64, topic uint16, seq, user uint32) []byte {
	if size < payloadHeader {
		size = payloadHeader
	}
	b = binary.BigEndian.AppendUint64(b, sent)
	b = binary.BigEndian.AppendUint16(b, topic)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, user)
	for len(b) < size {
		b = append(b, 'x')
	}
	return b
}

// payloadFields reads the header back.
func payloadFields(p []byte) (sent uint64, topic uint16, seq, user uint32, ok bool) {
	if len(p) < payloadHeader {
		return 0, 0, 0, 0, false
	}
	return binary.BigEndian.Uint64(p), binary.BigEndian.Uint16(p[8:]), binary.BigEndian.Uint32(p[10:]), binary.BigEndian.Uint32(p[14:]), true
}
