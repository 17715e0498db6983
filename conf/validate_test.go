package conf

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// A valid minimal xTR, spliced into the cases below.
const (
	xtrHead = "[xtr]\neid_prefixes = [\"198.51.100.0/25\"]\n"
	xtrRLOC = "[[xtr.rloc]]\naddress = \"192.0.2.1\"\n"
	minXTR  = xtrHead + xtrRLOC
)

// markedLine returns the 1-based line of src holding the marker "#<".
func markedLine(t *testing.T, src string) int {
	t.Helper()
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, "#<") {
			return i + 1
		}
	}
	t.Fatalf("no #< marker in\n%s", src)
	return 0
}

// problems parses src, which must fail, and returns its problems.
func problems(t *testing.T, src string) Errors {
	t.Helper()
	cfg, err := Parse("test.toml", []byte(src))
	if err == nil {
		t.Fatalf("Parse accepted\n%s\n(config %+v)", src, cfg)
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T is not conf.Errors: %v", err, err)
	}
	return errs
}

func TestValidationRules(t *testing.T) {
	cases := []struct {
		name string
		src  string // the #< marker is on the line the problem must point at
		key  string // exact key path of the (only) problem
		msg  string // substring of its message
	}{
		// Top level.
		{"log_level", "log_level = \"verbose\" #<\n" + minXTR, "log_level", `"verbose" is not one of debug, info, warn, error`},
		{"control_socket empty", "control_socket = \"\" #<\n" + minXTR, "control_socket", "must not be empty"},
		{"control_socket long", "control_socket = \"/" + strings.Repeat("x", 120) + "\" #<\n" + minXTR, "control_socket", "too long"},
		{"unknown top key", "log_levle = \"info\" #<\n" + minXTR, "log_levle", `unknown key (did you mean "log_level"?)`},
		{"no role", "log_level = \"info\" #<\n[map_server]\nenabled = false\n", "", "no role configured"},
		{"type string for int", xtrHead + "mtu = \"1500\" #<\n" + xtrRLOC, "xtr.mtu", `expected an integer, got string "1500"`},
		{"type int for string", "log_level = 3 #<\n" + minXTR, "log_level", "expected a string, got integer 3"},
		{"type table for role", "xtr = 5 #<\n", "xtr", "expected a table"},
		{"array as string", "[xtr]\neid_prefixes = \"198.51.100.0/25\" #<\n" + xtrRLOC, "xtr.eid_prefixes", `expected an array, got string`},
		{"element type", "[xtr]\neid_prefixes = [\"198.51.100.0/25\",\n  5] #<\n" + xtrRLOC, "xtr.eid_prefixes[1]", "expected a string (an IP prefix), got integer 5"},
		{"rloc table as value", xtrHead + "rloc = 1 #<\n", "xtr.rloc", "expected an array"},
		{"uint overflow", xtrHead + "instance_id = -1 #<\n" + xtrRLOC, "xtr.instance_id", "-1 is out of range"},

		// xtr scalars.
		{"tun empty", xtrHead + "tun = \"\" #<\n" + xtrRLOC, "xtr.tun", "must not be empty"},
		{"tun long", xtrHead + "tun = \"lisp0123456789abc\" #<\n" + xtrRLOC, "xtr.tun", "longer than 15 bytes"},
		{"tun slash", xtrHead + "tun = \"a/b\" #<\n" + xtrRLOC, "xtr.tun", "not a valid interface name"},
		{"mtu range", xtrHead + "mtu = 100 #<\n" + xtrRLOC, "xtr.mtu", "out of range"},
		{"mtu ipv6", "[xtr]\neid_prefixes = [\"2001:db8:1::/48\"]\nmtu = 1000 #<\n" + xtrRLOC, "xtr.mtu", "below 1280"},
		{"instance_id reserved", xtrHead + "instance_id = 16777215 #<\n" + xtrRLOC, "xtr.instance_id", "out of range 0..16777214"},
		{"eid prefix not canonical", "[xtr]\neid_prefixes = [\"198.51.100.0/25\",\n  \"198.51.100.129/25\"] #<\n" + xtrRLOC, "xtr.eid_prefixes[1]", "host bits set: did you mean 198.51.100.128/25?"},
		{"eid prefix garbage", "[xtr]\neid_prefixes = [\"198.51.100.0/33\"] #<\n" + xtrRLOC, "xtr.eid_prefixes[0]", "is not an IP prefix"},
		{"eid prefix 4in6", "[xtr]\neid_prefixes = [\"::ffff:198.51.100.0/120\"] #<\n" + xtrRLOC, "xtr.eid_prefixes[0]", "IPv4-mapped"},
		{"eid prefixes overlap", "[xtr]\neid_prefixes = [\"198.51.100.0/24\",\n \"198.51.100.0/25\"] #<\n" + xtrRLOC, "xtr.eid_prefixes[1]", "overlaps 198.51.100.0/24"},
		{"eid_space not canonical", xtrHead + "eid_space = [\"198.51.100.1/24\"] #<\n" + xtrRLOC, "xtr.eid_space[0]", "host bits"},
		{"map resolver multicast", xtrHead + "map_resolvers = [\"224.0.0.1\"] #<\n" + xtrRLOC, "xtr.map_resolvers[0]", "multicast"},
		{"map resolver unspecified", xtrHead + "map_resolvers = [\"::\"] #<\n" + xtrRLOC, "xtr.map_resolvers[0]", "unspecified"},
		{"map resolver broadcast", xtrHead + "map_resolvers = [\"255.255.255.255\"] #<\n" + xtrRLOC, "xtr.map_resolvers[0]", "broadcast"},
		{"map resolver zone", xtrHead + "map_resolvers = [\"fe80::1%eth0\"] #<\n" + xtrRLOC, "xtr.map_resolvers[0]", "zone"},
		{"map resolver duplicate", xtrHead + "map_resolvers = [\"192.0.2.10\", \"192.0.2.10\"] #<\n" + xtrRLOC, "xtr.map_resolvers[1]", "already xtr.map_resolvers[0]"},
		{"map resolver in eid", xtrHead + "map_resolvers = [\"198.51.100.7\"] #<\n" + xtrRLOC, "xtr.map_resolvers[0]", "inside EID prefix 198.51.100.0/25"},
		{"proxy etr weight", xtrHead + "proxy_etrs = [{ address = \"203.0.113.20\", weight = 101 }] #<\n" + xtrRLOC, "xtr.proxy_etrs[0].weight", "out of range 0..100"},
		{"proxy etr in eid_space", xtrHead + "eid_space = [\"203.0.113.0/24\"]\nproxy_etrs = [{ address = \"203.0.113.20\" }] #<\n" + xtrRLOC, "xtr.proxy_etrs[0].address", "inside EID prefix 203.0.113.0/24 (xtr.eid_space[0])"},
		{"proxy etr unknown key", xtrHead + "proxy_etrs = [{ adress = \"203.0.113.20\" }] #<\n" + xtrRLOC, "xtr.proxy_etrs[0].adress", "unknown key"},
		{"map_cache_limit", xtrHead + "map_cache_limit = 0 #<\n" + xtrRLOC, "xtr.map_cache_limit", "out of range 1..16777216"},
		{"map_cache_limit huge", xtrHead + "map_cache_limit = 5000000000 #<\n" + xtrRLOC, "xtr.map_cache_limit", "out of range"},
		{"xtr does nothing", "[xtr] #<\n" + xtrRLOC, "xtr", "does nothing"},

		// Timers.
		{"register_interval zero", xtrHead + "register_interval = \"0s\" #<\n" + xtrRLOC, "xtr.register_interval", "must be positive"},
		{"map_request_timeout syntax", xtrHead + "map_request_timeout = \"1 second\" #<\n" + xtrRLOC, "xtr.map_request_timeout", "is not a duration"},
		{"duration as int", xtrHead + "idle_timeout = 300 #<\n" + xtrRLOC, "xtr.idle_timeout", "expected a string (a duration"},
		{"map_request_retries", xtrHead + "map_request_retries = -1 #<\n" + xtrRLOC, "xtr.map_request_retries", "out of range 0..100"},
		{"map_request_rate", xtrHead + "map_request_rate = 0 #<\n" + xtrRLOC, "xtr.map_request_rate", "out of range 1.."},
		{"record_ttl minutes", xtrHead + "record_ttl = \"90s\" #<\n" + xtrRLOC, "xtr.record_ttl", "whole number of minutes"},
		{"record_ttl negative", xtrHead + "record_ttl = \"-1m\" #<\n" + xtrRLOC, "xtr.record_ttl", "must be positive"},
		{"pending_total", xtrHead + "pending_packets = 8\npending_total = 4 #<\n" + xtrRLOC, "xtr.pending_total", "less than pending_packets"},
		{"probe_interval", xtrHead + "probe_interval = \"0s\" #<\n" + xtrRLOC, "xtr.probe_interval", "must be positive"},
		{"probe_retries", xtrHead + "probe_retries = 0 #<\n" + xtrRLOC, "xtr.probe_retries", "out of range 1..100"},
		{"nat_keepalive", xtrHead + "nat_keepalive = \"-5s\" #<\n" + xtrRLOC, "xtr.nat_keepalive", "must be positive"},
		{"nat_keepalive too short", xtrHead + "nat_keepalive = \"100ms\" #<\n" + xtrRLOC, "xtr.nat_keepalive", "out of range 1s..1h"},
		{"nat_keepalive too long", xtrHead + "nat_keepalive = \"2h\" #<\n" + xtrRLOC, "xtr.nat_keepalive", "out of range 1s..1h"},
		{"nat_traversal", xtrHead + "nat_traversal = \"yes\" #<\n" + xtrRLOC, "xtr.nat_traversal", "auto, always, off"},
		{"tun_offload", xtrHead + "tun_offload = \"on\" #<\n" + xtrRLOC, "xtr.tun_offload", "auto, off"},
		{"kernel_path", xtrHead + "kernel_path = \"on\" #<\n" + xtrRLOC, "xtr.kernel_path", "off, auto"},
		{"decap_filter", xtrHead + "decap_filter = \"strict\" #<\n" + xtrRLOC, "xtr.decap_filter", `"strict" is not one of known, off`},
		{"decap_allow host bits", xtrHead + "decap_allow = [\"203.0.113.0/24\",\n  \"192.0.2.1/24\"] #<\n" + xtrRLOC, "xtr.decap_allow[1]", "host bits set: did you mean 192.0.2.0/24?"},
		{"decap_allow garbage", xtrHead + "decap_allow = [\"192.0.2.0/40\"] #<\n" + xtrRLOC, "xtr.decap_allow[0]", "is not an IP prefix"},
		{"decap_allow 4in6", xtrHead + "decap_allow = [\"::ffff:192.0.2.0/120\"] #<\n" + xtrRLOC, "xtr.decap_allow[0]", "IPv4-mapped"},
		{"kernel_path bypasses decap_filter", xtrHead + "kernel_path = \"auto\" #<\n" + xtrRLOC, "xtr.kernel_path", `set decap_filter = "off" or leave kernel_path off`},
		{"kernel_path bypasses decap_filter known", xtrHead + "decap_filter = \"known\"\nkernel_path = \"auto\" #<\n" + xtrRLOC, "xtr.kernel_path", `bypass decap_filter = "known"`},

		// Local locators.
		{"no rloc", "[xtr] #<\neid_prefixes = [\"198.51.100.0/25\"]\ntun = \"lisp0\"\n", "xtr", "at least one [[xtr.rloc]]"},
		{"rloc neither", xtrHead + "[[xtr.rloc]] #<\npriority = 1\n", "xtr.rloc[0]", "needs one of interface or address"},
		{"rloc both", xtrHead + "[[xtr.rloc]]\ninterface = \"eth1\"\naddress = \"192.0.2.1\" #<\n", "xtr.rloc[0].address", "not both"},
		{"rloc priority", minXTR + "[[xtr.rloc]]\ninterface = \"eth1\"\npriority = 256 #<\n", "xtr.rloc[1].priority", "out of range 0..255"},
		{"rloc weight", minXTR + "[[xtr.rloc]]\ninterface = \"eth1\"\n  weight = -1 #<\n", "xtr.rloc[1].weight", "out of range 0..100"},
		{"rloc all 255", xtrHead + "[[xtr.rloc]] #<\naddress = \"192.0.2.1\"\npriority = 255\n", "xtr.rloc", "priority 255"},
		{"rloc multicast", xtrHead + "[[xtr.rloc]]\naddress = \"ff02::1\" #<\n", "xtr.rloc[0].address", "multicast"},
		{"rloc in eid", xtrHead + "[[xtr.rloc]]\naddress = \"198.51.100.1\" #<\n", "xtr.rloc[0].address", "inside EID prefix"},
		{"rloc dup address", minXTR + "[[xtr.rloc]]\naddress = \"192.0.2.1\" #<\n", "xtr.rloc[1].address", "already xtr.rloc[0]"},
		{"rloc dup interface", xtrHead + "[[xtr.rloc]]\ninterface = \"eth1\"\n[[xtr.rloc]]\ninterface = \"eth1\" #<\n", "xtr.rloc[1].interface", "already xtr.rloc[0]"},
		{"rloc bad address", xtrHead + "[[xtr.rloc]]\naddress = \"192.0.2.300\" #<\n", "xtr.rloc[0].address", "is not an IP address"},
		{"rloc unknown key", minXTR + "prority = 2 #<\n", "xtr.rloc[0].prority", `did you mean "priority"?`},

		// Map-Servers of the xTR.
		{"ms key empty", minXTR + "[[xtr.map_server]]\naddress = \"192.0.2.10\"\nkey = \"\" #<\n", "xtr.map_server[0].key", "must not be empty"},
		{"ms key missing", minXTR + "[[xtr.map_server]] #<\naddress = \"192.0.2.10\"\n", "xtr.map_server[0].key", "is missing"},
		{"ms address with port", minXTR + "[[xtr.map_server]]\naddress = \"192.0.2.10:4342\" #<\nkey = \"k\"\n", "xtr.map_server[0].address", "no port here: LISP uses fixed ports (4342 control, 4341 data)"},
		{"resolver with port", xtrHead + "map_resolvers = [\"[2001:db8::10]:4342\"] #<\n" + xtrRLOC, "xtr.map_resolvers[0]", "no port here"},
		{"rloc as a table", xtrHead + "[xtr.rloc] #<\naddress = \"192.0.2.1\"\n", "xtr.rloc", "expected an array, got a table (an array of tables is written [[xtr.rloc]])"},
		{"ms key_type", minXTR + "[[xtr.map_server]]\naddress = \"192.0.2.10\"\nkey = \"k\"\nkey_type = \"md5\" #<\n", "xtr.map_server[0].key_type", `"md5" is not one of sha1, sha256`},
		{"ms address missing", minXTR + "[[xtr.map_server]] #<\nkey = \"k\"\n", "xtr.map_server[0].address", "is required"},
		{"ms want_map_notify type", minXTR + "[[xtr.map_server]]\naddress = \"192.0.2.10\"\nkey = \"k\"\nwant_map_notify = \"yes\" #<\n", "xtr.map_server[0].want_map_notify", "expected true or false"},
		{"ms duplicate", minXTR + "[[xtr.map_server]]\naddress = \"192.0.2.10\"\nkey = \"k\"\n[[xtr.map_server]]\naddress = \"192.0.2.10\" #<\nkey = \"k\"\n", "xtr.map_server[1].address", "already xtr.map_server[0]"},
		{"ms without eids", "[xtr]\neid_space = [\"198.51.100.0/24\"]\n" + xtrRLOC + "[[xtr.map_server]] #<\naddress = \"192.0.2.10\"\nkey = \"k\"\n", "xtr.map_server", "nothing to register"},

		// Static mappings.
		{"mc no rlocs no action", minXTR + "[[xtr.map_cache]] #<\neid_prefix = \"203.0.113.0/24\"\n", "xtr.map_cache[0]", "needs an action"},
		{"mc bad action", minXTR + "[[xtr.map_cache]]\neid_prefix = \"203.0.113.0/24\"\naction = \"forward\" #<\n", "xtr.map_cache[0].action", `"forward" is not an action`},
		{"mc action with rlocs", minXTR + "[[xtr.map_cache]]\neid_prefix = \"203.0.113.0/24\"\nrlocs = [{ address = \"192.0.2.2\" }]\naction = \"drop\" #<\n", "xtr.map_cache[0].action", "for negative mappings"},
		{"mc prefix missing", minXTR + "[[xtr.map_cache]] #<\naction = \"drop\"\n", "xtr.map_cache[0].eid_prefix", "is required"},
		{"mc prefix not canonical", minXTR + "[[xtr.map_cache]]\neid_prefix = \"203.0.113.1/24\" #<\naction = \"drop\"\n", "xtr.map_cache[0].eid_prefix", "did you mean 203.0.113.0/24?"},
		{"mc instance_id", minXTR + "[[xtr.map_cache]]\neid_prefix = \"203.0.113.0/24\"\ninstance_id = 16777215 #<\naction = \"drop\"\n", "xtr.map_cache[0].instance_id", "reserved"},
		{"mc own prefix", minXTR + "[[xtr.map_cache]]\neid_prefix = \"198.51.100.0/26\" #<\naction = \"drop\"\n", "xtr.map_cache[0].eid_prefix", "overlaps this site's own EID prefix"},
		{"mc duplicate", minXTR + "[[xtr.map_cache]]\neid_prefix = \"203.0.113.0/24\"\naction = \"drop\"\n[[xtr.map_cache]]\neid_prefix = \"203.0.113.0/24\" #<\naction = \"drop\"\n", "xtr.map_cache[1].eid_prefix", "already mapped by xtr.map_cache[0]"},
		{"mc rloc priority inline", minXTR + "[[xtr.map_cache]]\neid_prefix = \"203.0.113.0/24\"\nrlocs = [\n  { address = \"192.0.2.2\" },\n  { address = \"192.0.2.3\", priority = 300 }, #<\n]\n", "xtr.map_cache[0].rlocs[1].priority", "out of range 0..255"},
		{"mc rloc in eid", minXTR + "[[xtr.map_cache]]\neid_prefix = \"203.0.113.0/24\"\nrlocs = [{ address = \"203.0.113.9\" }] #<\n", "xtr.map_cache[0].rlocs[0].address", "inside EID prefix 203.0.113.0/24 (xtr.map_cache[0].eid_prefix)"},
		{"mc rloc as array of tables", minXTR + "[[xtr.map_cache]]\neid_prefix = \"203.0.113.0/24\"\n[[xtr.map_cache.rlocs]]\naddress = \"192.0.2.2\"\n[[xtr.map_cache.rlocs]]\naddress = \"192.0.2.3\"\nweight = 500 #<\n", "xtr.map_cache[0].rlocs[1].weight", "out of range"},
		{"map_cache_limit below static", xtrHead + "map_cache_limit = 1 #<\n" + xtrRLOC + "[[xtr.map_cache]]\neid_prefix = \"203.0.113.0/25\"\naction = \"drop\"\n[[xtr.map_cache]]\neid_prefix = \"203.0.113.128/25\"\naction = \"drop\"\n", "xtr.map_cache_limit", "less than the 2 static mappings"},

		// Map-Server role.
		{"ms role no listen", "[map_server] #<\nenabled = true\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/24\"]\n", "map_server.listen", "needs at least one address"},
		{"ms role no sites", "[map_server] #<\nenabled = true\nlisten = [\"192.0.2.10\"]\n", "map_server", "at least one [[map_server.site]]"},
		{"ms role listen multicast", "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\", \"239.1.1.1\"] #<\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/24\"]\n", "map_server.listen[1]", "multicast"},
		{"ms registration_timeout", "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\"]\nregistration_timeout = \"0s\" #<\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/24\"]\n", "map_server.registration_timeout", "must be positive"},
		{"site duplicate name", "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\"]\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/25\"]\n[[map_server.site]]\nname = \"a\" #<\nkey = \"k\"\neid_prefixes = [\"198.51.100.128/25\"]\n", "map_server.site[1].name", `site "a" is already defined at map_server.site[0]`},
		{"site no name", "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\"]\n[[map_server.site]] #<\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/25\"]\n", "map_server.site[0].name", "is required"},
		{"site key_type", "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\"]\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\nkey_type = \"SHA256\" #<\neid_prefixes = [\"198.51.100.0/25\"]\n", "map_server.site[0].key_type", "not one of sha1, sha256"},
		{"site prefix not canonical", "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\"]\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\neid_prefixes = [\n \"198.51.100.0/25\",\n \"198.51.100.1/25\", #<\n]\n", "map_server.site[0].eid_prefixes[1]", "host bits"},
		{"site max_registrations 0", "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\"]\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/24\"]\nmax_registrations = 0 #<\n", "map_server.site[0].max_registrations", "0 is out of range 1..1048576"},
		{"site max_registrations negative", "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\"]\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/24\"]\nmax_registrations = -1 #<\n", "map_server.site[0].max_registrations", "-1 is out of range"},
		{"site no prefixes", "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\"]\n[[map_server.site]] #<\nname = \"a\"\nkey = \"k\"\n", "map_server.site[0].eid_prefixes", "at least one EID prefix"},
		{"sites overlap", "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\"]\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/24\"]\n[[map_server.site]]\nname = \"b\"\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/25\"] #<\n", "map_server.site[1].eid_prefixes[0]", "overlaps 198.51.100.0/24 (map_server.site[0].eid_prefixes[0])"},
		{"site instance_id", "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\"]\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\ninstance_id = 99999999 #<\neid_prefixes = [\"198.51.100.0/24\"]\n", "map_server.site[0].instance_id", "out of range"},
		{"ms listen in site eid", "[map_server]\nenabled = true\nlisten = [\"198.51.100.1\"] #<\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/24\"]\n", "map_server.listen[0]", "inside EID prefix"},

		// RTR role.
		{"rtr no listen", "[rtr] #<\nenabled = true\nmap_servers = [\"192.0.2.10\"]\n", "rtr.listen", "at least one address"},
		{"rtr no map servers", "[rtr] #<\nenabled = true\nlisten = [\"203.0.113.30\"]\n", "rtr.map_servers", "at least one Map-Server"},
		{"rtr map server with a key (the former form)", "[rtr]\nenabled = true\nlisten = [\"203.0.113.30\"]\nmap_servers = [{ address = \"192.0.2.10\", key = \"k\" }] #<\n", "rtr.map_servers[0]", "the RTR holds no key"},
		{"rtr map server not an address", "[rtr]\nenabled = true\nlisten = [\"203.0.113.30\"]\nmap_servers = [\"ms.example\"] #<\n", "rtr.map_servers[0]", "not an IP address"},
		{"rtr map server twice", "[rtr]\nenabled = true\nlisten = [\"203.0.113.30\"]\nmap_servers = [\"192.0.2.10\", \"192.0.2.10\"] #<\n", "rtr.map_servers[1]", "is already rtr.map_servers[0]"},
		{"rtr unknown key", "[rtr]\nenabled = true\nlisten = [\"203.0.113.30\"]\nmap_server = [] #<\n", "rtr.map_server", `did you mean "map_servers"?`},
	}
	// Cases where a typo leaves a required key unset report both.
	count := map[string]int{"proxy etr unknown key": 2, "rtr unknown key": 2}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := problems(t, c.src)
			line := markedLine(t, c.src)
			n := max(count[c.name], 1)
			if !RTRBuilt && strings.HasPrefix(c.name, "rtr ") {
				n++ // and rtr.enabled: not in this build (TestRTRRoleBuilt)
			}
			if len(errs) != n {
				t.Fatalf("want %d problems, got %d:\n%v\nin\n%s", n, len(errs), errs, c.src)
			}
			var p Problem
			for _, e := range errs {
				if e.Key == c.key {
					p = e
				}
			}
			if p.Key != c.key || p.Line != line || !strings.Contains(p.Msg, c.msg) || p.File != "test.toml" {
				t.Errorf("got %q (key %q, line %d)\nwant key %q at line %d with message containing %q\nin\n%s",
					p.Error(), p.Key, p.Line, c.key, line, c.msg, c.src)
			}
		})
	}
}

