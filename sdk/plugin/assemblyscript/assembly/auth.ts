// The auth-policy kit (wit/ABI.md §4): the JSON documents AuthRequest and
// AuthDecision, and the authorize export. A policy registers its function
// and re-exports authorize from its entry file:
//
//   import { Auth, AuthRequest, AuthDecision } from "mesh-plugin/auth";
//   export { authorize } from "mesh-plugin/auth";
//   Auth.register(policy);

import { JSONReader, JSONWriter } from "./json";
import { fail, input, run } from "./extism";
export { config, configOr, fail, log, Level } from "./extism";

/** The callers of an AuthRequest. */
export const CALLER_CONTAINER = "container";
export const CALLER_PARTNER = "partner";

/** AuthRequest is the input of authorize: one request's metadata, as the node saw it (host/plugin/wire.go). */
export class AuthRequest {
  /** push, pop, peek, release; for a route handler's path, its HTTP method. */
  method: string = "";
  /** x-ptp-session-id. */
  session: string = "";
  /** The message topic. */
  topic: string = "";
  /** A route handler's path: the URL path or x-ptp-uri; empty for chan calls. */
  path: string = "";
  /** The calling node: the partner named by its certificate, else this node. */
  sourceNode: string = "";
  /** x-ptp-target-node-id. */
  targetNode: string = "";
  /** x-ptp-token. */
  token: string = "";
  /** The caller's IP address. */
  remoteAddr: string = "";
  /** The partner node id proven by its client certificate; empty for containers. */
  tlsIdentity: string = "";
  /** CALLER_CONTAINER or CALLER_PARTNER. */
  caller: string = "";
  /** The host's clock, Unix seconds. */
  now: i64 = 0;

  /** parse reads an AuthRequest from JSON; unknown fields are skipped. It sets r.error on bad input. */
  static parse(r: JSONReader): AuthRequest {
    const q = new AuthRequest();
    if (!r.beginObject()) return q;
    for (let k = r.nextKey(); k !== null; k = r.nextKey()) {
      if (k == "method") q.method = r.readString();
      else if (k == "session") q.session = r.readString();
      else if (k == "topic") q.topic = r.readString();
      else if (k == "path") q.path = r.readString();
      else if (k == "source_node") q.sourceNode = r.readString();
      else if (k == "target_node") q.targetNode = r.readString();
      else if (k == "token") q.token = r.readString();
      else if (k == "remote_addr") q.remoteAddr = r.readString();
      else if (k == "tls_identity") q.tlsIdentity = r.readString();
      else if (k == "caller") q.caller = r.readString();
      else if (k == "now") q.now = r.readInt();
      else r.skip();
    }
    r.end();
    return q;
  }
}

/** AuthDecision is the output of authorize. */
export class AuthDecision {
  /** true admits the request. */
  allow: bool = false;
  /** Shown to a refused caller (omitted when empty). */
  reason: string = "";
  /** Added to an admitted push's metadata (omitted when empty). */
  headers: Map<string, string> = new Map<string, string>();
  /** How long the host may reuse the decision: 0 uses the plugin's cache TTL, <0 disables caching (omitted when 0). */
  ttlMs: i64 = 0;

  /** admit returns a decision admitting the request. */
  static admit(): AuthDecision {
    const d = new AuthDecision();
    d.allow = true;
    return d;
  }

  /** deny returns a decision refusing the request with reason. */
  static deny(reason: string): AuthDecision {
    const d = new AuthDecision();
    d.reason = reason;
    return d;
  }

  /** toJSON encodes the decision, leaving out empty fields as wit/ABI.md §4.2 says. */
  toJSON(): Uint8Array {
    const w = new JSONWriter();
    w.bool("allow", this.allow);
    if (this.reason.length > 0) w.string("reason", this.reason);
    if (this.headers.size > 0) w.map("headers", this.headers);
    if (this.ttlMs != 0) w.int("ttl_ms", this.ttlMs);
    return w.finish();
  }
}

/** Policy decides on one request; to fail instead (the request is then refused), call fail and return any decision. */
export type Policy = (r: AuthRequest) => AuthDecision;

let policy: Policy | null = null;

/** Auth holds the registered policy. */
export class Auth {
  /** register makes p the policy authorize calls. */
  static register(p: Policy): void {
    policy = p;
  }
}

/** decide reads the input, runs the policy and encodes its decision. */
function decide(): Uint8Array | null {
  const p = policy;
  if (p === null) {
    fail("auth: no policy registered: call Auth.register in the plugin's entry file");
    return null;
  }
  const r = new JSONReader(input());
  const req = AuthRequest.parse(r);
  const e = r.error;
  if (e !== null) {
    fail("auth: bad input: " + e);
    return null;
  }
  return p(req).toJSON();
}

/** authorize is the auth-policy export (ABI: authorize() -> i32). */
export function authorize(): i32 {
  return run(decide, "authorize");
}
