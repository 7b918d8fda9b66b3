import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import type { Registry } from "prom-client";
import { instrumentGrpcServer, type GrpcServerTelemetry } from "./grpc-telemetry.js";

const protoRoot = fileURLToPath(new URL("../../../proto", import.meta.url));

/**
 * After its max age a connection gets a GOAWAY; its calls then have this long
 * to finish before the server closes it.
 */
export const MAX_CONNECTION_AGE_GRACE_MS = 10_000;

/**
 * The longest a connection to one of these servers lives while both ends are
 * alive: grpc-js ends it at its max age plus up to 10 % jitter, then waits at
 * most the grace period for its calls.
 */
export const longestConnectionLifeMs = (maxConnectionAgeMs: number) => Math.ceil(maxConnectionAgeMs * 1.1) + MAX_CONNECTION_AGE_GRACE_MS;

export interface GrpcServerOptions {
  host: string;
  port: number;
  /** Proto files (relative to proto/) whose services reflection lists. */
  protoFiles: string[];
  /**
   * Connections are closed after this age so clients re-resolve DNS and new
   * pods behind a headless Service get their share of traffic.
   */
  maxConnectionAgeMs: number;
  /**
   * Where the server's call metrics go; with it, the services `register`
   * adds are measured and traced (health and reflection are not).
   */
  registry?: Registry;
}

export interface GrpcServer {
  server: grpc.Server;
  health: HealthImplementation;
  port: number;
  setServing(serving: boolean): void;
  shutdown(graceMs: number): Promise<void>;
}

/**
 * A grpc-js server with the standard health service and server reflection
 * (so grpcurl works), listening once `start` resolves.
 */
export async function startGrpcServer(
  options: GrpcServerOptions,
  register: (server: grpc.Server, telemetry: GrpcServerTelemetry | undefined) => string[],
): Promise<GrpcServer> {
  // No keepalive pings from the server: the max age already ends every
  // connection, dead client or not, within longestConnectionLifeMs. And grpc-js
  // fails every call still in flight on a connection when a keepalive ping
  // falls in the drain after its GOAWAY, on either end (the clients' pings
  // wait longer than a connection lives: grpc-client.ts).
  const server = new grpc.Server({
    "grpc.max_connection_age_ms": options.maxConnectionAgeMs,
    "grpc.max_connection_age_grace_ms": MAX_CONNECTION_AGE_GRACE_MS,
  });
  const instrumented = options.registry ? instrumentGrpcServer(server, options.registry) : undefined;
  const serviceNames = register(server, instrumented?.telemetry);
  instrumented?.uninstrument();
  const health = new HealthImplementation({ "": "NOT_SERVING" });
  health.addToServer(server);
  const definition = protoLoader.loadSync(options.protoFiles, {
    includeDirs: [protoRoot],
    keepCase: true,
  });
  new ReflectionService(definition).addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
  const setServing = (serving: boolean) => {
    const status = serving ? "SERVING" : "NOT_SERVING";
    health.setStatus("", status);
    for (const name of serviceNames) health.setStatus(name, status);
  };
  const shutdown = (graceMs: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  return { server, health, port, setServing, shutdown };
}

/** A gRPC error with a status code, the way handlers report failures. */
export function grpcError(code: grpc.status, message: string): grpc.ServiceError {
  return Object.assign(new Error(message), { code, details: message, metadata: new grpc.Metadata() });
}
