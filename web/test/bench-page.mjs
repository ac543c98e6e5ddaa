// Receipts/s of the page in headless Chromium: node web/test/bench-page.mjs EXPORT KEYS [RUNS]
// Prints one JSON line per run: {receipts, seconds, rate, workers}.
import { serve } from './server.mjs';
import { launch, openPage } from './browser.mjs';

const [exportFile, keysFile, runs = '1'] = process.argv.slice(2);
const server = await serve();
const browser = await launch();
try {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.setInputFiles('#keys-file', keysFile);
  await page.click('#keys-add');
  await page.setInputFiles('#files', exportFile);
  for (let i = 0; i < Number(runs); i++) {
    await page.click('#verify');
    await page.waitForFunction(() => document.getElementById('results').dataset.state === 'done', null, { timeout: 30 * 60_000, polling: 250 });
    const r = await page.evaluate(() => ({
      receipts: Number(document.getElementById('results').dataset.receipts),
      seconds: Number(document.getElementById('results').dataset.elapsed),
      rate: Number(document.getElementById('results').dataset.rate),
      workers: Number(/Ready: (\d+)/.exec(document.getElementById('boot').textContent)?.[1] ?? 0),
    }));
    console.log(JSON.stringify(r));
  }
  if (problems.length) console.error(problems.join('\n'));
} finally {
  await browser.close();
  await server.close();
}
