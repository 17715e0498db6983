package admin

import (
	"strings"

	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/jsonx"
)

// Version is the protocol version this package speaks.
const Version = 1

// MaxRequestSize bounds a request (and the server reads no more); requests
// are small commands, so anything larger is refused.
const MaxRequestSize = 64 << 10

// MaxResponseSize bounds a response the client accepts (a large map-cache
// is a few megabytes of JSON).
const MaxResponseSize = 64 << 20

// Command names the daemon handles (the "cmd" of a request).
const (
	CmdShowMapCache      = "show map-cache"     // args MapCacheQuery, data MapCache
	CmdShowRegistrations = "show registrations" // no args, data Registrations
	CmdShowRLOCs         = "show rlocs"         // no args, data RLOCs
	CmdShowRTR           = "show rtr"           // no args, data RTR
	CmdShowStats         = "show stats"         // no args, data Stats
	CmdShowConfig        = "show config"        // no args, data Config
	CmdReload            = "reload"             // args ReloadArgs, data ReloadResult
	CmdMapCacheAdd       = "map-cache add"      // args MapCacheAddArgs, data MapCacheEntry
	CmdMapCacheDel       = "map-cache del"      // args MapCacheDelArgs, data MapCacheDelResult
)

// Request is what a client sends.
type Request struct {
	V    int              `json:"v"`              // protocol version, Version
	Cmd  string           `json:"cmd"`            // command name, e.g. "show map-cache"
	Args jsonx.RawMessage `json:"args,omitempty"` // command arguments; absent = none
}

// Response is what the server answers.
type Response struct {
	V     int              `json:"v"`               // protocol version, Version
	OK    bool             `json:"ok"`              // the command succeeded; Data holds its result
	Data  jsonx.RawMessage `json:"data,omitempty"`  // the result when OK
	Error string           `json:"error,omitempty"` // what went wrong when not OK
	// Problems lists, one per entry, what is wrong with a configuration
	// (e.g. a refused reload), each "FILE:LINE:COL: key: message".
	Problems []string `json:"problems,omitempty"`
}

// ProblemError is an error that carries a list of configuration problems.
// A handler returning one (or wrapping one) makes the response carry
// Problems; Call returns a *RemoteError with them. conf.Errors is turned
// into one by the server, so handlers may return it as is.
type ProblemError struct {
	Msg      string   // summary, e.g. "configuration invalid"
	Problems []string // each "FILE:LINE:COL: key: message"
}

// Error returns the summary followed by the problems, one per line.
func (e *ProblemError) Error() string {
	if len(e.Problems) == 0 {
		return e.Msg
	}
	return e.Msg + ":\n" + strings.Join(e.Problems, "\n")
}

// RemoteError is an error the daemon answered with.
type RemoteError struct {
	Cmd      string   // the command that failed
	Msg      string   // the daemon's error message
	Problems []string // configuration problems, when the daemon gave them
}

// Error returns the daemon's message.
func (e *RemoteError) Error() string { return e.Msg }

// ErrNotRunning is wrapped by Call's error when nothing listens on the
// socket (no socket file, or a stale one).
const ErrNotRunning = consterr.Error("lispd is not running")
