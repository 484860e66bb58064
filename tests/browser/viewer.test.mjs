// Browser tests of the trace viewer (`refresh-check trace html`) and of `refresh-check explore`,
// in headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core.
// Run by scripts/browser-tests.sh, which installs Chromium and playwright-core and builds the
// binary. Environment: REFRESH_CHECK_BIN (the binary), CHROMIUM (default /usr/bin/chromium),
// SCREENSHOTS (optional: a folder to save the README's PNGs into: the Directus 10.11.1
// follow-up page at its last step, and a side-by-side page).
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
const followupTrace = join(traces, "directus-10.11.1-session-followup.cookie_names_live_session.json");
const followupSecond = join(traces, "directus-10.11.1-session-followup.cookie_names_live_session.2.json");
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
  run("check", "models/directus-10.11.1-session-followup.json", "--traces", traces, "--counterexamples", "2");
  run("trace", "html", followupTrace, "-o", join(out, "followup.html"));
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
  assert.equal(await p.locator("#chart .arrow:not(.pending)").count(), messages);
  // Each arrow joins the lifelines of its message's sender and receiver.
  const ends = await p.$$eval("#chart .arrow:not(.pending)", (els) => els.map((e) => [e.dataset.from, e.dataset.to]));
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
  const models = await p.$$eval("table.index tbody.model", (els) => els.map((e) => e.dataset.model));
  assert.deepEqual(models, ["directus-10.10-session", "directus-10.11.1-session-followup"]);
  const rows = await p.$$eval('tbody.model[data-model="directus-10.10-session"] tr.entry', (trs) =>
    trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 5).map((td) => td.textContent)),
  );
  assert.deepEqual(rows, [
    ["cookie_names_live_session", "always", "violated", "expected", "11"],
    ["no_dead_credential_at_rest", "always", "violated", "expected", "14"],
    ["no_spurious_logout", "always", "violated", "expected", "10"],
  ]);
  // The second counterexample of a property is linked side by side with the first.
  const links = await p.$$eval("td.links a", (as) => as.map((a) => [a.textContent, a.getAttribute("href")]));
  assert.ok(links.length >= 2, JSON.stringify(links));
  assert.ok(links.every(([, href]) => /^\.\/directus-10\.11\.1-session-followup\.[a-z_]+\.vs\.2\.html$/.test(href)), JSON.stringify(links));
  await p.click('tbody.model[data-model="directus-10.10-session"] >> text=no_spurious_logout');
  assert.equal(await p.locator("#chart .arrow:not(.pending)").count(), 8);
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

// ---- issue 17: the chart, the explanation, navigation, side by side, a long trace ----

/// The in-flight messages the page marks at the selected step, as sorted "from→to" strings.
const inFlight = (p) =>
  p.$$eval("#chart .arrow.in-flight", (els) => els.map((e) => `${e.dataset.from}→${e.dataset.to}`).sort());
const expectedInFlight = (trace, i) =>
  (i === 0 ? trace.initial : trace.steps[i - 1].state).in_flight.map((m) => `${m.from}→${m.to}`).sort();

/// Whether `el` lies inside the visible part of `box` and of the window.
async function onScreen(p, selector, boxSelector) {
  return p.evaluate(
    ([sel, boxSel]) => {
      const r = document.querySelector(sel).getBoundingClientRect();
      const b = boxSel ? document.querySelector(boxSel).getBoundingClientRect() : { top: 0, bottom: innerHeight };
      return r.top >= Math.max(0, b.top) - 1 && r.bottom <= Math.min(innerHeight, b.bottom) + 1;
    },
    [selector, boxSelector],
  );
}

