// allowlist: an example Mesh auth policy. It admits containers, and
// partners only when their node id is on an allow-list.
//
// Build: ./build.sh . allowlist.wasm

import { Auth, AuthDecision, AuthRequest, CALLER_PARTNER, config, log, Level } from "mesh-plugin/auth";
export { authorize } from "mesh-plugin/auth";

/** policy admits containers and the partners named in config "nodes" (comma-separated node ids). */
function policy(r: AuthRequest): AuthDecision {
  if (r.caller != CALLER_PARTNER) return AuthDecision.admit();
  const list = config("nodes");
  if (list !== null && list.split(",").includes(r.sourceNode)) return AuthDecision.admit();
  log(Level.Info, "refused partner " + r.sourceNode);
  return AuthDecision.deny("node " + r.sourceNode + " is not on the allow-list");
}

Auth.register(policy);
