// Package netns builds throw-away network topologies out of Linux network
// namespaces and veth links, for end-to-end tests, benchmarks and demos.
//
// Every namespace of a Topology is named "<prefix>-<host>" with a prefix
// unique to the run ("lt<pid>x<random>"), and interfaces are created
// directly inside their namespaces, so runs never collide on names.
// Topology.Close (registered with t.Cleanup by New) stops every process that
// was started, runs registered clean-ups and deletes every namespace, even
// when the test failed. Namespaces left behind by a killed run (whose PID no
// longer exists) are removed by the next Open.
//
// Configuration uses the ip(8), sysctl(8) and ethtool(8) commands: this is
// test tooling, so clarity matters more than speed.
package netns