test("chart: each message from its send step to its delivery step, what is in flight, wrapped labels", async () => {
  const trace = JSON.parse(readFileSync(followupTrace, "utf8"));
  const p = await open(page(join(out, "followup.html"), "#step-17"));
  // No scroll on load: the window stays put, the title, the selected row and the state show.
  assert.equal(await p.evaluate(() => scrollY), 0);
  assert.ok(await onScreen(p, "h1"));
  assert.ok(await onScreen(p, "#chart-step-17 .row-bg", "#chart"), "the selected row is in the chart's view");
  assert.ok(await onScreen(p, ".state:not([hidden]) h3", "#states"), "the state after it is on screen");
  assert.match(await p.locator(".state:not([hidden]) h3").textContent(), /After step 17/);
  // Tab B's POST is sent at step 8 and delivered at step 9: a slanted arrow between the rows.
  const post = p.locator('#chart .arrow[data-from="tab B"][data-to="server"]');
  assert.deepEqual(await post.evaluate((e) => [e.dataset.sent, e.dataset.delivered]), ["8", "9"]);
  assert.ok(await post.evaluate((e) => e.classList.contains("slanted")));
  const [y1, y2] = await post.locator("line").evaluate((l) => [+l.getAttribute("y1"), +l.getAttribute("y2")]);
  assert.ok(y2 > y1 + 20, `slanted: ${y1} → ${y2}`);
  // The 200 with the cookie of the row that does not exist, and the store's answer to tab
  // A's claim, are never delivered: drawn to the chart's foot.
  const pending = await p.$$eval("#chart .arrow.pending", (els) => els.map((e) => [e.dataset.from, e.dataset.to, e.dataset.sent]));
  assert.deepEqual(pending.sort(), [["server", "tab B", "17"], ["store", "server", "7"]]);
  // At every step, the arrows marked in flight are the messages of the state's in_flight.
  for (let i = 0; i <= trace.steps.length; i++) {
    await p.goto(page(join(out, "followup.html"), `#step-${i}`));
    assert.deepEqual(await inFlight(p), expectedInFlight(trace, i), `in flight after step ${i}`);
  }
  // Long labels are wrapped onto lines, never cut: the whole SQL of step 7 is there.
  const sql = trace.steps[6].message.text;
  const label = await p.locator("#chart-step-7 .arrow .label").evaluate((t) => [...t.querySelectorAll("tspan")].map((s) => s.textContent));
  assert.ok(label.length > 1, JSON.stringify(label));
  assert.equal(label.join(" "), sql);
  // And so is every other message's text.
  for (const st of trace.steps.filter((s) => s.message)) {
    const lines = await p.$$eval(`#chart-step-${st.index} .arrow:not(.pending) .label tspan:not(.decision)`, (ts) => ts.map((t) => t.textContent));
    assert.equal(lines.join(" ").replace(/ /g, ""), st.message.text.replace(/ /g, ""), `step ${st.index}`);
  }
  // Stepping keeps the header, the selected row and the state on screen.
  await p.keyboard.press("Home");
  for (let i = 1; i <= trace.steps.length; i++) {
    await p.keyboard.press("j");
    assert.ok(await onScreen(p, "#chart .step.current .row-bg", "#chart"), `row of step ${i}`);
    assert.ok(await onScreen(p, "#steps li.current", "#steps"), `list item of step ${i}`);
    assert.ok(await onScreen(p, "h1"));
    assert.equal(await p.evaluate(() => scrollY), 0);
  }
  assert.deepEqual(p.errors, []);
  if (process.env.SCREENSHOTS) {
    await p.goto(page(join(out, "followup.html"), "#step-17"));
    // The chart's foot too: the 200 still in flight, with the handler's stage on it.
    await p.evaluate(() => { document.getElementById("chart").scrollTop = 1e6; });
    assert.ok(await onScreen(p, "#chart-step-17 .row-bg", "#chart"));
    await p.screenshot({ path: join(process.env.SCREENSHOTS, "trace-explorer.png") });
  }
  await p.close();
});

