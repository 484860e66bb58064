// Browser tests of the trace viewer (`refresh-check trace html`) and of `refresh-check explore`,
// in headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core.
// Run by scripts/browser-tests.sh, which installs Chromium and playwright-core and builds the
// binary. Environment: REFRESH_CHECK_BIN (the binary), CHROMIUM (default /usr/bin/chromium),
// SCREENSHOT (optional: where to save a PNG of the Directus 10.10 race page at its last step).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const bin = process.env.REFRESH_CHECK_BIN || join(root, "target/debug/refresh-check");
const out = mkdtempSync(join(tmpdir(), "refresh-check-browser-"));
// Traces are made afresh by `check`, so the pages are those of the current model and binary.
const traces = join(out, "traces");
const raceTrace = join(traces, "directus-10.10-session.no_spurious_logout.json");
let browser;

function run(...args) {
  return execFileSync(bin, args, { cwd: root, encoding: "utf8" });
}

function page(file, hash = "") {
  return pathToFileURL(file).href + hash;
}

/// A fresh page that records console errors and every request that is not to a file.
async function open(url) {
  const p = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  p.errors = [];
  p.remote = [];
  p.on("pageerror", (e) => p.errors.push(String(e)));
  p.on("console", (m) => m.type() === "error" && p.errors.push(m.text()));
  p.on("request", (r) => !/^(file|data|about):/.test(r.url()) && p.remote.push(r.url()));
  await p.goto(url);
  return p;
}

const current = (p) =>
  p.evaluate(() => ({
    list: [...document.querySelectorAll("#steps li.current")].map((e) => e.dataset.step),
    chart: [...document.querySelectorAll("#chart .step.current")].map((e) => e.dataset.step),
    state: [...document.querySelectorAll(".state")].filter((e) => !e.hidden).map((e) => e.dataset.step),
    hash: location.hash,
  }));

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  run("check", "models/directus-10.10-session.json", "--traces", traces);
  run("trace", "html", raceTrace, "-o", join(out, "race.html"));
});

after(async () => {
  await browser?.close();
  rmSync(out, { recursive: true, force: true });
});

test("the Directus 10.10 race page: lifelines, one arrow per message step, tab B's logout marked", async () => {
  const trace = JSON.parse(readFileSync(raceTrace, "utf8"));
  const messages = trace.steps.filter((s) => s.message).length;
  assert.equal(messages, 8, "the race has 8 message steps");
  const p = await open(page(join(out, "race.html"), "#step-10"));
  const heads = await p.$$eval("#chart .lifeline-head text", (els) => els.map((e) => e.textContent));
  assert.deepEqual(heads, ["tab A", "tab B", "cookie jar", "server", "store"]);
  assert.equal(await p.locator("#chart .arrow").count(), messages);
  // Each arrow joins the lifelines of its message's sender and receiver.
  const ends = await p.$$eval("#chart .arrow", (els) => els.map((e) => [e.dataset.from, e.dataset.to]));
  assert.deepEqual(
    ends,
    trace.steps.filter((s) => s.message).map((s) => [s.message.from, s.message.to]),
  );
  // The failing step is the last one, where tab B is logged out, and it is marked.
  const fail = await p.$$eval("#chart .step.fail", (els) => els.map((e) => e.dataset.step));
  assert.deepEqual(fail, ["10"]);
  assert.match(await p.locator("#chart .step.fail title").textContent(), /tab B gets 401 .* logged out/);
  assert.equal(await p.locator("#chart .step.fail .fail-mark").count(), 1);
  assert.match(await p.locator("#chart .step.fail .verdict").textContent(), /no_spurious_logout violated/);
  assert.match(await p.locator("#steps li.fail").textContent(), /logged out/);
  // The state pane shows step 10 with tab B's status highlighted as changed.
  const changed = p.locator('.state:not([hidden]) tr.changed[data-field="tabs[B].status"] .value');
  assert.equal(await changed.textContent(), "logged out");
  assert.deepEqual(p.errors, []);
  assert.deepEqual(p.remote, [], "the page loads nothing from the network");
  if (process.env.SCREENSHOT) {
    await p.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  }
  await p.close();
});

