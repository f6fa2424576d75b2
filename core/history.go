package core

import (
	"crypto/rand"
	"encoding/hex"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HistoryConfig turns on history and recovery (docs/protocol.md, History and
// recovery). The zero value is off, and then history costs nothing: no
// field of Conn and no state per channel.
type HistoryConfig struct {
	Size int           // pushes kept per channel; 0: history off
	TTL  time.Duration // how long a channel keeps them after its last push; 0: DefaultHistoryTTL
	Node string        // optional prefix of every epoch (a cluster node's id)
}

// DefaultHistoryTTL is HistoryConfig.TTL's default.
const DefaultHistoryTTL = 5 * time.Minute

// Since is the position a client last saw on a channel: a subscribe's
// `since`.
type Since struct {
	Offset uint64
	Epoch  string
}

// channel is the sequence of one public channel or one (uid, private
// channel): its epoch, its last offset and the frames it keeps. Its mu is
// the per-channel order: a push takes it to number, encode and queue its
// frame for every subscriber; a subscribe takes it to join the registry,
// read the position for its reply and queue the replay. So a push is queued
// to a connection either live or in its replay, never both, never neither
// (docs/locking.md).
type channel struct {
	mu    sync.Mutex
	dead  bool     // dropped from the history: whoever locked it looks again
	gen   uint64   // epoch generation, unique in the process
	off   uint64   // last offset issued, 0 for none
	ring  [][]byte // kept frames, at most history.size; the oldest at ring[start] once full
	start int
	bytes int          // frame bytes in ring
	due   atomic.Int64 // unix ns when the sweep looks at it next
}

// historyShards splits the channel index so that channel lookups from many
// goroutines rarely wait for each other.
const historyShards = 64

// history is every channel's sequence, for a hub with history on.
type history struct {
	size   int
	ttl    int64 // ns
	every  int64 // ns between two expiry walks
	prefix string
	gens   atomic.Uint64 // the last epoch generation handed out
	seed   maphash.Seed
	shards [historyShards]historyShard
	stats  *Stats
	next   atomic.Int64 // unix ns of the next expiry walk
}

type historyShard struct {
	mu sync.Mutex // guards m; taken after channel.mu, or alone
	m  map[Sub]*channel
}

func newHistory(cfg HistoryConfig, stats *Stats) *history {
	if cfg.Size <= 0 {
		return nil
	}
	ttl := cmpOr(cfg.TTL, DefaultHistoryTTL)
	h := &history{size: cfg.Size, ttl: int64(ttl), seed: maphash.MakeSeed(), stats: stats}
	h.every = int64(min(30*time.Second, max(10*time.Millisecond, ttl/10)))
	h.prefix = epochPrefix(cfg.Node)
	for i := range h.shards {
		h.shards[i].m = make(map[Sub]*channel)
	}
	return h
}

func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// epochPrefix is node (when set), then 64 random bits in hex: epochs of
// this process are the prefix and a generation, so they never repeat.
func epochPrefix(node string) string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	p := hex.EncodeToString(b[:]) + "-"
	if node != "" {
		p = node + "-" + p
	}
	return p
}

// epoch is ch's epoch as the wire shows it. ch.mu is held.
func (h *history) epoch(ch *channel) string {
	return h.prefix + strconv.FormatUint(ch.gen, 36)
}

func (h *history) shard(s Sub) *historyShard {
	var m maphash.Hash
	m.SetSeed(h.seed)
	m.WriteString(s.UID)
	m.WriteByte(0)
	m.WriteString(s.Topic)
	return &h.shards[m.Sum64()%historyShards]
}

// open returns s's channel locked, starting its sequence when it has none.
func (h *history) open(s Sub) *channel {
	sh := h.shard(s)
	for {
		sh.mu.Lock()
		ch := sh.m[s]
		if ch == nil {
			ch = h.create()
			sh.m[Sub{UID: strings.Clone(s.UID), Topic: strings.Clone(s.Topic)}] = ch
			sh.mu.Unlock()
			return ch
		}
		sh.mu.Unlock()
		ch.mu.Lock()
		if !ch.dead {
			return ch
		}
		ch.mu.Unlock() // expired meanwhile: look again
	}
}

// create returns a new channel, locked, with a new epoch.
func (h *history) create() *channel {
	ch := &channel{gen: h.gens.Add(1)}
	ch.mu.Lock()
	ch.due.Store(time.Now().UnixNano() + h.ttl)
	h.stats.HistoryChannels.Add(1)
	return ch
}

// keep adds frame, the push just numbered ch.off, dropping the oldest
// beyond the size. ch.mu is held.
func (h *history) keep(ch *channel, frame []byte, now int64) {
	ch.due.Store(now + h.ttl)
	if len(ch.ring) < h.size {
		if len(ch.ring) == cap(ch.ring) {
			grown := make([][]byte, len(ch.ring), min(h.size, max(4, 2*cap(ch.ring))))
			copy(grown, ch.ring)
			ch.ring = grown
		}
		ch.ring = append(ch.ring, frame)
		h.account(ch, 1, len(frame))
		return
	}
	old := ch.ring[ch.start]
	ch.ring[ch.start] = frame
	ch.start = (ch.start + 1) % len(ch.ring)
	h.account(ch, 0, len(frame)-len(old))
}

func (h *history) account(ch *channel, frames, bytes int) {
	ch.bytes += bytes
	h.stats.HistoryPushes.Add(int64(frames))
	h.stats.HistoryBytes.Add(int64(bytes))
}

// drop forgets ch's kept frames. ch.mu is held.
func (h *history) drop(ch *channel) {
	h.account(ch, -len(ch.ring), -ch.bytes)
	ch.ring, ch.start = nil, 0
}

// replay returns the frames after since when ch can recover since: same
// epoch, since.Offset not past the last offset, and every frame after it
// kept. ch.mu is held.
func (h *history) replay(ch *channel, since Since) ([][]byte, bool) {
	if since.Epoch != h.epoch(ch) || since.Offset > ch.off {
		return nil, false
	}
	k := ch.off - since.Offset
	if k > uint64(len(ch.ring)) {
		return nil, false
	}
	out := make([][]byte, 0, k)
	for i := len(ch.ring) - int(k); i < len(ch.ring); i++ {
		out = append(out, ch.ring[(ch.start+i)%len(ch.ring)])
	}
	return out, true
}

// renew starts a new epoch on every channel: offsets go on from where they
// were, kept frames are dropped.
func (h *history) renew() {
	for i := range h.shards {
		for _, e := range h.shards[i].snapshot(false, 0) {
			e.ch.mu.Lock()
			if !e.ch.dead {
				e.ch.gen = h.gens.Add(1)
				h.drop(e.ch)
			}
			e.ch.mu.Unlock()
		}
	}
}

type channelEntry struct {
	s  Sub
	ch *channel
}

// snapshot lists the shard's channels, or with dueOnly those due by now.
func (sh *historyShard) snapshot(dueOnly bool, now int64) []channelEntry {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var out []channelEntry
	for s, ch := range sh.m {
		if !dueOnly || ch.due.Load() <= now {
			out = append(out, channelEntry{s, ch})
		}
	}
	return out
}

// sweep expires the channels due by now, at most once per h.every: their
// kept frames are dropped, and a channel no connection subscribes to ends.
// The hub's sweep goroutine calls it.
func (h *history) sweep(now int64, reg Registry) {
	if now < h.next.Load() {
		return
	}
	h.next.Store(now + h.every)
	for i := range h.shards {
		for _, e := range h.shards[i].snapshot(true, now) {
			h.expire(&h.shards[i], e, now, reg)
		}
	}
}

func (h *history) expire(sh *historyShard, e channelEntry, now int64, reg Registry) {
	e.ch.mu.Lock()
	defer e.ch.mu.Unlock()
	if e.ch.dead || e.ch.due.Load() > now {
		return
	}
	h.drop(e.ch)
	t := TargetTopic
	if e.s.UID != "" {
		t = TargetUser
	}
	if reg.Each(t, e.s, func(*Conn) {}) > 0 { // subscribed: the sequence goes on
		e.ch.due.Store(now + h.ttl)
		return
	}
	e.ch.dead = true
	sh.mu.Lock()
	delete(sh.m, e.s)
	sh.mu.Unlock()
	h.stats.HistoryChannels.Add(-1)
}
