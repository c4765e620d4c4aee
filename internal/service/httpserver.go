package service

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/invitesvc/invitesvc/transport/httpapi"
)

// HTTPServer serves the service's handler: cmd/invitesvc and invitebench
// serve with it, so that what they run is what is tested.
type HTTPServer struct{ srv *http.Server }

// NewHTTPServer bounds slow clients with timeouts, and header fields to
// net/http's default of 1 MiB.
func NewHTTPServer(h http.Handler) *HTTPServer {
	return &HTTPServer{&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: http.DefaultMaxHeaderBytes}}
}

// Serve answers on l until Shutdown; what net/http answers by itself (a
// request it cannot parse, headers over the limit) has the error envelope
// too (httpapi.Listener).
func (s *HTTPServer) Serve(l net.Listener) error { return s.srv.Serve(httpapi.Listener(l)) }

// Shutdown stops taking requests and waits for those in flight.
func (s *HTTPServer) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
