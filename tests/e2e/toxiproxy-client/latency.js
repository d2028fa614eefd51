// Drive `faultline proxy` with toxiproxy-node-client as its users do: create a
// proxy, add a latency toxic, measure it, update it, remove it, delete the proxy.
// Env: TOXIPROXY_URL (the API), UPSTREAM (an echo server's host:port).
// Prints one JSON line of measurements; exits non-zero on any failure.
"use strict";
const net = require("net");
const { Toxiproxy } = require("toxiproxy-node-client");

function rtt(sock) {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    sock.once("data", () => resolve(Number(process.hrtime.bigint() - t) / 1e6));
    sock.once("error", reject);
    sock.write("ping");
  });
}

async function median(sock, n) {
  const v = [];
  for (let i = 0; i < n; i++) v.push(await rtt(sock));
  v.sort((a, b) => a - b);
  return v[Math.floor(n / 2)];
}

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
}

async function main() {
  const toxiproxy = new Toxiproxy(process.env.TOXIPROXY_URL);
  const version = await toxiproxy.getVersion();
  const proxy = await toxiproxy.createProxy({
    name: "node_client", listen: "127.0.0.1:0", upstream: process.env.UPSTREAM,
  });
  check(proxy.enabled === true, "proxy enabled");
  const [host, port] = [proxy.listen.slice(0, proxy.listen.lastIndexOf(":")),
                        Number(proxy.listen.slice(proxy.listen.lastIndexOf(":") + 1))];
  const sock = net.connect({ host, port });
  sock.setNoDelay(true);
  await new Promise((res, rej) => { sock.once("connect", res); sock.once("error", rej); });

  const before = await median(sock, 5);
  const toxic = await proxy.addToxic({
    name: "slow", type: "latency", stream: "downstream", toxicity: 1,
    attributes: { latency: 100, jitter: 0 },
  });
  check(toxic.name === "slow" && toxic.type === "latency", "toxic created");
  const withToxic = await median(sock, 5);
  const fetched = await proxy.getToxic("slow");
  check(fetched.attributes.latency === 100, "toxic fetched");
  const updated = await toxic.update({ attributes: { latency: 200 } });
  check(updated.attributes.latency === 200 && updated.attributes.jitter === 0, "toxic updated");
  const afterUpdate = await median(sock, 3);
  await toxic.remove();
  const after = await median(sock, 5);
  const all = await toxiproxy.getAll();
  check(Object.keys(all).includes("node_client"), "getAll lists the proxy");
  const disabled = await proxy.update({ enabled: false, listen: proxy.listen,
                                        upstream: proxy.upstream });
  check(disabled.enabled === false, "proxy disabled");
  await proxy.remove();
  sock.destroy();
  await toxiproxy.reset();
  console.log(JSON.stringify({ version, before, withToxic, afterUpdate, after }));
}

main().catch((e) => { console.error(e); process.exit(1); });
