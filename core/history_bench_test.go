//go:build !race

package core

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
)

// heapAfterGC returns the live heap after a full collection.
func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// benchHub is a hub with history of size (0: off) on a test registry.
func benchHub(b *testing.B, size int) *Hub {
	hub := NewHub(Config{Registry: newTestRegistry(), Policy: kickPolicy{}, History: HistoryConfig{Size: size}})
	b.Cleanup(hub.Close)
	return hub
}

// BenchmarkHistoryChannel measures the state of a channel with history on
// and no push kept: each op starts one channel's sequence (what a
// subscribe to a new channel, or a push to one, does first).
//
//	B/channel  live heap per channel: the channel, its index entry and its name
func BenchmarkHistoryChannel(b *testing.B) {
	hub := benchHub(b, 100)
	names := make([]string, b.N)
	for i := range names {
		names[i] = "topic-" + strconv.Itoa(i)
	}
	before := heapAfterGC()
	b.ResetTimer()
	for i := range b.N {
		hub.hist.open(Sub{Topic: names[i]}).mu.Unlock()
	}
	b.StopTimer()
	names = nil
	after := heapAfterGC()
	if got := hub.Stats().HistoryChannels.Load(); got != int64(b.N) {
		b.Fatalf("%d channels, want %d", got, b.N)
	}
	b.ReportMetric(float64(int64(after)-int64(before))/float64(b.N), "B/channel")
	runtime.KeepAlive(hub)
}

// BenchmarkHistoryPush measures a push with history on or off: each op is
// one push (64-byte payload) to one of 1,000 channels in turn, with no
// subscriber, so it is the cost of numbering, encoding and keeping. With
// history on:
//
//	B/kept        live heap per kept push: the frame and its ring slot
//	overhead-B/kept  the same without the frame bytes (which a subscriber's outbox shares)
func BenchmarkHistoryPush(b *testing.B) {
	for _, size := range []int{0, 100} {
		b.Run("size="+strconv.Itoa(size), func(b *testing.B) { benchHistoryPush(b, size) })
	}
}

func benchHistoryPush(b *testing.B, size int) {
	const channels = 1000
	hub := benchHub(b, size)
	ps := make([]Push, channels)
	for i := range ps {
		ps[i] = Push{Topic: "topic-" + strconv.Itoa(i), Data: bytes.Repeat([]byte("d"), 64)}
		hub.Deliver(ps[i]) // every channel exists before the count
	}
	before := heapAfterGC()
	keptBefore, bytesBefore := hub.Stats().HistoryPushes.Load(), hub.Stats().HistoryBytes.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		hub.Deliver(ps[i%channels])
	}
	b.StopTimer()
	if size == 0 {
		return
	}
	after := heapAfterGC()
	kept := hub.Stats().HistoryPushes.Load() - keptBefore
	if kept <= 0 {
		return // too few ops to add a kept push
	}
	grown := float64(int64(after) - int64(before))
	frames := float64(hub.Stats().HistoryBytes.Load() - bytesBefore)
	b.ReportMetric(grown/float64(kept), "B/kept")
	b.ReportMetric((grown-frames)/float64(kept), "overhead-B/kept")
	runtime.KeepAlive(hub)
}
