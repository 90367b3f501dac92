// The kit's abort: AssemblyScript calls abort on a failed assertion, an
// index out of range or a throw. By default that is an import (env.abort),
// which a codec may not have (wit/ABI.md §2.5). build.sh aliases abort to
// meshAbort (--use abort=...): it writes the message to standard error
// (WASI fd_write, which the node logs with the plugin's name) and traps.

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
declare function fd_write(fd: u32, iovs: usize, iovsLen: usize, written: usize): u16;

/** meshAbort logs "abort: MESSAGE at FILE:LINE:COLUMN" on standard error and traps. */
export function meshAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = "abort: " + (message !== null ? message : "(no message)");
  if (fileName !== null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  const buf = String.UTF8.encode(text + "\n");
  const iov = memory.data(8);
  store<u32>(iov, changetype<usize>(buf));
  store<u32>(iov, <u32>buf.byteLength, 4);
  fd_write(2, iov, 1, memory.data(4));
  unreachable();
}