test("chart: lifelines for the lock, the broadcast channel, localStorage and the attacker; clock ticks in one row", async () => {
  const pages = join(out, "kinds");
  const cases = [
    ["c18-weblock-steal.no_spurious_logout", ["tab A", "tab B", "localStorage", "server", "lock"]],
    ["broadcast-leader-closed-follower-waits.lp4_bounded_wait", ["tab A", "tab B", "cookie jar", "broadcast channel"]],
    ["auth0-rotation-theft.no_spurious_logout", ["tab A", "cookie jar", "server", "attacker"]],
  ];
  for (const [name, heads] of cases) {
    run("trace", "html", join(root, "traces", `${name}.json`), "-o", join(pages, `${name}.html`));
    const p = await open(page(join(pages, `${name}.html`)));
    assert.deepEqual(await p.$$eval("#chart .lifeline-head text", (els) => els.map((e) => e.textContent)), heads, name);
    assert.deepEqual(p.errors, []);
    await p.close();
  }
  // Stealing the lock is an arrow from tab B to the lock.
  const p = await open(page(join(pages, "c18-weblock-steal.no_spurious_logout.html")));
  assert.equal(await p.locator('#chart-step-4 .arrow.coord[data-from="tab B"][data-to="lock"]').count(), 1);
  await p.close();
  // Three clock ticks in a row take one row, which each of them selects.
  const slow = "directus-10.11.1-session-slow.no_spurious_logout";
  const trace = JSON.parse(readFileSync(join(root, "traces", `${slow}.json`), "utf8"));
  const ticks = trace.steps.filter((s) => s.actor === "clock").map((s) => s.index);
  run("trace", "html", join(root, "traces", `${slow}.json`), "-o", join(pages, `${slow}.html`));
  const q = await open(page(join(pages, `${slow}.html`), `#step-${ticks[1]}`));
  const rows = await q.$$eval("#chart .step.ticks", (els) => els.map((e) => [+e.dataset.step, +e.dataset.last]));
  assert.ok(rows.some(([a, b]) => b - a >= 2), JSON.stringify(rows));
  assert.equal(await q.locator("#chart .step").count(), trace.steps.length + 1 - rows.reduce((n, [a, b]) => n + b - a, 0));
  const [first, lastTick] = rows.find(([a, b]) => b - a >= 2);
  await q.goto(page(join(pages, `${slow}.html`), `#step-${first + 1}`));
  assert.deepEqual(await q.$$eval("#chart .step.current", (els) => els.map((e) => +e.dataset.step)), [first]);
  assert.match(await q.locator("#chart .step.current .note.environment").textContent(), new RegExp(`×${lastTick - first + 1}`));
  assert.deepEqual(q.errors, []);
  await q.close();
});

test("explanation: each property's status at each step, the step that made the bad state marked, decisions on answers", async () => {
  const p = await open(page(join(out, "followup.html"), "#step-16"));
  const status = async () =>
    p.$$eval("#props tr.prop", (trs) => Object.fromEntries(trs.map((tr) => [tr.querySelector("th").textContent, tr.querySelector(".status").textContent])));
  assert.equal((await status()).cookie_names_live_session, "✓ holds");
  await p.keyboard.press("j");
  assert.equal((await status()).cookie_names_live_session, "✗ violated");
  assert.equal(await p.locator("#props tr.own .since").textContent(), "since step 17");
  assert.equal((await status()).concurrent_refreshes, "✓ reached", "both tabs' refreshes are in flight");
  // The step that handed out the cookie naming no row (the 200 put in flight at step 17) is
  // marked, as the last change of orphan_cookies, in the list and on the chart; so is the
  // step that last changed the store.
  assert.match(await p.locator("#step-17 .cause-line").textContent(), /last changed orphan_cookies, read by cookie_names_live_session/);
  assert.match(await p.locator("#step-7 .cause-line").textContent(), /last changed store/);
  assert.deepEqual(await p.$$eval("#chart .step.cause", (els) => els.map((e) => e.dataset.step)), ["7", "17"]);
  assert.deepEqual(
    await p.$$eval(".state:not([hidden]) tr.read", (trs) => trs.map((tr) => tr.dataset.field)),
    ["store", "orphan_cookies"],
  );
  // The 200's arrow says which stage of the handler answered.
  const answer = p.locator('#chart .arrow.pending[data-to="tab B"] .decision');
  assert.match(await answer.textContent(), /handler (awaits )?W3\b.*orphan/);
  await p.close();
  // An authorization server's decision: the rule that refused tab A's token.
  const theft = join(out, "theft.html");
  run("trace", "html", join(root, "traces/auth0-rotation-theft.no_spurious_logout.json"), "-o", theft);
  const q = await open(page(theft, "#step-5"));
  assert.match(await q.locator('#chart-step-5 .arrow[data-to="tab A"] .decision').textContent(), /rule `reuse` → invalid_grant/);
  assert.match(await q.locator(".state:not([hidden]) .decision").textContent(), /step 4.*rule `reuse` → invalid_grant/);
  assert.deepEqual(q.errors, []);
  await q.close();
});

