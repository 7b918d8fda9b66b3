import * as grpc from "@grpc/grpc-js";
import { longestConnectionLifeMs } from "./grpc-server.js";

/**
 * Channel options shared by every client: round_robin over every address the
 * target resolves to (a Kubernetes headless Service lists one per pod), and
 * keepalives so a dead peer is noticed without waiting for a request.
 * Servers end connections after `serverMaxConnectionAgeMs`
 * (GRPC_MAX_CONNECTION_AGE_MS); the client then resolves the name again, so
 * pods added by a scale-out get calls within about that age.
 *
 * The first keepalive ping waits until a connection has outlived anything a
 * live server allows, so only a connection to a dead or unreachable peer is
 * ever pinged. A ping on a connection draining after its GOAWAY makes grpc-js
 * fail every call still in flight on it as "Connection dropped" (measured
 * with grpc-js 1.14.7: dozens of failed calls in 10 s of 500 ms connection
 * ages and 100 ms pings, none without the pings), and a gateway cannot tell
 * whether such an increment was applied.
 */
export function channelOptions(serverMaxConnectionAgeMs: number): grpc.ChannelOptions {
  return {
    "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    "grpc.keepalive_time_ms": longestConnectionLifeMs(serverMaxConnectionAgeMs) + 1_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_receive_message_length": 16 * 1024 * 1024,
    "grpc.initial_reconnect_backoff_ms": 200,
    // A restarted pod is used within a second of coming back (the circuit
    // breaker keeps failed calls cheap meanwhile).
    "grpc.max_reconnect_backoff_ms": 1_000,
    // grpc-js waits 30 s between DNS resolutions by default, longer than a
    // connection lives; new pods would wait for the resolution after next.
    "grpc.dns_min_time_between_resolutions_ms": 5_000,
  };
}

export interface ChannelKeeper {
  /** True once the channel has been READY: its name resolved and a peer answered. */
  connectedOnce(): boolean;
  stop(): void;
}

/**
 * grpc-js resolves a name again after a failed resolution only when asked to
 * connect, and a call failing fast in TRANSIENT_FAILURE does not ask. A
 * gateway started while no counter pod was Ready (a headless Service without
 * endpoints has no DNS record) answered "Name resolution failed" long after
 * the pods came up; asking once a second while not READY ends that within
 * the DNS cache time.
 */
export function keepConnecting(client: grpc.Client, everyMs = 1_000): ChannelKeeper {
  const channel = client.getChannel();
  let connected = false;
  const tick = () => {
    if (channel.getConnectivityState(true) === grpc.connectivityState.READY) connected = true;
  };
  tick();
  const timer = setInterval(tick, everyMs).unref();
  return { connectedOnce: () => connected, stop: () => clearInterval(timer) };
}

/** `host:port` becomes `dns:///host:port` so grpc-js resolves every address. */
export function grpcTarget(address: string): string {
  return /^[a-z][a-z0-9+.-]*:/i.test(address) && !/^[^:/]+:\d+$/.test(address) ? address : `dns:///${address}`;
}

export function deadlineIn(ms: number): grpc.CallOptions {
  return { deadline: Date.now() + ms };
}
