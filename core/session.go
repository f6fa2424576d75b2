package core

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
	"unique"
)

// Sub is one subscription: a public channel when UID is empty, else the
// private channel Topic of user UID.
type Sub struct {
	UID   string
	Topic string
}

// Handle processes one complete client text message and queues its answer.
// Messages of one connection must be handled one at a time, in order. It may
// block in the Authenticator during a login: transports that must not block
// use Parse and Apply, and hand a request that may block (Conn.MayBlock:
// a login, a clustered subscribe) to a goroutine.
// Like Parse and Apply, it never panics: a panic while handling closes this
// connection with 1011.
func (c *Conn) Handle(ctx context.Context, msg []byte) {
	if req, ok := c.Parse(msg); ok {
		c.Apply(ctx, req)
	}
}

// Parse does the part of handling msg that never waits: rate limit,
// text ping, UTF-8 (invalid closes with 1007), JSON. It answers what it can
// itself and returns ok false; else the request, for Apply.
func (c *Conn) Parse(msg []byte) (req Request, ok bool) {
	return c.ParseAdmitted(msg, c.Admit())
}

// ParseAdmitted is Parse for a message that Admit has already counted, when
// it arrived: a transport that queues requests behind a login counts them
// on arrival, so the rate limit sees the client's pace, not the queue's.
func (c *Conn) ParseAdmitted(msg []byte, a Admission) (req Request, ok bool) {
	defer c.recoverRequest(&ok)
	c.Touch()
	if a == Flooded {
		return req, false
	}
	if len(msg) == 4 && (msg[0]|0x20) == 'p' && (msg[1]|0x20) == 'i' && (msg[2]|0x20) == 'n' && (msg[3]|0x20) == 'g' {
		if a == Admitted { // a text ping beyond the limit gets no pong
			c.reply(pongText)
		}
		return req, false
	}
	if len(msg) > c.hub.lim.MaxFrame { // a transport whose library limits data and control frames alike lets more through
		c.CloseWith(CloseTooBig, "message too big")
		return req, false
	}
	if !utf8.Valid(msg) {
		c.CloseWith(CloseInvalidData, "invalid UTF-8 in text message")
		return req, false
	}
	req, err := DecodeRequest(msg)
	req.limited = a == Limited
	if err != nil {
		c.answer(req, StatusBadRequest, err.Error())
		return req, false
	}
	c.hub.stats.Requests.Add(1)
	return req, true
}

// Apply runs the session rules for a parsed request and answers it.
func (c *Conn) Apply(ctx context.Context, req Request) {
	defer c.recoverRequest(nil)
	status, text := c.apply(ctx, req)
	if status == statusAnswered {
		c.kick()
		return
	}
	c.answer(req, status, text)
}

// statusAnswered is what apply returns when the reply is queued already: a
// subscribe with history on queues it under its channel's lock.
const statusAnswered = -1

func (c *Conn) answer(req Request, status int, text string) {
	r := Reply{Code: req.Code, ID: req.ID, Topic: req.Topic, Status: status, Message: text}
	if req.Code == OpLogin || req.Code == OpLogout || req.Code == OpInvalid {
		r.Topic = ""
	}
	if req.Since != nil && status == StatusOK { // history off: nothing to recover
		r.Recovered = new(bool)
		c.hub.stats.Recoveries[0].Add(1)
	}
	c.reply(r.Frame())
}