// TestValidConfigs are the edge cases that must be accepted.
func TestValidConfigs(t *testing.T) {
	cases := map[string]string{
		"minimal xtr":        minXTR,
		"itr only":           "[xtr]\neid_space = [\"198.51.100.0/24\"]\nmap_resolvers = [\"192.0.2.10\"]\n" + xtrRLOC,
		"static only":        "[xtr]\n" + xtrRLOC + "[[xtr.map_cache]]\neid_prefix = \"203.0.113.0/24\"\nrlocs = [{ address = \"192.0.2.2\", priority = 0, weight = 0 }]\n",
		"priority 255 + one": xtrHead + xtrRLOC + "priority = 255\n[[xtr.rloc]]\ninterface = \"wan\"\n",
		"mtu 1280 v6":        "[xtr]\neid_prefixes = [\"2001:db8:1::/48\"]\nmtu = 1280\n" + xtrRLOC,
		"instance max":       xtrHead + "instance_id = 16777214\n" + xtrRLOC,
		"map server only":    "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\"]\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\nkey_type = \"sha1\"\neid_prefixes = [\"198.51.100.0/24\"]\n",
		"same prefix other iid": "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\"]\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/24\"]\n" +
			"[[map_server.site]]\nname = \"b\"\nkey = \"k\"\ninstance_id = 7\neid_prefixes = [\"198.51.100.0/24\"]\n",
		"rtr only":  "[rtr]\nenabled = true\nlisten = [\"203.0.113.30\"]\nmap_servers = [\"192.0.2.10\"]\n",
		"loopback":  xtrHead + "map_resolvers = [\"127.0.0.1\", \"::1\"]\n" + xtrRLOC,
		"negatives": minXTR + "[[xtr.map_cache]]\neid_prefix = \"203.0.113.0/24\"\naction = \"native-forward\"\n[[xtr.map_cache]]\neid_prefix = \"2001:db8:9::/48\"\naction = \"send-map-request\"\n",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			if !RTRBuilt && strings.HasPrefix(name, "rtr ") {
				t.Skip("built without the RTR role (-tags nortr): TestRTRRoleBuilt")
			}
			if _, err := Parse("ok.toml", []byte(src)); err != nil {
				t.Fatalf("rejected:\n%v\nin\n%s", err, src)
			}
		})
	}
}

