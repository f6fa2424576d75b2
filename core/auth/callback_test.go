package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
)

// authService is a fake application auth service: it answers each
// credential as its table says, and records what it was asked.
type authService struct {
	*httptest.Server
	release chan struct{} // "slow" credentials wait for it
	once    sync.Once     // closes release

	mu      sync.Mutex // guards asked
	asked   []string
	started chan string // gets each credential as its request arrives
}

type answer struct {
	status int
	body   string
}

func newAuthService(t *testing.T, answers map[string]answer) *authService {
	t.Helper()
	s := &authService{release: make(chan struct{}), started: make(chan string, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Credential string `json:"credential"`
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
			json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.asked = append(s.asked, req.Credential)
		s.mu.Unlock()
		select {
		case s.started <- req.Credential:
		default: // nobody watches this many
		}
		a, ok := answers[req.Credential]
		if !ok {
			a = answer{status: http.StatusForbidden}
		}
		if a.status == 0 { // slow: answers once released
			select {
			case <-s.release:
			case <-r.Context().Done():
				return
			}
			a = answer{status: http.StatusOK, body: `{"uid":"` + req.Credential + `"}`}
		}
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(func() {
		s.unblock()
		s.Close()
	})
	return s
}

// unblock answers every slow request, now and later.
func (s *authService) unblock() { s.once.Do(func() { close(s.release) }) }

func TestCallback(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	svc := newAuthService(t, map[string]answer{
		"good":        {http.StatusOK, `{"uid":"alice"}`},
		"expiring":    {http.StatusOK, `{"uid":"bob","expires_at":` + itoa(exp) + `}`},
		"refused":     {http.StatusUnauthorized, `{"error":"no"}`},
		"forbidden":   {http.StatusForbidden, ``},
		"broken":      {http.StatusInternalServerError, `oops`},
		"unavailable": {http.StatusServiceUnavailable, ``},
		"garbage":     {http.StatusOK, `not json`},
		"nouid":       {http.StatusOK, `{"expires_at":1}`},
	})
	cases := []struct {
		cred      string
		uid       string
		expires   time.Time
		refused   bool // a refusal: status 401
		serverErr bool // a failure of the service: status 500
	}{
		{cred: "good", uid: "alice"},
		{cred: "expiring", uid: "bob", expires: time.Unix(exp, 0)},
		{cred: "refused", refused: true},
		{cred: "forbidden", refused: true},
		{cred: "nouid", refused: true},
		{cred: "broken", serverErr: true},
		{cred: "unavailable", serverErr: true},
		{cred: "garbage", serverErr: true},
	}
	cb := Callback{URL: svc.URL, Timeout: 5 * time.Second}
	for _, tc := range cases {
		t.Run(tc.cred, func(t *testing.T) {
			id, err := cb.Authenticate(context.Background(), tc.cred)
			var se *core.ServerError
			switch {
			case tc.serverErr:
				require.Error(t, err, "a failure")
				assert.True(t, errors.As(err, &se), "a *core.ServerError: %v", err)
			case tc.refused:
				require.Error(t, err, "a refusal")
				assert.False(t, errors.As(err, &se), "a refusal, not a server error: %v", err)
			default:
				require.NoError(t, err, "accepted")
				assert.Equal(t, tc.uid, id.UID, "the uid")
				assert.True(t, tc.expires.Equal(id.Expires), "Expires %v, want %v", id.Expires, tc.expires)
			}
		})
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	assert.Len(t, svc.asked, len(cases), "one POST per login, with the credential as JSON")
}

func TestCallbackUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := Callback{URL: url, Timeout: time.Second}.Authenticate(context.Background(), "x")
	var se *core.ServerError
	assert.True(t, errors.As(err, &se), "no service is a server error: %v", err)
}

func TestCallbackTimeout(t *testing.T) {
	svc := newAuthService(t, map[string]answer{"slow": {}})
	cb := Callback{URL: svc.URL, Timeout: 100 * time.Millisecond}
	start := time.Now()
	_, err := cb.Authenticate(context.Background(), "slow")
	took := time.Since(start)
	var se *core.ServerError
	require.Error(t, err, "no answer within Timeout")
	assert.True(t, errors.As(err, &se), "is a server error: %v", err)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "because of the deadline")
	assert.Less(t, took, 5*time.Second, "Authenticate gives up at about Timeout")
}

func TestCallbackHonoursContext(t *testing.T) {
	svc := newAuthService(t, map[string]answer{"slow": {}})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Callback{URL: svc.URL, Timeout: time.Minute}.Authenticate(ctx, "slow")
		errc <- err
	}()
	require.Equal(t, "slow", <-svc.started, "the request reached the service")
	cancel()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, context.Canceled, "cancelled with its context")
	case <-time.After(10 * time.Second):
		t.Fatal("Authenticate ignored its context")
	}
}

// TestCallbackSlowLoginDoesNotDelayOthers: while one login waits for a slow
// answer, another Authenticate call goes through.
func TestCallbackSlowLoginDoesNotDelayOthers(t *testing.T) {
	svc := newAuthService(t, map[string]answer{
		"slow": {},
		"fast": {http.StatusOK, `{"uid":"fast"}`},
	})
	cb := Callback{URL: svc.URL, Timeout: time.Minute}
	type result struct {
		id  core.Identity
		err error
	}
	slow := make(chan result, 1)
	go func() {
		id, err := cb.Authenticate(context.Background(), "slow")
		slow <- result{id, err}
	}()
	require.Equal(t, "slow", <-svc.started, "the slow request reached the service")

	fast := make(chan result, 1)
	go func() {
		id, err := cb.Authenticate(context.Background(), "fast")
		fast <- result{id, err}
	}()
	select {
	case r := <-fast:
		require.NoError(t, r.err, "the fast login")
		assert.Equal(t, "fast", r.id.UID, "the fast login's uid")
	case <-time.After(10 * time.Second):
		t.Fatal("the fast login waited for the slow one")
	}
	select {
	case <-slow:
		t.Fatal("the slow login returned before its service answered")
	default:
	}

	svc.unblock()
	select {
	case r := <-slow:
		require.NoError(t, r.err, "the slow login, once answered")
		assert.Equal(t, "slow", r.id.UID, "the slow login's uid")
	case <-time.After(10 * time.Second):
		t.Fatal("the slow login never returned")
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
