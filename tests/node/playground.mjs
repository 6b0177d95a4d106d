// Drives the gateway's playground page in headless Chromium and prints what it saw as one JSON object.
// Usage: node playground.mjs --url GATEWAY --out DIR [--keyed-url GATEWAY --key KEY]
// The xunit test (PlaygroundBrowserTests) starts the fleet, runs this and asserts on the JSON.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    out: { type: 'string' },
    'keyed-url': { type: 'string' },
    key: { type: 'string' },
  },
});
if (!args.url || !args.out) throw new Error('usage: node playground.mjs --url GATEWAY --out DIR [--keyed-url GATEWAY --key KEY]');

const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const result = { pageErrors: [] };
const userDataDir = await mkdtemp(path.join(tmpdir(), 'mesh-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1100, height: 1000 },
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    // Speak starts audio from a click, but a test's click may not count as a user gesture everywhere.
    '--autoplay-policy=no-user-gesture-required',
  ],
});

const state = (page) => page.evaluate(() => {
  const s = window.meshPlayground;
  return {
    catalogLoaded: s.catalogLoaded, busy: s.busy, requests: s.requests, playedSeconds: s.playedSeconds,
    scheduledSeconds: s.scheduledSeconds, chunks: s.chunks, underruns: s.underruns, lastTtfaMs: s.lastTtfaMs, lastRtf: s.lastRtf,
    lastVariant: s.lastVariant, lastBackend: s.lastBackend, lastSampleRate: s.lastSampleRate, lastError: s.lastError,
    lastDownload: s.lastDownload,
  };
});

/** Presses Speak (or Ctrl+Enter in the text box) and waits until that request has finished (audio or an error). */
async function speak(page, { keyboard = false } = {}) {
  const before = (await state(page)).requests;
  if (keyboard) await page.press('#input', 'Control+Enter');
  else await page.click('#speak');
  await page.waitForFunction((n) => window.meshPlayground.requests > n && !window.meshPlayground.busy, before, { timeout: 30_000 });
}

/** The label of the default rate under each model in `ids`, for pcm and for wav; the form is left as it was. */
async function rateLabels(page, ids) {
  const [model, format] = [await page.inputValue('#model'), await page.inputValue('#format')];
  const labels = {};
  for (const id of ids) {
    await page.selectOption('#model', id);
    labels[id] = {};
    for (const each of ['pcm', 'wav']) {
      await page.selectOption('#format', each);
      labels[id][each] = await page.locator('#sample-rate option').first().textContent();
    }
  }
  await page.selectOption('#model', model);
  await page.selectOption('#format', format);
  return labels;
}

