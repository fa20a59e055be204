// Drives the web page in headless Chromium (playwright-core, Debian's chromium): types a
// question, clicks Ask, waits for the streamed answer, checks citations, takes a screenshot.
// Usage: node ask.mjs URL QUESTION SCREENSHOT.png [KEY]   (prints one JSON line)
// With KEY: the page must ask for the key (the server has one); it is typed in, then the
// answer must come.
import { createRequire } from "node:module";
const require = createRequire(process.env.PLAYWRIGHT_CORE_DIR ? process.env.PLAYWRIGHT_CORE_DIR + "/" : import.meta.url);
const { chromium } = require("playwright-core");

const [url, question, shot, key] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 1100 } });
  await page.goto(url);
  await page.fill("#q", question);
  await page.click("button[type=submit]");
  await page.waitForSelector("body[data-state]", { timeout: 30000 });
  let askedForKey = false;
  if (key) {
    askedForKey = await page.evaluate(() => document.body.dataset.state === "needs-key");
    if (askedForKey) {
      await page.fill("#key", key);
      await page.click("#keyform button[type=submit]");
      await page.waitForSelector("body[data-state=done], body[data-state=error]", { timeout: 30000 });
    }
  }
  const result = await page.evaluate(() => ({
    state: document.body.dataset.state,
    answer: document.getElementById("answer").innerText,
    citationLinks: [...document.querySelectorAll("#answer a.cite")].map(a => a.getAttribute("href")),
    cited: [...document.querySelectorAll("#sources li.cited a")].map(a => a.textContent),
    sources: document.querySelectorAll("#sources li").length,
    status: document.getElementById("status").innerText,
  }));
  result.askedForKey = askedForKey;
  // A citation link scrolls to its source.
  if (result.citationLinks.length) {
    await page.click("#answer a.cite");
    result.hash = await page.evaluate(() => location.hash);
  }
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
