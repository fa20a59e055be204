// Opens links with text fragments in headless Chromium (playwright-core, Debian's chromium)
// and tells, for each, which sentence element the browser scrolled to and highlighted.
// Usage: node fragment.mjs LINKS.json   (LINKS.json: [{"id": "s3", "url": "file:///...#:~:text=..."}])
// Prints one JSON line: [{"id": "s3", "landed": "s3" | null, "scrollY": 12345}]
// The page under test puts every sentence in its own <p id> far apart, with nothing in view at
// the top, so the element at the middle of the viewport after load is the one the fragment
// matched (null: the fragment matched nothing and the page did not scroll).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
const require = createRequire(process.env.PLAYWRIGHT_CORE_DIR ? process.env.PLAYWRIGHT_CORE_DIR + "/" : import.meta.url);
const { chromium } = require("playwright-core");

const links = JSON.parse(readFileSync(process.argv[2], "utf8"));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const results = [];
try {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  const page = await context.newPage();
  for (const { id, url } of links) {
    // A fresh navigation each time (a fragment change alone is not one).
    await page.goto("about:blank");
    await page.goto(url, { waitUntil: "load" });
    // The fragment is applied after load; wait until the page has scrolled (or give up).
    await page.waitForFunction(() => window.scrollY > 0, null, { timeout: 1500 }).catch(() => {});
    await page.waitForTimeout(50);
    const seen = await page.evaluate(() => {
      const mid = window.innerHeight / 2;
      const hit = [...document.querySelectorAll("p[id]")].find(p => {
        const r = p.getBoundingClientRect();
        return r.top <= mid + 200 && r.bottom >= mid - 200;
      });
      return { landed: hit ? hit.id : null, scrollY: window.scrollY };
    });
    results.push({ id, ...seen });
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(results));
