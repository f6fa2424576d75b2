package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gpush/gpush/core"
)

// Callback asks the application's own auth service. It POSTs
// {"credential":"..."} to URL; a 200 answer {"uid":"...","expires_at":<unix
// seconds, optional>} accepts the login, 401 or 403 refuse it, and anything
// else (or no answer within Timeout) is a server error (status 500 to the
// client). Only the connection that logs in waits for it.
type Callback struct {
	URL     string
	Timeout time.Duration // 0: 3 s
	Client  *http.Client  // nil: http.DefaultClient
}

type callbackReply struct {
	UID       string `json:"uid"`
	ExpiresAt int64  `json:"expires_at"`
}

// Authenticate implements core.Authenticator.
func (cb Callback) Authenticate(ctx context.Context, cred string) (core.Identity, error) {
	timeout := cb.Timeout
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"credential": cred})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb.URL, bytes.NewReader(body))
	if err != nil {
		return core.Identity{}, &core.ServerError{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	client := cb.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return core.Identity{}, &core.ServerError{Err: err}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return core.Identity{}, fmt.Errorf("auth service answered %d", resp.StatusCode)
	default:
		return core.Identity{}, &core.ServerError{Err: fmt.Errorf("auth service answered %d", resp.StatusCode)}
	}
	var r callbackReply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&r); err != nil {
		return core.Identity{}, &core.ServerError{Err: fmt.Errorf("auth service reply: %w", err)}
	}
	if r.UID == "" {
		return core.Identity{}, errors.New("auth service named no uid")
	}
	id := core.Identity{UID: r.UID}
	if r.ExpiresAt > 0 {
		id.Expires = time.Unix(r.ExpiresAt, 0)
	}
	return id, nil
}
