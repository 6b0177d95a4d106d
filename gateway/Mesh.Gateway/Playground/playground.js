// The Mesh playground: streams speech from the gateway's raw PCM surface and plays it with the Web Audio API.
// Plain script, no framework, served by the gateway itself.
'use strict';

(() => {
  const MAX_CHARS = 4096;
  const KEY_STORAGE = 'mesh.apiKey';
  // How far ahead of "now" the first chunk is scheduled: enough to absorb the main thread's jitter.
  const START_LEAD_SECONDS = 0.05;
  const EXTENSIONS = { mp3: 'mp3', opus: 'opus', aac: 'aac', flac: 'flac', wav: 'wav', pcm: 'pcm' };

  const $ = (id) => document.getElementById(id);
  const ui = {
    form: $('speech-form'),
    input: $('input'),
    count: $('input-count'),
    voice: $('voice'),
    model: $('model'),
    variant: $('variant'),
    format: $('format'),
    sampleRate: $('sample-rate'),
    speed: $('speed'),
    speedValue: $('speed-value'),
    apiKey: $('api-key'),
    speak: $('speak'),
    stop: $('stop'),
    download: $('download'),
    error: $('error'),
    status: $('status'),
    stats: {
      ttfa: $('stat-ttfa'),
      rtf: $('stat-rtf'),
      audio: $('stat-audio'),
      variant: $('stat-variant'),
      backend: $('stat-backend'),
      rate: $('stat-rate'),
      queue: $('stat-queue'),
    },
  };

  const numbers = new Intl.NumberFormat('en-US');
  let audioContext = null;
  let playback = { sources: new Set(), segments: [], nextTime: 0 };
  let activeRequest = null;
  let models = [];

  // What tests (and curious users in the console) can read about the last request.
  const state = {
    catalogLoaded: false,
    busy: false,
    requests: 0,
    scheduledSeconds: 0,
    chunks: 0,
    underruns: 0,
    lastTtfaMs: null,
    lastRtf: null,
    lastVariant: null,
    lastBackend: null,
    lastSampleRate: null,
    lastQueueMs: null,
    lastError: null,
    lastDownload: null,
    /** Seconds of the last request's audio that the audio clock has passed. */
    get playedSeconds() {
      if (!audioContext) return 0;
      const now = audioContext.currentTime;
      return playback.segments.reduce((sum, [start, end]) => sum + Math.max(0, Math.min(now, end) - start), 0);
    },
  };
  window.meshPlayground = state;

  // ---- API calls ---------------------------------------------------------------------------------------------------

  function headers(json) {
    const result = {};
    if (json) result['Content-Type'] = 'application/json';
    const key = ui.apiKey.value.trim();
    if (key) result.Authorization = `Bearer ${key}`;
    // Only speech requests are routed to a variant; the catalog is the gateway's own.
    if (json && ui.variant.value) result['X-Mesh-Variant'] = ui.variant.value;
    return result;
  }

  function requestBody(extra) {
    const body = {
      model: ui.model.value,
      voice: ui.voice.value,
      input: ui.input.value,
      speed: Number(ui.speed.value),
      ...extra,
    };
    if (ui.sampleRate.value) body.sample_rate = Number(ui.sampleRate.value);
    return JSON.stringify(body);
  }

  /** The envelope's message in plain words, or what the status says when the body has none. */
  async function describeFailure(response) {
    let message = null;
    try {
      const body = await response.json();
      message = body && body.error && typeof body.error.message === 'string' ? body.error.message : null;
    } catch {
      // Not JSON: a proxy in between, or a truncated answer; the status still says something.
    }
    message ??= `The gateway answered ${response.status} ${response.statusText || ''}`.trim() + '.';
    const retryAfter = response.headers.get('Retry-After');
    if (retryAfter && (response.status === 429 || response.status === 503)) {
      message += ` Try again in ${retryAfter} s.`;
    }
    if (response.status === 401) {
      message += ' Enter a valid API key under Access.';
    }
    return message;
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: headers(false), cache: 'no-store' });
    if (!response.ok) throw new Error(await describeFailure(response));
    return response.json();
  }

  // ---- Catalog ---------------------------------------------------------------------------------------------------

  function fillSelect(select, groups, keep) {
    const previous = keep ?? select.value;
    select.replaceChildren();
    for (const group of groups) {
      const parent = group.label ? document.createElement('optgroup') : select;
      if (group.label) {
        parent.label = group.label;
        select.append(parent);
      }
      for (const { value, text } of group.options) {
        parent.append(new Option(text, value));
      }
    }
    if ([...select.options].some((o) => o.value === previous)) select.value = previous;
  }

  let allVoices = [];

  function fillVoices() {
    const model = models.find((m) => m.id === ui.model.value);
    let voices = model ? allVoices.filter((v) => v.model === model.id || v.model === model.family) : allVoices;
    if (voices.length === 0) voices = allVoices;
    const seen = new Set();
    voices = voices.filter((v) => !seen.has(v.id) && seen.add(v.id));
    // OpenAI's voice names first, then the voices that are plain language codes.
    const named = voices.filter((v) => v.id !== v.language);
    const languages = voices.filter((v) => v.id === v.language).sort((a, b) => a.id.localeCompare(b.id));
    const groups = [];
    if (named.length) groups.push({ label: 'Voices', options: named.map((v) => ({ value: v.id, text: `${v.id} (${v.language})` })) });
    if (languages.length) groups.push({ label: 'Languages', options: languages.map((v) => ({ value: v.id, text: v.id })) });
    if (groups.length) fillSelect(ui.voice, groups);
  }

  function showNativeRate() {
    const model = models.find((m) => m.id === ui.model.value);
    if (!model) {
      ui.sampleRate.options[0].text = 'Native';
      return;
    }
    const native = `${numbers.format(model.sample_rate)} Hz`;
    // Speak plays the model's rate; a downloaded pcm file, which carries no rate, comes at the one the server states
    // for the model id (OpenAI's 24 kHz under OpenAI's names).
    ui.sampleRate.options[0].text = ui.format.value === 'pcm' && model.pcm_sample_rate !== model.sample_rate
      ? `Native (${native}; the pcm file ${numbers.format(model.pcm_sample_rate)} Hz)`
      : `Native (${native})`;
  }

  async function loadCatalog() {
    setStatus('Loading voices, models and variants…');
    try {
      const [modelList, voiceList, variantList] = await Promise.all([
        getJson('/v1/models'),
        getJson('/v1/audio/voices'),
        getJson('/v1/mesh/variants'),
      ]);
      models = modelList.data;
      allVoices = voiceList.voices;
      const preferred = models.some((m) => m.id === 'tts-1') ? 'tts-1' : undefined;
      fillSelect(ui.model, [{ options: models.map((m) => ({ value: m.id, text: m.id === m.family ? m.id : `${m.id} (${m.family})` })) }], ui.model.value || preferred);
      fillVoices();
      showNativeRate();
      fillSelect(ui.variant, [
        { options: [{ value: '', text: 'Automatic' }] },
        ...(variantList.data.length
          ? [{ label: 'Force a variant', options: variantList.data.map((v) => ({ value: v.id, text: `${v.id} (${Math.round(v.weight * 100)} %, ${v.ready_backends} ready)` })) }]
          : []),
      ]);
      state.catalogLoaded = true;
      clearError();
      setStatus(`${models.length} models, ${allVoices.length} voices, ${variantList.data.length} variants.`);
    } catch (error) {
      showError(`Could not load the voices and models: ${error.message}`);
      setStatus('');
    }
  }

  // ---- Playback ----------------------------------------------------------------------------------------------------

  async function ensureAudioContext() {
    audioContext ??= new AudioContext({ latencyHint: 'interactive' });
    if (audioContext.state === 'suspended') await audioContext.resume();
    return audioContext;
  }

  function stopPlayback() {
    for (const source of playback.sources) {
      try {
        source.stop();
      } catch {
        // Never started; nothing to stop.
      }
    }
    playback = { sources: new Set(), segments: [], nextTime: 0 };
  }

  /** Plays s16le samples right after what is already scheduled, so consecutive chunks join without a gap. */
  function schedule(context, bytes, sampleRate) {
    const count = bytes.length >> 1;
    const view = new DataView(bytes.buffer, bytes.byteOffset, count * 2);
    const samples = new Float32Array(count);
    for (let i = 0; i < count; i++) samples[i] = view.getInt16(i * 2, true) / 32768;
    const buffer = context.createBuffer(1, count, sampleRate);
    buffer.copyToChannel(samples, 0);
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);

    // The stream fell behind the clock (or this is the first chunk): start a little ahead of now.
    if (playback.nextTime < context.currentTime + 0.005) {
      if (playback.segments.length > 0) state.underruns++;
      playback.nextTime = context.currentTime + START_LEAD_SECONDS;
    }
    source.start(playback.nextTime);
    playback.segments.push([playback.nextTime, playback.nextTime + buffer.duration]);
    playback.nextTime += buffer.duration;
    playback.sources.add(source);
    const owner = playback;
    source.onended = () => {
      owner.sources.delete(source);
      if (owner === playback && owner.sources.size === 0 && !state.busy) ui.stop.disabled = true;
    };
    state.scheduledSeconds += buffer.duration;
    state.chunks++;
  }

  // ---- Speak and Download ----------------------------------------------------------------------------------------

  function beginRequest() {
    activeRequest?.abort();
    const controller = new AbortController();
    activeRequest = controller;
    state.busy = true;
    state.lastError = null;
    clearError();
    ui.stop.disabled = false;
    return controller;
  }

  function endRequest(controller) {
    if (activeRequest !== controller) return;
    activeRequest = null;
    state.busy = false;
    state.requests++;
    ui.stop.disabled = playback.sources.size === 0;
  }

  function showRouting(response) {
    state.lastVariant = response.headers.get('X-Mesh-Variant');
    state.lastBackend = response.headers.get('X-Mesh-Backend');
    const queue = response.headers.get('X-Mesh-Queue-Ms');
    state.lastQueueMs = queue === null ? null : Number(queue);
    ui.stats.variant.textContent = state.lastVariant ?? '–';
    ui.stats.backend.textContent = state.lastBackend ?? '–';
    ui.stats.queue.textContent = state.lastQueueMs === null ? '–' : `${numbers.format(state.lastQueueMs)} ms`;
  }

  function resetStats() {
    for (const element of Object.values(ui.stats)) element.textContent = '–';
    Object.assign(state, {
      scheduledSeconds: 0, chunks: 0, underruns: 0, lastTtfaMs: null, lastRtf: null, lastVariant: null,
      lastBackend: null, lastSampleRate: null, lastQueueMs: null,
    });
  }

  async function speak() {
    const controller = beginRequest();
    stopPlayback();
    resetStats();
    setStatus('Requesting audio…');
    let receivedSeconds = 0;
    try {
      const context = await ensureAudioContext();
      const started = performance.now();
      const response = await fetch('/v1/audio/speech/stream/pcm', {
        method: 'POST',
        headers: headers(true),
        body: requestBody(),
        signal: controller.signal,
      });
      showRouting(response);
      if (!response.ok) {
        fail(await describeFailure(response));
        return;
      }

      const sampleRate = Number(response.headers.get('X-PCM-Sample-Rate'));
      state.lastSampleRate = sampleRate;
      ui.stats.rate.textContent = `${numbers.format(sampleRate)} Hz`;
      setStatus('Playing as it arrives…');
      const reader = response.body.getReader();
      let carry = null;
      let samples = 0;
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          let bytes = value;
          if (carry) {
            bytes = new Uint8Array(carry.length + value.length);
            bytes.set(carry);
            bytes.set(value, carry.length);
            carry = null;
          }
          // A network chunk may end inside a sample; its first byte waits for the next chunk.
          const usable = bytes.length & ~1;
          if (usable < bytes.length) carry = bytes.slice(usable);
          if (usable === 0) continue;
          if (state.lastTtfaMs === null) {
            state.lastTtfaMs = Math.round(performance.now() - started);
            ui.stats.ttfa.textContent = `${numbers.format(state.lastTtfaMs)} ms`;
          }
          schedule(context, bytes.subarray(0, usable), sampleRate);
          samples += usable >> 1;
          receivedSeconds = samples / sampleRate;
          ui.stats.audio.textContent = `${receivedSeconds.toFixed(2)} s`;
        }
      } catch (error) {
        if (controller.signal.aborted) throw error;
        // Past the first byte the gateway can only cut the stream; say so instead of a bare network error.
        fail(`The stream broke off after ${receivedSeconds.toFixed(1)} s of audio; the backend stopped before the end.`);
        return;
      }

      if (samples > 0) {
        state.lastRtf = (performance.now() - started) / 1000 / receivedSeconds;
        ui.stats.rtf.textContent = state.lastRtf.toFixed(3);
      }
      setStatus(`Done: ${receivedSeconds.toFixed(2)} s of audio from ${state.lastBackend ?? 'the gateway'}.`);
    } catch (error) {
      // Aborted by Stop (which says so) or by a newer request (whose status this one must not overwrite).
      if (!controller.signal.aborted) fail(`Could not reach the gateway: ${error.message}`);
    } finally {
      endRequest(controller);
    }
  }

  async function download() {
    const controller = beginRequest();
    const format = ui.format.value;
    setStatus(`Synthesizing the whole ${format.toUpperCase()} file…`);
    try {
      const started = performance.now();
      const response = await fetch('/v1/audio/speech', {
        method: 'POST',
        headers: headers(true),
        body: requestBody({ response_format: format }),
        signal: controller.signal,
      });
      resetStats();
      showRouting(response);
      if (!response.ok) {
        fail(await describeFailure(response));
        return;
      }

      // Backends start a file's response with its first audio, so the headers' arrival is the time to first audio.
      state.lastTtfaMs = Math.round(performance.now() - started);
      ui.stats.ttfa.textContent = `${numbers.format(state.lastTtfaMs)} ms`;

      const blob = await response.blob();
      const name = `speech.${EXTENSIONS[format] ?? 'bin'}`;
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = name;
      link.hidden = true;
      document.body.append(link);
      link.click();
      link.remove();
      // The browser has taken the file once the click is handled; the URL only has to outlive that.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      state.lastDownload = { name, format, bytes: blob.size, type: blob.type };
      setStatus(`Saved ${name} (${numbers.format(Math.round(blob.size / 1024))} KiB) from ${state.lastBackend ?? 'the gateway'}.`);
    } catch (error) {
      // Aborted by Stop (which says so) or by a newer request (whose status this one must not overwrite).
      if (!controller.signal.aborted) fail(`Could not reach the gateway: ${error.message}`);
    } finally {
      endRequest(controller);
    }
  }

  function stop() {
    activeRequest?.abort();
    stopPlayback();
    ui.stop.disabled = true;
    setStatus('Stopped.');
  }

  // ---- Messages ----------------------------------------------------------------------------------------------------

  function fail(message) {
    state.lastError = message;
    showError(message);
    setStatus('');
  }

  function showError(message) {
    ui.error.textContent = message;
    ui.error.hidden = false;
  }

  function clearError() {
    ui.error.textContent = '';
    ui.error.hidden = true;
  }

  function setStatus(text) {
    ui.status.textContent = text;
  }

  // Characters as the API counts them, code points: an emoji is one, not the two UTF-16 units that .length (and a
  // textarea's maxlength) would count. Text over the limit stays editable; the API's error says by how much.
  function updateCount() {
    const length = [...ui.input.value].length;
    ui.count.textContent = `${numbers.format(length)} / ${numbers.format(MAX_CHARS)} characters`;
    ui.count.classList.toggle('over', length > MAX_CHARS);
  }

  function updateSpeed() {
    ui.speedValue.textContent = `${Number(ui.speed.value).toFixed(2)}×`;
  }

  // ---- Wiring ------------------------------------------------------------------------------------------------------

  ui.apiKey.value = sessionStorage.getItem(KEY_STORAGE) ?? '';
  ui.apiKey.addEventListener('input', () => {
    const key = ui.apiKey.value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  });
  // A new key may unlock the catalog that the old one could not read.
  ui.apiKey.addEventListener('change', loadCatalog);
  ui.input.addEventListener('input', updateCount);
  ui.input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      speak();
    }
  });
  ui.speed.addEventListener('input', updateSpeed);
  ui.model.addEventListener('change', () => {
    fillVoices();
    showNativeRate();
  });
  ui.format.addEventListener('change', showNativeRate);
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    speak();
  });
  ui.stop.addEventListener('click', stop);
  ui.download.addEventListener('click', download);

  updateCount();
  updateSpeed();
  loadCatalog();
})();
