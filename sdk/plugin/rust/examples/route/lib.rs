//! hello: an example Mesh route handler. It answers `GET /hello` with
//! "Hello from NAME" (config `name`, default `mesh`) and hands every other
//! request back to the node.
//!
//! Build: `./build.sh . hello.wasm`.

mod mesh_plugin;

use mesh_plugin::{RouteRequest, RouteResponse};

/// Greets GET /hello by the configured name.
fn handle(r: RouteRequest) -> Result<RouteResponse, String> {
    if r.method != "GET" || r.path != "/hello" {
        return Ok(RouteResponse::next());
    }
    let name = mesh_plugin::config_get("name").unwrap_or_else(|| "mesh".to_string());
    Ok(RouteResponse::respond(200, format!("Hello from {}\n", name))
        .header("content-type", "text/plain; charset=utf-8"))
}

mesh_plugin::route!(handle);
