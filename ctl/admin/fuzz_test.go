package admin

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/lispd/lispd/internal/jsonx"
)

// FuzzRespond feeds arbitrary bytes to the request parser and dispatcher:
// it must never panic, and must always answer with the protocol version.
func FuzzRespond(f *testing.F) {
	for _, seed := range []string{
		`{"v":1,"cmd":"show map-cache","args":{"eid":"198.51.100.10"}}` + "\n",
		`{"v":1,"cmd":"echo"}`,
		`{"v":2,"cmd":"echo"}`,
		`{"v":1,"cmd":"echo","args":null}`,
		`{"v":1,"cmd":"echo"} {}`,
		"{not json", "", "\n", `[]`, `{"v":"1"}`,
	} {
		f.Add([]byte(seed))
	}
	s := &Server{handlers: map[string]HandlerFunc{
		"echo": func(args jsonx.RawMessage) (any, error) { return args, nil },
	}}
	f.Fuzz(func(t *testing.T, b []byte) {
		resp := s.respond(bytes.NewReader(b))
		if resp.V != Version {
			t.Fatalf("response without version: %+v", resp)
		}
		if resp.OK == (resp.Error != "") {
			t.Fatalf("ok %v with error %q", resp.OK, resp.Error)
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("response does not encode: %v", err)
		}
	})
}
