import type { Server } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Moves keep-alive clients off a gateway that is shutting down, before it
 * stops serving: for `ms`, every response carries `Connection: close`, so
 * each client's next request opens a new connection, which the Service
 * (this pod already out of its endpoints) sends to another pod. Closing
 * right away would instead answer requests already on their way over open
 * connections with 503s. Costs nothing before shutdown: Node sets the header
 * itself once a socket has served maxRequestsPerSocket requests.
 */
export async function handOffConnections(server: Server, ms: number): Promise<void> {
  if (ms <= 0) return;
  server.maxRequestsPerSocket = 1;
  await sleep(ms);
}
