package core

import (
	"context"
	"errors"
	"time"
)

// Identity is who a credential says the client is.
type Identity struct {
	UID     string
	Expires time.Time // zero: does not expire
}

// Authenticator checks a login credential. It may block (an HTTP callback);
// it must honour ctx.
type Authenticator interface {
	Authenticate(ctx context.Context, cred string) (Identity, error)
}

// ErrExpired: the credential has expired.
var ErrExpired = errors.New("credential expired")

// ServerError wraps a failure of the authentication service itself (not a
// refusal of the credential): the login is answered with status 500.
type ServerError struct{ Err error }

func (e *ServerError) Error() string { return "auth service failed: " + e.Err.Error() }
func (e *ServerError) Unwrap() error { return e.Err }