test("arrow keys move the highlighted step, and each step has a link", async () => {
  const p = await open(page(join(out, "race.html")));
  assert.deepEqual(await current(p), { list: ["0"], chart: ["0"], state: ["0"], hash: "" });
  for (let i = 0; i < 3; i++) await p.keyboard.press("ArrowRight");
  assert.deepEqual(await current(p), { list: ["3"], chart: ["3"], state: ["3"], hash: "#step-3" });
  await p.keyboard.press("ArrowLeft");
  assert.deepEqual(await current(p), { list: ["2"], chart: ["2"], state: ["2"], hash: "#step-2" });
  await p.keyboard.press("End");
  assert.equal((await current(p)).list[0], "10");
  await p.keyboard.press("ArrowRight"); // no step past the last
  assert.equal((await current(p)).list[0], "10");
  await p.keyboard.press("Home");
  await p.keyboard.press("ArrowLeft"); // none before the initial state
  assert.equal((await current(p)).list[0], "0");
  // Step 5 renames the row in the store: that field is highlighted, the jar is not.
  await p.goto(page(join(out, "race.html"), "#step-5"));
  await p.reload();
  assert.deepEqual(await current(p), { list: ["5"], chart: ["5"], state: ["5"], hash: "#step-5" });
  const rows = await p.$$eval(".state:not([hidden]) tr.changed", (els) => els.map((e) => e.dataset.field));
  assert.ok(rows.includes("store"), rows.join(","));
  assert.ok(!rows.includes("jar"), rows.join(","));
  // Clicking a step in the list selects it.
  await p.click("#step-7 a");
  assert.equal((await current(p)).chart[0], "7");
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("labels that contain HTML show as text", async () => {
  const t = JSON.parse(readFileSync(raceTrace, "utf8"));
  const evil = "<script>window.__pwned = 1</script><b>bold</b>";
  t.model = "<i>model</i>";
  t.claim = evil;
  t.steps[0].text = evil;
  t.steps[1].message.text = '<img src=x onerror="window.__pwned = 2">';
  t.steps[1].state.jar = "</style><script>window.__pwned = 3</script>";
  const file = join(out, "evil.json");
  writeFileSync(file, JSON.stringify(t));
  run("trace", "html", file, "-o", join(out, "evil.html"));
  const p = await open(page(join(out, "evil.html"), "#step-2"));
  assert.equal(await p.evaluate(() => window.__pwned), undefined);
  assert.equal(await p.locator("#step-1 .text").textContent(), evil);
  assert.equal(await p.locator("#steps b, header i, img").count(), 0);
  assert.match(await p.locator("h1").textContent(), /<i>model<\/i>/);
  assert.match(await p.locator("#chart-step-2 .arrow .label").textContent(), /^<img src=x/);
  assert.match(
    await p.locator('.state:not([hidden]) tr[data-field="jar"] .value').textContent(),
    /^<\/style><script>/,
  );
  assert.equal(await p.locator("script").count(), 1, "only the viewer's own script");
  await p.close();
});

test("a folder of traces gets an index page with model, property and length", async () => {
  run("trace", "html", traces, "-o", join(out, "site"));
  const p = await open(page(join(out, "site/index.html")));
  const rows = await p.$$eval("table.index tbody tr", (trs) =>
    trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 5).map((td) => td.textContent)),
  );
  assert.deepEqual(rows, [
    ["directus-10.10-session", "cookie_names_live_session", "always", "violated", "11"],
    ["directus-10.10-session", "no_spurious_logout", "always", "violated", "10"],
  ]);
  await p.click("text=no_spurious_logout");
  assert.equal(await p.locator("#chart .arrow").count(), 8);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("explore serves stateright's Explorer on 127.0.0.1, opened at the trace's path", async () => {
  const child = spawn(bin, ["explore", "models/directus-10.10-session.json", "--port", "0", "--trace", raceTrace], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const url = await new Promise((ok, fail) => {
      let text = "";
      child.stdout.on("data", (d) => {
        text += d;
        const m = /(http:\/\/\S+)/.exec(text);
        if (m) ok(m[1]);
      });
      child.on("exit", (code) => fail(new Error(`explore exited with ${code}: ${text}`)));
    });
    const trace = JSON.parse(readFileSync(raceTrace, "utf8"));
    const base = new URL(url);
    assert.equal(base.hostname, "127.0.0.1");
    assert.equal(base.hash, `#/steps/${trace.path}`);
    const status = await (await fetch(new URL("/.status", base))).json();
    // The Explorer checks the model's own properties, the trace's among them.
    const props = status.properties.map((p) => `${p[0]} ${p[1]}`);
    assert.ok(props.includes(`Always ${trace.property}`), props.join(", "));
    // The Explorer's own replay of the path: the state after the last action exists.
    const states = await fetch(new URL(`/.states/${trace.path}`, base));
    assert.equal(states.status, 200);
    const p = await open(url);
    // The Explorer lists the path it opened at: one entry per action of the trace.
    await p.waitForFunction(
      (n) => document.querySelectorAll("ol.path-list > li").length >= n,
      trace.steps.length,
      { timeout: 15000 },
    );
    const items = await p.$$eval("ol.path-list > li", (els) => els.map((e) => e.textContent.trim()));
    // "Pre-init", "Init 0", then one action per step, ending with tab B's 401.
    assert.equal(items.length, trace.steps.length + 2, items.join("\n"));
    assert.deepEqual(items.slice(0, 2), ["Pre-init", "Init 0"]);
    assert.match(items.at(-1), /RefreshResponse \{ tab: 1, reply: Err\(InvalidCredentials\) \}/);
    await p.close();
  } finally {
    child.kill("SIGTERM");
  }
});
