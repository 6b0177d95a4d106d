// Uses the official OpenAI Node SDK, unmodified, against the gateway and prints what it got as one JSON object.
// Usage: node openai-sdk.mjs --url GATEWAY --out DIR
// The xunit test (OpenAiNodeSdkTests) starts the fleet, runs this and checks the files and the JSON.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';

const { values: args } = parseArgs({ options: { url: { type: 'string' }, out: { type: 'string' } } });
if (!args.url || !args.out) throw new Error('usage: node openai-sdk.mjs --url GATEWAY --out DIR');

const client = new OpenAI({ baseURL: new URL('/v1', args.url).href, apiKey: 'x' });
const input = 'The official client speaks through the gateway. It should not notice the difference.';
const result = { files: [], errors: {} };

async function save(name, response) {
  const bytes = Buffer.from(await response.arrayBuffer());
  const file = path.join(args.out, name);
  await writeFile(file, bytes);
  return {
    path: file,
    bytes: bytes.length,
    magic: bytes.subarray(0, 12).toString('hex'),
    contentType: response.headers.get('content-type'),
    sampleRate: response.headers.get('x-pcm-sample-rate'),
  };
}

async function failure(call) {
  try {
    await call();
    return { thrown: false };
  } catch (error) {
    return {
      thrown: true,
      class: error.constructor.name,
      isApiError: error instanceof OpenAI.APIError,
      isBadRequest: error instanceof OpenAI.BadRequestError,
      isNotFound: error instanceof OpenAI.NotFoundError,
      status: error.status ?? null,
      message: error.message,
      errorMessage: error.error?.message ?? null,
      code: error.code ?? null,
      param: error.param ?? null,
      type: error.type ?? null,
    };
  }
}

try {
  for (const format of ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm']) {
    // Opus codes 8/12/16/24/48 kHz only; ask for 24 kHz so it works whatever the model's own rate is.
    const extra = format === 'opus' ? { sample_rate: 24000 } : {};
    const response = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input, response_format: format, ...extra });
    result.files.push({ format, ...(await save(`sdk.${format}`, response)) });
  }

  const fast = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input, response_format: 'wav', speed: 2.0 });
  result.speed = await save('sdk-speed2.wav', fast);

  const sse = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input, response_format: 'pcm', stream_format: 'sse' });
  const text = await sse.text();
  const events = text.split(/\r?\n\r?\n/)
    .map((block) => block.split(/\r?\n/).filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart()).join('\n'))
    .filter((data) => data.length > 0)
    .map((data) => JSON.parse(data));
  const deltas = events.filter((e) => e.type === 'speech.audio.delta');
  result.sse = {
    contentType: sse.headers.get('content-type'),
    types: [...new Set(events.map((e) => e.type))],
    deltas: deltas.length,
    audioBytes: deltas.reduce((sum, e) => sum + Buffer.from(e.audio, 'base64').length, 0),
    last: events.at(-1) ?? null,
    sampleRate: sse.headers.get('x-pcm-sample-rate'),
  };

  // openai-node's SpeechModel names this snapshot; OpenAI answers a retrieve of it under its own id.
  const snapshot = 'gpt-4o-mini-tts-2025-12-15';
  const dated = await client.audio.speech.create({ model: snapshot, voice: 'alloy', input, response_format: 'pcm' });
  result.snapshot = { speech: await save('sdk-snapshot.pcm', dated), retrieved: (await client.models.retrieve(snapshot)).id };

  // Text taken from a PDF, pages apart by a form feed.
  const pages = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Page one ends here.\fPage two begins.', response_format: 'wav' });
  result.formFeed = await save('sdk-form-feed.wav', pages);

  result.errors.emptyInput = await failure(() => client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: '' }));
  result.errors.unknownVoice = await failure(() => client.audio.speech.create({ model: 'tts-1', voice: 'no-such-voice', input }));
  result.errors.speedOutOfRange = await failure(() => client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input, speed: 9 }));
  result.errors.unknownModel = await failure(() => client.models.retrieve('tts-9'));
  result.errors.slashedModel = await failure(() => client.models.retrieve('org/model'));

  const models = await client.models.list();
  result.models = { ids: models.data.map((m) => m.id), retrieved: (await client.models.retrieve('tts-1')).id };
  const custom = await client.audio.speech.create({ model: 'tts-1', voice: { id: 'alloy' }, input, response_format: 'wav' });
  result.customVoice = await save('sdk-custom-voice.wav', custom);
  result.ok = true;
} catch (error) {
  result.ok = false;
  result.failure = String(error && error.stack ? error.stack : error);
}

console.log(JSON.stringify(result));
