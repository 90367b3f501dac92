// Package plugin runs the node's WebAssembly plugins: codecs on the
// node-to-node data path, auth policies on every container and partner
// request, and route handlers for configured paths. Kinds are data (one
// table, kind.go); codecs are called through a thin raw wazero ABI
// (abi.go), the other kinds through the Extism guest ABI. Each loaded
// plugin keeps a bounded pool of instances; a call that traps or runs past
// its deadline discards its instance. What a plugin is granted holds:
// each allow_paths directory is an os.Root (read-only unless "rw:"), so no
// link leads out of it (grantfs.go); allow_hosts grants host and port, and
// no redirect leaves the grant (granthttp.go). A plugin's failure text
// reaches the node's log, never a caller (failure.go). Installed plugins
// live in the node's NATS store, so every replica loads the same set and a
// change applies without a restart.
package plugin
