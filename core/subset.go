package core

import "unique"

// subSet is the subscriptions a connection holds, public and private (as
// Sub.UID), interned (subKey): equal handles are equal subscriptions, so a
// push compares one word per held subscription, and connections of one
// channel share its Sub. Most connections hold one: it is inline, and only
// a second subscription allocates the list of the rest.
type subSet struct {
	first unique.Handle[Sub]    // noKey: none (and rest is nil)
	rest  *[]unique.Handle[Sub] // beyond first; nil: none
}

// noKey is the zero key, which no subscription has.
var noKey unique.Handle[Sub]

// has reports whether the set holds key. The set never holds noKey, though
// an empty set's first is noKey.
func (s *subSet) has(key unique.Handle[Sub]) bool {
	if s.first == key {
		return key != noKey
	}
	if s.rest == nil {
		return false
	}
	for _, k := range *s.rest {
		if k == key {
			return true
		}
	}
	return false
}

// len returns how many subscriptions the set holds.
func (s *subSet) len() int {
	switch {
	case s.rest != nil:
		return 1 + len(*s.rest)
	case s.first != noKey:
		return 1
	}
	return 0
}

// add adds key, which the set does not hold.
func (s *subSet) add(key unique.Handle[Sub]) {
	switch {
	case s.first == noKey:
		s.first = key
	case s.rest == nil:
		s.rest = &[]unique.Handle[Sub]{key}
	default:
		*s.rest = append(*s.rest, key)
	}
}

// remove removes key and reports whether the set held it (never noKey).
func (s *subSet) remove(key unique.Handle[Sub]) bool {
	if key == noKey {
		return false
	}
	if s.first == key {
		s.first = s.popRest()
		return true
	}
	if s.rest == nil {
		return false
	}
	r := *s.rest
	for i, k := range r {
		if k == key {
			if last := s.popRest(); i < len(r)-1 {
				r[i] = last
			}
			return true
		}
	}
	return false
}

// popRest removes the last of the rest and returns it, or noKey when there
// is none; the list goes when it is empty. A key at an index below the
// last, in the old list, is the caller's to overwrite.
func (s *subSet) popRest() unique.Handle[Sub] {
	if s.rest == nil {
		return noKey
	}
	r := *s.rest
	last := r[len(r)-1]
	r[len(r)-1] = noKey
	if len(r) == 1 {
		s.rest = nil
	} else {
		*s.rest = r[:len(r)-1]
	}
	return last
}

// keys returns the keys of the set, in a slice of their own.
func (s *subSet) keys() []unique.Handle[Sub] {
	keys := make([]unique.Handle[Sub], 0, s.len())
	if s.first != noKey {
		keys = append(keys, s.first)
	}
	if s.rest != nil {
		keys = append(keys, *s.rest...)
	}
	return keys
}
