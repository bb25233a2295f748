// Drives Debian's Chromium (headless, over the DevTools protocol with the
// pinned puppeteer-core of package-lock.json) for tests/watch_page_test.cc
// and bench/page_latency_bench.cc. The C++ side starts the node, publishes
// and stops peers; this script only looks at the page, one command at a
// time, read from stdin, one reply line each on stdout:
//
//   open URL                 load the page, wait until its stream is live   -> ok
//   wait-alert MS TITLE      a row titled TITLE appears within MS           -> ok ELAPSED_MS | timeout
//   rows                     the alert rows, newest first                   -> ok JSON
//   filter TEXT              type TEXT into the filter box, press Enter,
//                            wait for the node's verdict                     -> ok valid | ok invalid ERROR_TEXT
//   peer MS ORIGIN up|down   the federation panel shows ORIGIN so within MS  -> ok | timeout JSON(panel)
//   watch-paint              from now on, note when each new row is painted
//   paint-times              {alert id: epoch ms of its paint}               -> ok JSON
//   insert-times             {alert id: epoch ms its row was inserted}       -> ok JSON
//   eval JS                  evaluate JS in the page                         -> ok JSON(result)
//   screenshot PATH          a PNG of the whole page                         -> ok
//   quit
//
// Errors reply "error MESSAGE". Chromium: $WF_CHROMIUM, else /usr/bin/chromium.
import readline from "node:readline";
import puppeteer from "puppeteer-core";

const executablePath = process.env.WF_CHROMIUM || "/usr/bin/chromium";
let browser = null;
let page = null;

function reply(line) {
  process.stdout.write(line.replace(/\n/g, " ") + "\n");
}

async function launch() {
  const args = ["--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--window-size=1400,800"];
  // Chromium refuses to run as root with its sandbox on.
  if (process.getuid && process.getuid() === 0) args.push("--no-sandbox");
  browser = await puppeteer.launch({ executablePath, headless: true, args,
                                     defaultViewport: { width: 1400, height: 800 } });
  page = await browser.newPage();
  page.on("console", (m) => process.stderr.write("page console: " + m.text() + "\n"));
  page.on("pageerror", (e) => process.stderr.write("page error: " + e + "\n"));
}

const rowsInPage = () => Array.from(document.querySelectorAll("#alerts tr")).map((tr) => ({
  id: tr.dataset.id,
  title: tr.querySelector("td.title").textContent,
  origin: tr.querySelector("td.origin").textContent,
  category: tr.querySelector("td.category").textContent,
  severity: tr.querySelector(".sev").textContent,
  severity_color: getComputedStyle(tr.querySelector(".sev")).backgroundColor,
  tlp: tr.querySelector(".tlp").textContent,
  domains: tr.querySelector("td.domains").textContent,
}));

async function handle(line) {
  const space = line.indexOf(" ");
  const cmd = space < 0 ? line : line.slice(0, space);
  const rest = space < 0 ? "" : line.slice(space + 1);
  switch (cmd) {
    case "open": {
      if (!browser) await launch();
      await page.goto(rest, { waitUntil: "load" });
      await page.waitForFunction(() => document.getElementById("conn").textContent === "live",
                                 { timeout: 10000 });
      return "ok";
    }
    case "wait-alert": {
      const sp = rest.indexOf(" ");
      const ms = Number(rest.slice(0, sp));
      const title = rest.slice(sp + 1);
      const start = Date.now();
      try {
        await page.waitForFunction(
            (t) => Array.from(document.querySelectorAll("#alerts td.title")).some((td) => td.textContent === t),
            { timeout: ms, polling: "mutation" }, title);
      } catch (e) {
        return "timeout";
      }
      return "ok " + (Date.now() - start);
    }
    case "rows":
      return "ok " + JSON.stringify(await page.evaluate(rowsInPage));
    case "filter": {
      await page.evaluate(() => { delete document.body.dataset.filter; });
      await page.click("#filter", { clickCount: 3 });
      await page.keyboard.press("Backspace");
      if (rest) await page.type("#filter", rest);
      await page.keyboard.press("Enter");
      await page.waitForFunction(() => document.body.dataset.filter !== undefined, { timeout: 5000 });
      const verdict = await page.evaluate(() => document.body.dataset.filter);
      if (verdict === "invalid") {
        return "ok invalid " + await page.$eval("#filter-error", (e) => e.textContent);
      }
      await page.waitForFunction(() => document.getElementById("conn").textContent === "live",
                                 { timeout: 5000 });
      return "ok valid";
    }
    case "peer": {
      const [ms, origin, want] = rest.split(" ");
      try {
        await page.waitForFunction(
            (o, w) => Array.from(document.querySelectorAll("#peers tr")).some(
                (tr) => tr.dataset.peer === o && tr.cells[1].textContent === w),
            { timeout: Number(ms), polling: 100 }, origin, want);
      } catch (e) {
        return "timeout " + JSON.stringify(await page.$eval("#peers", (e) => e.textContent));
      }
      return "ok";
    }
    case "watch-paint":
      await page.evaluate(() => {
        window.__paint = {};
        window.__insert = {};
        // A row is painted in the frame after its insertion: the time noted
        // is when that frame's rendering has run (a task posted from
        // requestAnimationFrame runs after the frame is produced).
        new MutationObserver((records) => {
          const ids = [];
          for (const r of records) for (const n of r.addedNodes) if (n.dataset && n.dataset.id) ids.push(n.dataset.id);
          if (ids.length === 0) return;
          const inserted = performance.timeOrigin + performance.now();
          for (const id of ids) window.__insert[id] = inserted;
          requestAnimationFrame(() => {
            const ch = new MessageChannel();
            ch.port1.onmessage = () => {
              const t = performance.timeOrigin + performance.now();
              for (const id of ids) window.__paint[id] = t;
            };
            ch.port2.postMessage(0);
          });
        }).observe(document.getElementById("alerts"), { childList: true });
      });
      return "ok";
    case "paint-times":
      return "ok " + JSON.stringify(await page.evaluate(() => window.__paint));
    case "insert-times":
      return "ok " + JSON.stringify(await page.evaluate(() => window.__insert));
    case "eval":
      return "ok " + JSON.stringify(await page.evaluate(rest));
    case "screenshot":
      await page.screenshot({ path: rest, fullPage: true });
      return "ok";
    case "quit":
      if (browser) await browser.close();
      reply("ok");
      process.exit(0);
    default:
      return "error unknown command " + cmd;
  }
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
const lines = [];
let busy = false;
async function drain() {
  if (busy) return;
  busy = true;
  while (lines.length > 0) {
    const line = lines.shift();
    try {
      reply(await handle(line));
    } catch (e) {
      reply("error " + (e && e.message ? e.message : String(e)));
    }
  }
  busy = false;
}
rl.on("line", (line) => { lines.push(line); drain(); });
rl.on("close", async () => {
  while (busy || lines.length > 0) await new Promise((r) => setTimeout(r, 20));
  if (browser) await browser.close();
  process.exit(0);
});