// An enabled [rtr] is valid only in a build with the role: without it
// (-tags nortr) the problem names rtr.enabled, at its line, and says why.
// A disabled [rtr] is valid in either build.
func TestRTRRoleBuilt(t *testing.T) {
	enabled := "[rtr]\nenabled = true #<\nlisten = [\"203.0.113.30\"]\nmap_servers = [\"192.0.2.10\"]\n"
	disabled := minXTR + "[rtr]\nenabled = false\nlisten = [\"203.0.113.30\"]\nmap_servers = [\"192.0.2.10\"]\n"
	if _, err := Parse("ok.toml", []byte(disabled)); err != nil {
		t.Errorf("disabled [rtr] rejected: %v", err)
	}
	if RTRBuilt {
		if _, err := Parse("ok.toml", []byte(enabled)); err != nil {
			t.Errorf("enabled [rtr] rejected in a build with the role: %v", err)
		}
		return
	}
	errs := problems(t, enabled)
	if len(errs) != 1 {
		t.Fatalf("want 1 problem, got %d:\n%v", len(errs), errs)
	}
	p := errs[0]
	if p.Key != "rtr.enabled" || p.Line != markedLine(t, enabled) || !strings.Contains(p.Msg, "built without the RTR role") || !strings.Contains(p.Msg, "LISPD_RTR") {
		t.Errorf("got %q (key %q, line %d)", p.Error(), p.Key, p.Line)
	}
	cfg := &Config{ControlSocket: "/run/lispd.sock", LogLevel: "info", RTR: &RTR{Enabled: true,
		Listen: []netip.Addr{netip.MustParseAddr("203.0.113.30")}, MapServers: []netip.Addr{netip.MustParseAddr("192.0.2.10")}}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "rtr.enabled: this lispd is built without the RTR role") {
		t.Errorf("Validate: %v", err)
	}
}
