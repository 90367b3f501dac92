// hello: an example Mesh route handler. It answers GET /hello and hands
// every other request back to the node.
//
// Build: ./build.sh . hello.wasm

import { Route, RouteRequest, RouteResponse, configOr } from "mesh-plugin/route";
export { handle } from "mesh-plugin/route";

/** hello greets GET /hello by the name in config "name" (default mesh). */
function hello(r: RouteRequest): RouteResponse {
  if (r.method != "GET" || r.path != "/hello") return RouteResponse.next();
  const resp = RouteResponse.respond(200, "Hello from " + configOr("name", "mesh") + "\n");
  resp.headers.set("content-type", "text/plain; charset=utf-8");
  return resp;
}

Route.register(hello);
