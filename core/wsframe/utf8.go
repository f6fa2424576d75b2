package wsframe

import "unicode/utf8"

// UTF-8 validation that can stop and resume at any byte, so a fragmented
// text message is checked as its fragments arrive and never scanned twice.
// The state is one byte in the Parser. The states follow the well-formed
// byte sequences of Unicode (table 3-7): after a lead byte the state says
// how many continuation bytes are still due and, for the leads whose second
// byte has a narrower range (E0, ED, F0, F4), which range it must be in.
// That rules out overlong forms, surrogates and code points over U+10FFFF.
const (
	utf8Accept uint8 = iota // between characters
	utf8Need1               // one continuation byte due
	utf8Need2               // two continuation bytes due
	utf8Need3               // three continuation bytes due
	utf8E0                  // after E0: A0-BF, then one more
	utf8ED                  // after ED: 80-9F (no surrogates), then one more
	utf8F0                  // after F0: 90-BF, then two more
	utf8F4                  // after F4: 80-8F (max U+10FFFF), then two more
	utf8Reject              // invalid; stays so
)

// utf8Step advances state s by one byte c.
func utf8Step(s uint8, c byte) uint8 {
	switch s {
	case utf8Accept:
		return utf8Lead(c)
	case utf8Need1, utf8Need2, utf8Need3:
		if c&0xC0 == 0x80 {
			return s - 1
		}
	case utf8E0:
		return utf8Second(c, 0xA0, 0xBF, utf8Need1)
	case utf8ED:
		return utf8Second(c, 0x80, 0x9F, utf8Need1)
	case utf8F0:
		return utf8Second(c, 0x90, 0xBF, utf8Need2)
	case utf8F4:
		return utf8Second(c, 0x80, 0x8F, utf8Need2)
	}
	return utf8Reject
}

// utf8Lead is the state after lead byte c.
func utf8Lead(c byte) uint8 {
	switch {
	case c < 0x80:
		return utf8Accept
	case c < 0xC2: // continuation byte, or C0/C1 (overlong)
		return utf8Reject
	case c < 0xE0:
		return utf8Need1
	case c == 0xE0:
		return utf8E0
	case c == 0xED:
		return utf8ED
	case c < 0xF0:
		return utf8Need2
	case c == 0xF0:
		return utf8F0
	case c < 0xF4:
		return utf8Need3
	case c == 0xF4:
		return utf8F4
	}
	return utf8Reject
}

func utf8Second(c, lo, hi byte, next uint8) uint8 {
	if lo <= c && c <= hi {
		return next
	}
	return utf8Reject
}

// utf8Continue validates p as the continuation of a stream in state s and
// returns the new state. A sequence started before p is finished byte by
// byte; the complete characters after it go to utf8.Valid in one call, and
// a sequence cut at the end of p is stepped into the returned state.
func utf8Continue(s uint8, p []byte) uint8 {
	i := 0
	for ; i < len(p) && s != utf8Accept && s != utf8Reject; i++ {
		s = utf8Step(s, p[i])
	}
	if s != utf8Accept {
		return s
	}
	p = p[i:]
	cut := utf8Cut(p)
	if !utf8.Valid(p[:cut]) {
		return utf8Reject
	}
	for _, c := range p[cut:] {
		s = utf8Step(s, c)
	}
	return s
}

// utf8Cut returns where a multi-byte sequence cut short by the end of p
// starts, or len(p) when p does not end inside one.
func utf8Cut(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		c := p[i]
		if c < 0x80 {
			return len(p)
		}
		if c >= 0xC0 { // a lead byte: is its sequence complete?
			if len(p)-i < utf8SeqLen(c) {
				return i
			}
			return len(p)
		}
	}
	return len(p)
}

// utf8SeqLen is the sequence length lead byte c announces (1 when c cannot
// lead; utf8.Valid then rejects it).
func utf8SeqLen(c byte) int {
	switch {
	case c >= 0xF8:
		return 1
	case c >= 0xF0:
		return 4
	case c >= 0xE0:
		return 3
	}
	return 2
}
