package httpapi

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
)

const codeRequestHeadersTooLarge = "root.request_headers_too_large"

// Listener wraps the listener the service's http.Server serves on, so that
// the answers net/http writes by itself, before any handler runs, carry the
// error envelope, X-Error-Codes and X-Request-Id like every other error:
// a request line or target it cannot parse (a bad percent-encoding in the
// path), a missing or malformed Host, a malformed header, headers over
// MaxHeaderBytes (431), an unsupported transfer coding (501) or HTTP
// version (505), and an Expect other than 100-continue (417).
//
// net/http has no hook for these: it writes each as one fixed plain-text
// answer straight to the connection and closes it. So the connection is
// where they are recognized, by their exact form, and replaced. No answer
// of the handler has that form: each carries Date and X-Request-Id, and
// the handler never answers 417.
func Listener(l net.Listener) net.Listener { return envelopeListener{l} }

type envelopeListener struct{ net.Listener }

func (l envelopeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return envelopeConn{c}, nil
}

type envelopeConn struct{ net.Conn }

func (c envelopeConn) Write(p []byte) (int, error) {
	answer := envelopeFor(p)
	if answer == nil {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(answer); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite keeps net/http's graceful close of a refused connection (it
// half-closes, then waits, so that the client reads the 431 before the
// connection is reset).
func (c envelopeConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// plainErrorHeaders follow the status line of net/http's own answers
// (net/http/server.go, conn.serve).
const plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// envelopeFor is the enveloped answer to write instead of p when p is one
// of net/http's own error answers, else nil.
func envelopeFor(p []byte) []byte {
	rest, ok := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !ok || len(rest) < 4 || rest[3] != ' ' {
		return nil
	}
	status, err := strconv.Atoi(string(rest[:3]))
	if err != nil {
		return nil
	}
	statusLine, _, _ := bytes.Cut(rest, []byte("\r\n"))
	plain := bytes.HasPrefix(rest[len(statusLine):], []byte(plainErrorHeaders))
	if !plain && !bytes.Equal(statusLine, []byte("417 Expectation Failed")) {
		return nil
	}
	// net/http's reason, as in "400 Bad Request: missing required Host header".
	var why string
	if _, after, found := bytes.Cut(statusLine, []byte(": ")); found {
		why = ": " + string(after)
	}
	return closingAnswer(netHTTPProblem(status, why))
}

func netHTTPProblem(status int, why string) *problem {
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		return newProblem(status, codeRequestHeadersTooLarge, "The request's header fields are over the server's limit.")
	case http.StatusExpectationFailed:
		return newProblem(status, codeMalformedRequest, "The only Expect this server meets is 100-continue.")
	case http.StatusNotImplemented:
		return newProblem(status, codeMalformedRequest, "The request uses a transfer coding this server does not implement; send chunked or a Content-Length.")
	case http.StatusHTTPVersionNotSupported:
		return newProblem(status, codeMalformedRequest, "This server speaks HTTP/1.x.")
	}
	return newProblem(status, codeMalformedRequest, "The request is not HTTP/1.1 this server can read (request line, target or header fields)"+why+".")
}

// closingAnswer is the whole HTTP/1.1 answer holding p, on a connection
// that closes after it, as net/http's own answers do.
func closingAnswer(p *problem) []byte {
	w := &bufferedResponse{header: http.Header{}}
	w.header.Set("X-Request-Id", uuid.NewString())
	w.header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	writeProblem(w, p)
	res := &http.Response{
		StatusCode: w.status, ProtoMajor: 1, ProtoMinor: 1, Header: w.header, Close: true,
		ContentLength: int64(w.body.Len()), Body: io.NopCloser(&w.body),
	}
	var out bytes.Buffer
	_ = res.Write(&out)
	return out.Bytes()
}

// bufferedResponse is an http.ResponseWriter that keeps what it is given.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedResponse) Header() http.Header         { return w.header }
func (w *bufferedResponse) WriteHeader(status int)      { w.status = status }
func (w *bufferedResponse) Write(p []byte) (int, error) { return w.body.Write(p) }
