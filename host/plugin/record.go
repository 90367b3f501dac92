package plugin

import "time"

// Record is an installed plugin as the node stores it (KV bucket
// mesh_plugins; the binary is in the object store under its sha256).
type Record struct {
	Name      string            `json:"name"`
	Kind      Kind              `json:"kind"`
	SHA256    string            `json:"sha256"` // hex of the module's bytes
	Size      int64             `json:"size"`   // bytes
	Enabled   bool              `json:"enabled"`
	Config    map[string]string `json:"config,omitempty"` // handed to the plugin (Extism config; mesh_configure for codecs)
	Options   Options           `json:"options"`
	Exports   []string          `json:"exports,omitempty"` // what the module exports, for inspect
	Installed time.Time         `json:"installed"`
	State     string            `json:"state,omitempty"` // enabled, disabled, or failed (enabled but not loaded on this replica)
	Error     string            `json:"error,omitempty"` // why it failed to load on this replica
}

// Options are the host's settings for one plugin. Zero values take the
// kind's defaults.
type Options struct {
	Prefixes    []string          `json:"prefixes,omitempty"`      // route: URL path or x-ptp-uri prefixes it handles
	FailOpen    bool              `json:"fail_open,omitempty"`     // auth: admit when the policy fails (default: refuse)
	CacheTTLms  int64             `json:"cache_ttl_ms,omitempty"`  // auth: decision cache; default 5000, <0 off
	TimeoutMs   int64             `json:"timeout_ms,omitempty"`    // deadline of one call; default per kind
	MaxMemoryMB int64             `json:"max_memory_mb,omitempty"` // linear memory cap; default 256
	Pool        int               `json:"pool,omitempty"`          // instances at most; default 4
	AllowHosts  []string          `json:"allow_hosts,omitempty"`   // Extism kinds: HOST or HOST:PORT it may call over HTTP(S); no port means 443/80 (granthttp.go)
	AllowPaths  map[string]string `json:"allow_paths,omitempty"`   // Extism kinds: host dir → guest dir, read-only unless the host dir has the "rw:" prefix (grantfs.go)
}

// InstallRequest is the body of POST /v1/interconn/plugin/install.
type InstallRequest struct {
	Name     string            `json:"name"`             // default: the file name without .wasm, from the CLI
	Kind     Kind              `json:"kind,omitempty"`   // default: the one kind whose exports the module has
	Wasm     []byte            `json:"wasm"`             // the module (base64 in JSON)
	SHA256   string            `json:"sha256,omitempty"` // if set, must match the module's hash
	Config   map[string]string `json:"config,omitempty"`
	Options  Options           `json:"options"`
	Disabled bool              `json:"disabled,omitempty"` // install without enabling
}
