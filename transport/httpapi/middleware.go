package httpapi

import (
	"context"
	"net/http"
	"regexp"
	"runtime/debug"

	"github.com/google/uuid"
)

type requestIDKey struct{}

var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// withRequestID keeps the caller's X-Request-Id when sane, else makes one,
// and echoes it on every response.
func (s *server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID.MatchString(id) {
			id = uuid.NewString()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// recoverPanics turns a panic into a 500 envelope; the stack goes to the log only.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("panic serving request", "request_id", requestID(r.Context()), "route", routeOf(r), "panic", v, "stack", string(debug.Stack()))
				writeProblem(w, internal)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
