/*
 * hello — an example Mesh route handler in C: GET /hello answers
 * "Hello from NAME\n" (NAME is config "name", default "mesh"); every other
 * request is left to the node.
 * Build: ./build.sh . hello.wasm (in a project from mesh plugin new), or
 * sdk/plugin/c/build.sh sdk/plugin/c/examples/KIND OUT.wasm in the repository.
 */
#define MESH_ROUTE
#include "mesh_plugin.h"

int route_handle(const mesh_route_request *r, mesh_route_response *resp) {
	if (!mesh_eq(r->method, "GET") || !mesh_eq(r->path, "/hello")) {
		resp->action = MESH_NEXT;
		return 0;
	}
	mesh_bytes name = mesh_str("mesh");
	mesh_config_get(NULL, "name", &name);
	mesh_buf body = {0, 0, 0};
	mesh_buf_str(&body, "Hello from ");
	mesh_buf_bytes(&body, name);
	mesh_buf_str(&body, "\n");
	resp->action = MESH_RESPOND;
	resp->status = 200;
	resp->body = mesh_buf_slice(&body);
	mesh_pairs_add(&resp->headers, mesh_str("content-type"), mesh_str("text/plain; charset=utf-8"));
	return 0;
}