try {
  const page = await context.newPage();
  page.on('pageerror', (error) => result.pageErrors.push(String(error)));
  const response = await page.goto(args.url, { waitUntil: 'load' });
  result.contentType = response.headers()['content-type'];
  await page.waitForFunction(() => window.meshPlayground?.catalogLoaded === true, null, { timeout: 15_000 });
  result.title = await page.title();
  result.voices = await page.locator('#voice option').count();
  result.models = await page.locator('#model option').allTextContents();
  result.variants = await page.locator('#variant option').evaluateAll((options) => options.map((o) => o.value));

  // Every form control is labelled, and the keyboard focus ring is visible.
  result.unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')].filter((e) => e.labels.length === 0).map((e) => e.id));
  await page.focus('#input');
  await page.keyboard.press('Tab');
  result.focusAfterTab = await page.evaluate(() => {
    const element = document.activeElement;
    const style = getComputedStyle(element);
    return { id: element.id, outlineStyle: style.outlineStyle, outlineWidth: style.outlineWidth };
  });

  // The API counts code points: 3,000 emoji are 3,000 characters (6,000 UTF-16 units) and must not be cut.
  await page.fill('#input', '\u{1F600}'.repeat(3000));
  result.emojiCounter = await page.textContent('#input-count');
  result.emojiKept = await page.evaluate(() => [...document.getElementById('input').value].length);

  const text = 'The playground streams this sentence. And then this second one, gaplessly.';
  await page.fill('#input', text);
  result.counter = await page.textContent('#input-count');
  const forced = result.variants.find((v) => v !== '');
  if (forced) await page.selectOption('#variant', forced);
  result.forcedVariant = forced ?? null;
  await speak(page);
  // Scheduled audio plays on the audio clock; give it a moment to pass the start.
  await page.waitForFunction(() => window.meshPlayground.playedSeconds > 0.2, null, { timeout: 10_000 }).catch(() => {});
  result.speak = await state(page);
  result.shown = {
    ttfa: await page.textContent('#stat-ttfa'),
    rtf: await page.textContent('#stat-rtf'),
    variant: await page.textContent('#stat-variant'),
    backend: await page.textContent('#stat-backend'),
    rate: await page.textContent('#stat-rate'),
  };
  result.screenshot = path.join(args.out, 'playground.png');
  await page.screenshot({ path: result.screenshot, fullPage: true });

  // The default rate's label follows the model and format: a pcm file comes at the rate /v1/models states for the id.
  await page.selectOption('#format', 'wav');
  result.rateLabels = await rateLabels(page, ['tts-1', 'espeak']);
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.click('#download')]);
  const saved = path.join(args.out, download.suggestedFilename());
  await download.saveAs(saved);
  result.download = { name: download.suggestedFilename(), path: saved, state: (await state(page)).lastDownload };

  // Speak pressed again before the first request is answered: the first is dropped, and every status shown from the
  // second click on belongs to the request that replaced it.
  result.restart = await page.evaluate(async () => {
    const status = document.getElementById('status');
    const shown = [];
    const observer = new MutationObserver((records) => {
      for (const record of records) for (const node of record.addedNodes) shown.push(node.textContent);
    });
    observer.observe(status, { childList: true });
    const before = window.meshPlayground.requests;
    document.getElementById('speak').click();
    document.getElementById('speak').click();
    await new Promise((resolve) => {
      const poll = () => (window.meshPlayground.requests > before && !window.meshPlayground.busy ? resolve() : setTimeout(poll, 20));
      poll();
    });
    observer.disconnect();
    return { shown, requests: window.meshPlayground.requests - before, lastError: window.meshPlayground.lastError };
  });

  // A voice the server does not know: the page must show the server's own words.
  await page.evaluate(() => {
    const voice = document.getElementById('voice');
    voice.append(new Option('no-such-voice', 'no-such-voice'));
    voice.value = 'no-such-voice';
  });
  await speak(page);
  result.unknownVoice = { error: await page.textContent('#error'), visible: await page.isVisible('#error') };
  result.errorScreenshot = path.join(args.out, 'playground-error.png');
  await page.screenshot({ path: result.errorScreenshot, fullPage: true });

  await page.selectOption('#voice', 'alloy');
  await page.fill('#input', '');
  await speak(page);
  result.emptyInput = { error: await page.textContent('#error') };

  // The same catalogue with each entry's pcm rate turned around (the model's rate where it was another, 16 kHz where it
  // was the model's): the label follows what the server states, not a list of names of the page's own.
  const restated = await context.newPage();
  restated.on('pageerror', (error) => result.pageErrors.push(String(error)));
  await restated.route('**/v1/models', async (route) => {
    const response = await route.fetch();
    const list = await response.json();
    for (const model of list.data) model.pcm_sample_rate = model.pcm_sample_rate === model.sample_rate ? 16000 : model.sample_rate;
    await route.fulfill({ response, json: list });
  });
  await restated.goto(args.url, { waitUntil: 'load' });
  await restated.waitForFunction(() => window.meshPlayground?.catalogLoaded === true, null, { timeout: 15_000 });
  result.restatedRateLabels = await rateLabels(restated, ['tts-1', 'espeak']);
  await restated.close();

  if (args['keyed-url']) {
    const keyed = await context.newPage();
    keyed.on('pageerror', (error) => result.pageErrors.push(String(error)));
    await keyed.goto(args['keyed-url'], { waitUntil: 'load' });
    await keyed.waitForFunction(() => document.getElementById('error').textContent !== '', null, { timeout: 15_000 });
    result.keyed = { withoutKey: await keyed.textContent('#error') };
    await keyed.fill('#api-key', args.key);
    await keyed.press('#api-key', 'Tab');
    await keyed.waitForFunction(() => window.meshPlayground.catalogLoaded === true, null, { timeout: 15_000 });
    await speak(keyed, { keyboard: true });
    result.keyed.speak = await state(keyed);
    result.keyed.storage = await keyed.evaluate(() => ({
      session: sessionStorage.getItem('mesh.apiKey'),
      localKeys: localStorage.length,
    }));
  }

  result.ok = true;
} catch (error) {
  result.ok = false;
  result.failure = String(error && error.stack ? error.stack : error);
} finally {
  await context.close();
  await rm(userDataDir, { recursive: true, force: true });
}

console.log(JSON.stringify(result));
