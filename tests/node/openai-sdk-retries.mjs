// One speech request through the official OpenAI Node SDK with its retries (maxRetries 2 unless --max-retries says
// otherwise; they follow retry-after-ms, Retry-After and x-should-retry), printing each attempt's status, when it was
// answered and the retry-after-ms it advised, and how the call ended, as one JSON object.
// Usage: node openai-sdk-retries.mjs --url GATEWAY [--max-retries N]
// The xunit tests (OpenAiSdkRetryTests) start a failing fleet, run this and check the attempts.
import { parseArgs } from 'node:util';
import OpenAI from 'openai';

const { values: args } = parseArgs({ options: { url: { type: 'string' }, 'max-retries': { type: 'string', default: '2' } } });
if (!args.url) throw new Error('usage: node openai-sdk-retries.mjs --url GATEWAY [--max-retries N]');

const attempts = [];
const started = performance.now();
const elapsedMs = () => Math.round(performance.now() - started);
// The SDK's own fetch, watched: each attempt it makes, retries included, passes here.
const watchedFetch = async (url, init) => {
  const response = await fetch(url, init);
  const retryAfterMs = response.headers.get('retry-after-ms');
  attempts.push({ status: response.status, atMs: elapsedMs(), retryAfterMs: retryAfterMs === null ? null : Number(retryAfterMs) });
  return response;
};
const client = new OpenAI({ baseURL: new URL('/v1', args.url).href, apiKey: 'x', fetch: watchedFetch, maxRetries: Number(args['max-retries']) });
const result = { attempts };

try {
  const response = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Hello there.', response_format: 'wav' });
  await response.arrayBuffer();
  result.status = response.status;
} catch (error) {
  if (!(error instanceof OpenAI.APIError)) {
    result.failure = String(error && error.stack ? error.stack : error);
  }

  result.status = error.status ?? null;
  result.code = error.code ?? null;
}

result.elapsedMs = elapsedMs();
result.ok = result.failure === undefined;
console.log(JSON.stringify(result));
