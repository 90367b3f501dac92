/*
 * allowlist — an example Mesh auth policy in C: it admits every request
 * whose caller is not a partner; a partner is admitted when its source node
 * is in config "nodes" (comma-separated node ids), else refused.
 * Build: ./build.sh . allowlist.wasm (in a project from mesh plugin new), or
 * sdk/plugin/c/build.sh sdk/plugin/c/examples/KIND OUT.wasm in the repository.
 */
#define MESH_AUTH
#include "mesh_plugin.h"

/* listed reports whether id is one of the comma-separated items of list
 * (an empty list is one empty item, as Go's strings.Split gives). */
static int listed(mesh_bytes list, mesh_bytes id) {
	uint32_t start = 0;
	for (uint32_t i = 0; i <= list.len; i++) {
		if (i < list.len && list.ptr[i] != ',') continue;
		if (i - start == id.len && (id.len == 0 || memcmp(list.ptr + start, id.ptr, id.len) == 0)) return 1;
		start = i + 1;
	}
	return 0;
}

int auth_authorize(const mesh_auth_request *r, mesh_auth_decision *d) {
	mesh_bytes nodes = {0, 0};
	if (!mesh_eq(r->caller, "partner")) {
		d->allow = 1;
		return 0;
	}
	mesh_config_get(NULL, "nodes", &nodes);
	if (listed(nodes, r->source_node)) {
		d->allow = 1;
		return 0;
	}
	mesh_buf log = {0, 0, 0}, reason = {0, 0, 0};
	mesh_buf_str(&log, "refused partner ");
	mesh_buf_bytes(&log, r->source_node);
	mesh_log(MESH_LOG_INFO, mesh_buf_slice(&log));
	mesh_buf_str(&reason, "node ");
	mesh_buf_bytes(&reason, r->source_node);
	mesh_buf_str(&reason, " is not on the allow-list");
	d->reason = mesh_buf_slice(&reason);
	return 0;
}
