// Package admin is lispd's control socket: the Unix socket through which
// `lispd show`, `lispd reload` and `lispd map-cache` talk to the running
// daemon, and the JSON views those commands print.
//
// The protocol is one request and one response per connection, each a single
// JSON object:
//
//	→ {"v":1,"cmd":"show map-cache","args":{"eid":"198.51.100.10"}}
//	← {"v":1,"ok":true,"data":{...}}
//	← {"v":1,"ok":false,"error":"...","problems":["FILE:LINE:COL: key: message"]}
//
// "v" is Version; a server answers a request of another version with an
// error naming both versions. "args" is optional and specific to the command.
// The daemon registers a handler per command name (Server.Handle); the client
// side is Call. The socket is created with mode 0600: only root (the daemon's
// user) may talk to it.
//
// The view types (MapCache, Registrations, RLOCs, Stats, Config) are what the
// daemon fills and what the CLI prints, as tables or with --json as they are.
// Durations in views are whole seconds; times are RFC 3339.
package admin
