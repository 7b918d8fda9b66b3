// Init-container helper: wait until every host:port in WAIT_FOR accepts a TCP
// connection, so a service starts only when Redis/Kafka are reachable (no crash
// loop while they boot). Exits 1 after WAIT_TIMEOUT_SECONDS.
import net from "node:net";

const targets = (process.env.WAIT_FOR ?? "").split(",").map((s) => s.trim()).filter(Boolean);
const timeoutMs = Number(process.env.WAIT_TIMEOUT_SECONDS ?? "600") * 1000;
const started = Date.now();
const log = (msg, extra = {}) =>
  console.log(JSON.stringify({ level: "info", time: new Date().toISOString(), msg, ...extra }));

function probe(target) {
  const i = target.lastIndexOf(":");
  const host = target.slice(0, i);
  const port = Number(target.slice(i + 1));
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2000 });
    const done = (error) => {
      socket.destroy();
      resolve(error);
    };
    socket.once("connect", () => done(undefined));
    socket.once("timeout", () => done("timeout"));
    socket.once("error", (err) => done(err.code ?? err.message));
  });
}

for (const target of targets) {
  let attempt = 0;
  for (;;) {
    const error = await probe(target);
    if (error === undefined) {
      log(`${target} is reachable`, { target });
      break;
    }
    if (Date.now() - started > timeoutMs) {
      console.error(JSON.stringify({ level: "error", msg: `gave up waiting for ${target} after ${timeoutMs / 1000}s: ${error}`, target }));
      process.exit(1);
    }
    if (attempt++ % 5 === 0) log(`waiting for ${target} (${error})`, { target });
    await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 3000)));
  }
}
log("all dependencies reachable", { targets });
