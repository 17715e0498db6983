package conf

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"slices"

	"github.com/BurntSushi/toml"
)

// Example is conf/lispd.example.toml: an annotated configuration documenting
// every key with its default. It parses and validates.
//
//go:embed lispd.example.toml
var Example []byte

// RedactedKey is the placeholder that replaces keys in Config.Redacted.
const RedactedKey = "<redacted>"

// Encode writes cfg as TOML that Parse reads back to an equal Config.
// Keys are written in schema order; the output carries no comments.
func Encode(w io.Writer, cfg *Config) error {
	var buf bytes.Buffer
	buf.WriteString("# lispd configuration (generated)\n")
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(cfg); err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	n := *c
	if c.XTR != nil {
		x := *c.XTR
		x.EIDPrefixes = slices.Clone(x.EIDPrefixes)
		x.EIDSpace = slices.Clone(x.EIDSpace)
		x.MapResolvers = slices.Clone(x.MapResolvers)
		x.ProxyETRs = slices.Clone(x.ProxyETRs)
		x.RLOCs = slices.Clone(x.RLOCs)
		x.MapServers = cloneRefs(x.MapServers)
		x.MapCache = slices.Clone(x.MapCache)
		for i := range x.MapCache {
			m := &x.MapCache[i]
			m.RLOCs = slices.Clone(m.RLOCs)
			if m.InstanceID != nil {
				id := *m.InstanceID
				m.InstanceID = &id
			}
		}
		n.XTR = &x
	}
	if c.MapServer != nil {
		m := *c.MapServer
		m.Listen = slices.Clone(m.Listen)
		m.RTRs = slices.Clone(m.RTRs)
		m.Sites = slices.Clone(m.Sites)
		for i := range m.Sites {
			m.Sites[i].EIDPrefixes = slices.Clone(m.Sites[i].EIDPrefixes)
		}
		n.MapServer = &m
	}
	if c.RTR != nil {
		r := *c.RTR
		r.Listen = slices.Clone(r.Listen)
		r.MapServers = slices.Clone(r.MapServers)
		n.RTR = &r
	}
	return &n
}

func cloneRefs(refs []MapServerRef) []MapServerRef {
	refs = slices.Clone(refs)
	for i := range refs {
		if refs[i].WantMapNotify != nil {
			b := *refs[i].WantMapNotify
			refs[i].WantMapNotify = &b
		}
	}
	return refs
}

// Redacted returns a deep copy of c with every authentication key replaced
// by "<redacted>", for `lispd show config` and logs.
func (c *Config) Redacted() *Config {
	n := c.Clone()
	if n.XTR != nil {
		redactRefs(n.XTR.MapServers)
	}
	if n.MapServer != nil {
		for i := range n.MapServer.Sites {
			if n.MapServer.Sites[i].Key != "" {
				n.MapServer.Sites[i].Key = RedactedKey
			}
		}
	}
	return n
}

func redactRefs(refs []MapServerRef) {
	for i := range refs {
		if refs[i].Key != "" {
			refs[i].Key = RedactedKey
		}
	}
}