// apply runs the session rules for a decoded request. Checks run in the
// order of docs/protocol.md: login (401), topic (400), limits (429).
func (c *Conn) apply(ctx context.Context, req Request) (int, string) {
	if req.Code.NeedsLogin() && c.UID() == "" {
		return StatusUnauthorized, "login required"
	}
	if req.Code.NeedsTopic() {
		if err := CheckTopic(req.Topic); err != nil {
			return StatusBadRequest, err.Error()
		}
	}
	if req.limited {
		return StatusTooMany, fmt.Sprintf("over %d requests per second", c.hub.lim.MaxReqRate)
	}
	switch req.Code {
	case OpSubscribe:
		return c.subscribe(ctx, req, Sub{Topic: req.Topic})
	case OpUnsubscribe:
		return c.unsubscribe(Sub{Topic: req.Topic})
	case OpLogin:
		return c.login(ctx, req.Cred)
	case OpLogout:
		c.logout()
		return StatusOK, ""
	case OpSubscribePrivate, OpUnsubscribePriv:
		c.mu.Lock()
		uid := c.uidNow()
		c.mu.Unlock()
		if uid == "" { // logged out meanwhile by expiry
			return StatusUnauthorized, "login required"
		}
		if req.Code == OpSubscribePrivate {
			return c.subscribe(ctx, req, Sub{UID: uid, Topic: req.Topic})
		}
		return c.unsubscribe(Sub{UID: uid, Topic: req.Topic})
	}
	return StatusBadRequest, "unknown code"
}

// Admission is how one request fares against the rate limit.
type Admission uint8

const (
	// Admitted: within the limit.
	Admitted Admission = iota
	// Limited: over the limit; answered with status 429 (a text ping: not
	// answered).
	Limited
	// Flooded: beyond twice the limit within a second; the connection is
	// being closed with 1008 `rate limit`.
	Flooded
)

// Admit counts one request (a text message or a ping control frame)
// against the rate limit, when it arrives. Two buckets refill
// continuously: the request bucket (up to the rate, refilled at the rate)
// decides Limited, and the flood bucket (up to twice the rate, refilled at
// twice the rate) runs dry only for a client beyond twice the limit within a
// second, which is closed.
func (c *Conn) Admit() Admission {
	now := time.Now().UnixNano()
	rate := float32(c.hub.lim.MaxReqRate)
	c.mu.Lock()
	if c.refill == 0 {
		c.tokens, c.flood = rate, 2*rate
	} else {
		dt := float32(now-c.refill) / 1e9
		c.tokens = min(rate, c.tokens+rate*dt)
		c.flood = min(2*rate, c.flood+2*rate*dt)
	}
	c.refill = now
	c.flood--
	a := Admitted
	switch {
	case c.flood < 0:
		a = Flooded
	case c.tokens < 1:
		a = Limited
	default:
		c.tokens--
	}
	c.mu.Unlock()
	if a == Flooded {
		c.CloseWith(ClosePolicy, "rate limit")
	}
	return a
}

