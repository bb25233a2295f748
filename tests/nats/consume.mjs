// The independent NATS client of tests/nats_bridge_test.cc and
// bench/nats_bridge_bench.cc: reads a JetStream stream with the official
// nats.js client (pinned in package.json) and prints one JSON line per
// message: {"seq", "subject", "msg_id", "envelope_ok", "recv_ms"}.
//
//   node consume.mjs --server nats://127.0.0.1:4222 --stream WATCHFLOOR \
//                    --expect 100 --idle-ms 1000 --timeout-ms 30000
//
// Stops once `expect` messages arrived and no further message came for
// idle-ms (so that duplicates would be seen), or after timeout-ms. Prints
// "ready" on stderr once it consumes. Exit 0, or 1 on a client error.
import { connect } from "nats";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith("--")) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []));
const expect = Number(args["expect"] ?? 0);
const idleMs = Number(args["idle-ms"] ?? 1000);
const timeoutMs = Number(args["timeout-ms"] ?? 30000);

const nc = await connect({ servers: args["server"] });
const js = nc.jetstream();
const jsm = await nc.jetstreamManager();
// Wait for the bridge to create the stream.
const start = Date.now();
for (;;) {
  try {
    await jsm.streams.info(args["stream"]);
    break;
  } catch (e) {
    if (Date.now() - start > timeoutMs) throw e;
    await new Promise((r) => setTimeout(r, 50));
  }
}
const consumer = await js.consumers.get(args["stream"]);  // ordered, from the start
const messages = await consumer.consume();
process.stderr.write("ready\n");
let count = 0;
let idleTimer = null;
const deadline = setTimeout(() => messages.stop(), timeoutMs);
for await (const m of messages) {
  count++;
  let envelopeOk = false;
  try {
    const env = JSON.parse(new TextDecoder().decode(m.data));
    envelopeOk = typeof env.payload === "string" &&
                 env.payloadType === "application/vnd.watchfloor.alert.v1+protobuf" &&
                 Array.isArray(env.signatures) && env.signatures.length > 0;
  } catch (e) { envelopeOk = false; }
  process.stdout.write(JSON.stringify({
    seq: m.seq,
    subject: m.subject,
    msg_id: m.headers?.get("Nats-Msg-Id") ?? "",
    envelope_ok: envelopeOk,
    recv_ms: performance.timeOrigin + performance.now(),
  }) + "\n");
  if (expect > 0 && count >= expect) {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => messages.stop(), idleMs);
  }
}
clearTimeout(deadline);
await nc.close();