test("navigation: the actor filter and the search hide steps, and the keys skip them", async () => {
  const trace = JSON.parse(readFileSync(followupTrace, "utf8"));
  const p = await open(page(join(out, "followup.html")));
  const shown = () => p.$$eval("#steps li.step", (els) => els.filter((e) => e.offsetParent !== null).map((e) => +e.dataset.step));
  assert.equal((await shown()).length, trace.steps.length + 1);
  // Untick the store: every step that involves it is hidden from the list, dimmed in the chart.
  await p.uncheck('.actor-toggle input[data-actor="store"]');
  const noStore = trace.steps
    .filter((s) => s.actor !== "store" && !(s.message && (s.message.from === "store" || s.message.to === "store")))
    .map((s) => s.index);
  assert.deepEqual(await shown(), [0, ...noStore]);
  assert.equal(await p.locator("#chart .step.filtered").count(), trace.steps.length - noStore.length);
  assert.ok(await p.locator('#chart .lifeline-head[data-actor="store"]').evaluate((e) => e.classList.contains("off")));
  const visited = [];
  for (let i = 0; i < noStore.length; i++) {
    await p.keyboard.press("ArrowRight");
    visited.push(+(await current(p)).list[0]);
  }
  assert.deepEqual(visited, noStore);
  await p.check('.actor-toggle input[data-actor="store"]');
  // Search: "/" focuses it; only matching steps stay; Enter goes to the next match.
  await p.keyboard.press("Home");
  await p.keyboard.press("/");
  await p.keyboard.type("tab B");
  const matching = trace.steps.filter((s) => (s.text + " " + s.action).includes("tab B")).map((s) => s.index);
  assert.deepEqual((await shown()).slice(1), matching);
  assert.equal(await p.locator("#search-count").textContent(), `${matching.length} of ${trace.steps.length} steps match`);
  await p.keyboard.press("Enter");
  assert.equal(+(await current(p)).list[0], matching[0]);
  await p.keyboard.press("Enter");
  assert.equal(+(await current(p)).list[0], matching[1]);
  await p.keyboard.press("Escape");
  assert.equal((await shown()).length, trace.steps.length + 1);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("index: grouped by model, filtered by property, verdict, expectation and text", async () => {
  const site = join(out, "site-all");
  run("trace", "html", join(root, "traces"), "-o", site);
  const p = await open(page(join(site, "index.html")));
  const all = await p.locator("tr.entry").count();
  const models = await p.locator("tbody.model").count();
  assert.ok(all > 80 && models > 40, `${all} traces of ${models} models`);
  const visible = () => p.$$eval("tr.entry", (trs) => trs.filter((t) => !t.hidden).map((t) => [t.closest("tbody").dataset.model, t.dataset.property]));
  await p.selectOption("#f-property", "cookie_names_live_session");
  const rows = await visible();
  assert.ok(rows.length > 3 && rows.every(([, prop]) => prop === "cookie_names_live_session"), JSON.stringify(rows));
  assert.ok(rows.some(([m]) => m === "directus-10.11.1-session-followup"));
  assert.equal(await p.locator("#f-count").textContent(), `${rows.length} shown`);
  // A model with no row left is hidden as a whole.
  assert.equal(await p.locator("tbody.model:not([hidden])").count(), new Set(rows.map(([m]) => m)).size);
  await p.selectOption("#f-property", "");
  await p.selectOption("#f-verdict", "reached");
  assert.ok((await visible()).length < all);
  await p.selectOption("#f-verdict", "");
  await p.selectOption("#f-expectation", "unexpected");
  assert.deepEqual(await visible(), [], "every committed trace is an expected verdict");
  await p.selectOption("#f-expectation", "");
  await p.fill("#f-text", "10.11.1-session-followup");
  assert.deepEqual((await visible()).map(([m]) => m), ["directus-10.11.1-session-followup", "directus-10.11.1-session-followup"]);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("side by side: two counterexamples of one property, aligned by step, differences highlighted", async () => {
  const a = JSON.parse(readFileSync(followupTrace, "utf8"));
  const b = JSON.parse(readFileSync(followupSecond, "utf8"));
  run("trace", "html", followupTrace, followupSecond, "-o", join(out, "pair.html"));
  const p = await open(page(join(out, "pair.html")));
  const rows = await p.$$eval("table.pair tr.row", (trs) =>
    trs.map((tr) => {
      const [, x, y] = [...tr.querySelectorAll("td")];
      const n = (td) => (td.classList.contains("gap") ? null : +td.querySelector(".n").textContent.replace(".", ""));
      return { a: n(x), b: n(y), differs: tr.classList.contains("differs") };
    }),
  );
  // Every step of each trace appears once, in order.
  assert.deepEqual(rows.map((r) => r.a).filter((x) => x !== null), a.steps.map((s) => s.index));
  assert.deepEqual(rows.map((r) => r.b).filter((x) => x !== null), b.steps.map((s) => s.index));
  // A row is "the same" exactly when both steps are the same event.
  const key = (s) => JSON.stringify([s.actor, s.action, s.message]);
  for (const r of rows) {
    const same = r.a !== null && r.b !== null && key(a.steps[r.a - 1]) === key(b.steps[r.b - 1]);
    assert.equal(r.differs, !same, JSON.stringify(r));
  }
  // The second counterexample differs somewhere (it is of another mechanism), and the first
  // seven steps (tab A's refresh up to its claim) are the same in both.
  assert.ok(rows.some((r) => r.differs));
  assert.deepEqual(rows.slice(0, 7).map((r) => [r.a, r.b, r.differs]), [1, 2, 3, 4, 5, 6, 7].map((i) => [i, i, false]));
  // Where the states differ, the fields are listed with each side's value.
  const firstDiff = rows.findIndex((r) => r.differs);
  const fields = await p.$$eval(`#row-${firstDiff + 1} .state-diff li`, (lis) => lis.map((li) => li.dataset.field));
  assert.ok(fields.length > 0);
  if (process.env.SCREENSHOTS) {
    await p.screenshot({ path: join(process.env.SCREENSHOTS, "trace-side-by-side.png") });
  }
  // j goes to the first row that differs.
  await p.keyboard.press("j");
  assert.equal(await p.evaluate(() => location.hash), `#row-${firstDiff + 1}`);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("a 500-step trace (a walk on a model): loads, steps and searches quickly", async () => {
  // express-session at its largest bounds: 3 devices of 6 tabs, 4 refreshes, retries and
  // requests each, 16 ticks.
  const model = JSON.parse(readFileSync(join(root, "models/express-session.json"), "utf8"));
  model.name = "express-session-long-walk";
  Object.assign(model.browser, { tabs: 6, refreshes_per_tab: 4, requests_per_tab: 4, devices: 3, retries_per_tab: 2 });
  model.time.max_ticks = 16;
  delete model.expect;
  const file = join(out, "long-walk.json");
  writeFileSync(file, JSON.stringify(model));
  const walk = join(out, "walk.json");
  run("trace", "walk", file, "--property", "refresh_succeeds", "--steps", "500", "-o", walk);
  const trace = JSON.parse(readFileSync(walk, "utf8"));
  assert.equal(trace.steps.length, 500);
  assert.match(run("trace", "validate", walk), /ok \(refresh_succeeds reached in 500 steps\)/);
  run("trace", "html", walk, "-o", join(out, "walk.html"));
  const started = Date.now();
  const p = await open(page(join(out, "walk.html"), "#step-250"));
  const at = await current(p);
  assert.deepEqual([at.list, at.state, at.hash], [["250"], ["250"], "#step-250"]);
  assert.equal(at.chart.length, 1);
  assert.ok(Date.now() - started < 10000, `loaded in ${Date.now() - started} ms`);
  assert.equal(await p.evaluate(() => scrollY), 0);
  assert.ok(await onScreen(p, "#chart .step.current .row-bg", "#chart"));
  assert.deepEqual(await inFlight(p), expectedInFlight(trace, 250));
  // The property panel was computed by re-executing the walk: refresh_succeeds is reached.
  await p.keyboard.press("End");
  assert.equal((await current(p)).list[0], "500");
  assert.ok(await onScreen(p, "#chart .step.current .row-bg", "#chart"));
  assert.equal(await p.locator("#props tr.own .status").textContent(), "✓ reached");
  const t0 = Date.now();
  for (let i = 0; i < 50; i++) await p.keyboard.press("k");
  assert.equal((await current(p)).list[0], "450");
  assert.ok(Date.now() - t0 < 10000, `50 steps in ${Date.now() - t0} ms`);
  assert.deepEqual(await inFlight(p), expectedInFlight(trace, 450));
  await p.fill("#search", "ClockTicks");
  const ticks = trace.steps.filter((s) => `${s.text} ${s.action}`.toLowerCase().includes("clockticks")).length;
  assert.ok(ticks > 0);
  assert.equal(await p.locator("#search-count").textContent(), `${ticks} of 500 steps match`);
  assert.deepEqual(p.errors, []);
  await p.close();
});
