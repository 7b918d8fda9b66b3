/**
 * The ceiling server as a process of its own (so its CPU is measured apart).
 *
 *   node dist/bench/ceiling-main.js [PORT]   (default 18090, loopback only)
 */
import { buildCeiling } from "./ceiling.js";

const port = Number(process.argv[2] ?? 18090);
const app = buildCeiling();
await app.listen({ host: "127.0.0.1", port });
console.log(`ceiling listening on 127.0.0.1:${port}`);
const stop = () => void app.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
