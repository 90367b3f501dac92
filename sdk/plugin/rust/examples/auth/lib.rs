//! allowlist: an example Mesh auth policy. It admits containers, and
//! partners only when their node id is in config `nodes` (comma-separated).
//!
//! Build: `./build.sh . allowlist.wasm`.

mod mesh_plugin;

use mesh_plugin::{AuthDecision, AuthRequest};

/// Admits every caller but a partner whose source node is not listed.
fn policy(r: AuthRequest) -> Result<AuthDecision, String> {
    if r.caller != "partner" {
        return Ok(AuthDecision::allow());
    }
    let list = mesh_plugin::config_get("nodes").unwrap_or_default();
    if list.split(',').any(|n| n == r.source_node) {
        return Ok(AuthDecision::allow());
    }
    mesh_plugin::log_info(&format!("refused partner {}", r.source_node));
    Ok(AuthDecision::deny(format!("node {} is not on the allow-list", r.source_node)))
}

mesh_plugin::auth!(policy);
