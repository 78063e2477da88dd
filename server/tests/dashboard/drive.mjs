// Clicks through the node's dashboard in headless Chromium for server/tests/dashboard.rs, which
// starts the cluster and does the RESP side. They speak in lines: this script prints a step's name
// when it is done (`saved`, `seen`, `down`) and waits on stdin for the test's go-ahead (`written`,
// `killed N`). Every failure ends the script with a non-zero exit and the reason on stderr.
//
// Usage: node drive.mjs HTTP_ADDR SCREENSHOT_DIR
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [addr, shots] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async () => (await lines.next()).value ?? "";
const say = (line) => process.stdout.write(line + "\n");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (error) => process.stderr.write(`page error: ${error}\n`));
  await page.goto(`http://${addr}/`);
  await page.waitForFunction(() => document.querySelectorAll("#members tbody tr").length === 3, null, { timeout: 15000 });
  await page.waitForFunction(() => /leader|follower/.test(document.getElementById("role").textContent));
  await page.screenshot({ path: `${shots}/1-cluster.png`, fullPage: true });

  // A key written in the page.
  await page.fill("#edit-key", "dash/page");
  await page.fill("#edit-value", "written in the page");
  await page.fill("#edit-ttl", "600000");
  await page.click("#save");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("saved at revision"));
  await page.fill("#prefix", "dash/");
  await page.click("#search button");
  await page.waitForSelector("#keys tbody tr");
  say("saved");

  // A key written with redis-cli shows in the live feed.
  if ((await next()) !== "written") throw new Error("the test did not write its key");
  await page.waitForFunction(() => [...document.querySelectorAll("#feed li")]
    .some((li) => li.textContent.includes("put dash/cli = from redis-cli")), null, { timeout: 15000 });
  await page.screenshot({ path: `${shots}/2-feed.png`, fullPage: true });
  say("seen");

  // A killed node shows as down.
  const killed = (await next()).match(/^killed (\d+)$/)?.[1];
  if (!killed) throw new Error("the test did not kill a node");
  await page.waitForFunction((id) => document.querySelector(`#members tr[data-node="${id}"] .state`)?.textContent === "down",
    killed, { timeout: 20000 });
  await page.screenshot({ path: `${shots}/3-node-down.png`, fullPage: true });
  say("down");
} catch (error) {
  process.stderr.write(`dashboard: ${error.stack ?? error}\n`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
