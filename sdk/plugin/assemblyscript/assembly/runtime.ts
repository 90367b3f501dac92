// The runtime build.sh names with --runtime: the kit's bump allocator with
// a mark (heap.ts). The compiler takes this file as an entry, so it only
// imports the allocator, whose functions must not become module exports.
import "./heap";