// subscribe adds s for req. With history on it answers req itself, under
// s's channel lock (see answerKept), and returns statusAnswered.
func (c *Conn) subscribe(ctx context.Context, req Request, s Sub) (int, string) {
	held, err := c.acquire(ctx, s)
	if err != nil {
		return StatusUnavailable, ErrUnavailable.Error()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if held {
		defer c.keepIfHeld(s)
	}
	if c.isGone() {
		return StatusOK, ""
	}
	if s.UID != "" && s.UID != c.uidNow() { // logged out (expiry) since apply read the uid
		return StatusUnauthorized, "login required"
	}
	have := c.holds(s)
	if !have && c.subs.len() >= c.hub.lim.MaxSubs { // refused: no channel state either
		return StatusTooMany, fmt.Sprintf("over %d subscriptions", c.hub.lim.MaxSubs)
	}
	if c.hub.hist == nil {
		if !have {
			c.addSub(s)
		}
		return StatusOK, ""
	}
	ch := c.hub.hist.open(s)
	defer ch.mu.Unlock()
	if !have {
		c.addSub(s)
	}
	c.answerKept(req, ch)
	return statusAnswered, ""
}

// addSub adds s to the session and the registry. c.mu is held.
func (c *Conn) addSub(s Sub) {
	c.Out.mu.Lock()
	c.subs.add(subKey(s))
	c.Out.mu.Unlock()
	c.hub.reg.Subscribe(s, c)
	c.hub.stats.Subscriptions.Add(1)
}

// answerKept queues the reply to a subscribe of ch, with the channel's
// position, and the replay its since asks for. ch.mu is held (and the
// connection is in the registry), so every push of ch numbered above the
// reply's offset is queued after the reply and the replay, and none at or
// below it is queued live.
func (c *Conn) answerKept(req Request, ch *channel) {
	h := c.hub.hist
	off := ch.off
	r := Reply{Code: req.Code, ID: req.ID, Topic: req.Topic, Offset: &off, Epoch: h.epoch(ch)}
	if req.Since != nil {
		r.Recovered = new(bool)
		if frames, ok := h.replay(ch, *req.Since); ok && c.queueReplay(r, frames) {
			return
		}
		c.hub.stats.Recoveries[0].Add(1)
	}
	c.queue(r.Frame())
}

// queueReplay queues r, saying recovered, and the frames after it, all or
// none: none when they would take the queue past its limit.
func (c *Conn) queueReplay(r Reply, frames [][]byte) bool {
	*r.Recovered = true
	group := make([][]byte, 0, len(frames)+1)
	group = append(append(group, r.Frame()), frames...)
	if !c.Out.pushGroup(group, &c.hub.out) {
		*r.Recovered = false
		return false
	}
	c.hub.stats.Recoveries[1].Add(1)
	c.hub.stats.Replayed.Add(int64(len(frames)))
	return true
}

func (c *Conn) unsubscribe(s Sub) (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if key := subKey(s); c.subs.has(key) {
		c.dropSub(key)
	}
	return StatusOK, ""
}

// dropSub removes key, a subscription c holds, from the session and the
// registry. c.mu is held.
func (c *Conn) dropSub(key unique.Handle[Sub]) {
	s := key.Value()
	c.Out.mu.Lock() // from now on no push queues a frame for s
	c.subs.remove(key)
	c.Out.mu.Unlock()
	c.hub.reg.Unsubscribe(s, c)
	c.hub.release(s)
	c.hub.stats.Subscriptions.Add(-1)
}

// ErrNoAuth: login was asked for and no Authenticator is configured.
var ErrNoAuth = errors.New("login is not configured on this server")

func (c *Conn) login(ctx context.Context, cred string) (int, string) {
	if c.hub.auth == nil {
		c.hub.stats.AuthFailures.Add(1)
		return StatusUnauthorized, ErrNoAuth.Error()
	}
	id, err := c.hub.auth.Authenticate(ctx, cred)
	if err == nil && id.UID == "" {
		err = errors.New("credential names no user")
	}
	if err == nil && !id.Expires.IsZero() && !id.Expires.After(time.Now()) {
		err = ErrExpired
	}
	if err != nil {
		c.hub.stats.AuthFailures.Add(1)
		var se *ServerError
		if errors.As(err, &se) {
			return StatusServerError, err.Error()
		}
		return StatusUnauthorized, "credential refused: " + err.Error()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isGone() { // closed while the Authenticator ran: Hub.Closed has settled its books
		return StatusOK, ""
	}
	if c.uidNow() != id.UID {
		c.logoutLocked()
		if id.UID != "" {
			c.hub.stats.LoggedIn.Add(1)
		}
	}
	w := &identity{uid: id.UID}
	if !id.Expires.IsZero() {
		w.exp = id.Expires.UnixNano()
	}
	c.who.Store(w)
	return StatusOK, ""
}

func (c *Conn) logout() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logoutLocked()
}

// logoutLocked leaves every private channel. c.mu is held.
func (c *Conn) logoutLocked() {
	for _, key := range c.subs.keys() {
		if key.Value().UID != "" {
			c.dropSub(key)
		}
	}
	if w := c.who.Swap(nil); w != nil && w.uid != "" {
		c.hub.stats.LoggedIn.Add(-1)
	}
}

// expire logs the connection out when its credential has expired by now,
// and tells the client.
func (c *Conn) expire(now int64) {
	c.mu.Lock()
	if e := c.expAt(); e == 0 || e > now {
		c.mu.Unlock()
		return
	}
	c.logoutLocked()
	c.mu.Unlock()
	c.reply(Reply{Code: OpLogout, Status: StatusUnauthorized, Message: "credential expired"}.Frame())
}
