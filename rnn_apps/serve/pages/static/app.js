// The pages of rnn-apps serve, plain JavaScript (no build step). index.html lists the models;
// model.html shows one model's page, chosen by the recipe that exported it, or a generic form
// (one field per input) for any other SavedModel. Every request goes through TensorFlow
// Serving's REST API, and a failed one shows the server's {"error": ...} on the page.
"use strict";

const $ = (selector) => document.querySelector(selector);

/** An element: el("p", {class: "note"}, "text", child, ...); "on..." attributes are listeners. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function showError(message) {
  $("#error").textContent = message || "";
  $("#error").hidden = !message;
}

/** GET ``path``, or POST ``body`` as JSON to it; a failed request throws the server's error. */
async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new Error(`The server did not answer (${err.message}).`);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // not JSON: said below
  }
  if (!response.ok) throw new Error(data?.error ?? `${response.status} ${response.statusText}`);
  if (data === null) throw new Error(`The server's answer to ${path} is not JSON.`);
  return data;
}

// -- signatures: TensorFlow Serving's metadata ------------------------------------------------
const dims = (spec) =>
  spec.tensor_shape.unknown_rank ? null : spec.tensor_shape.dim.map((d) => Number(d.size));
const batched = (spec) => dims(spec)?.[0] === -1;

/** Runs one instance: ``values`` holds each input without its batch dimension, and so does
 * the result for each output. The row format when every input has a batch dimension (the
 * server may batch it with other requests), else the columnar one (scalar inputs). */
async function predictOne(model, signatureName, signature, values) {
  const url = `/v1/models/${encodeURIComponent(model)}:predict`;
  const outputs = Object.keys(signature.outputs);
  const named = (result) => (outputs.length === 1 ? {[outputs[0]]: result} : result);
  if (Object.values(signature.inputs).every(batched)) {
    const {predictions} = await api(url, {signature_name: signatureName, instances: [values]});
    return named(predictions[0]);
  }
  const inputs = Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, batched(signature.inputs[k]) ? [v] : v]),
  );
  const result = named((await api(url, {signature_name: signatureName, inputs})).outputs);
  return Object.fromEntries(
    Object.entries(result).map(([k, v]) => [k, batched(signature.outputs[k]) ? v[0] : v]),
  );
}

/** Runs ``work`` with the error line cleared; its error, if any, goes on the page. */
async function task(work, button) {
  showError("");
  if (button) button.disabled = true;
  try {
    await work();
  } catch (err) {
    showError(err.message);
  } finally {
    if (button) button.disabled = false;
  }
}

/** A form of labelled fields and a submit button that runs ``work``. */
function form(fields, action, work, attrs = {}) {
  const button = el("button", {type: "submit"}, action);
  return el(
    "form",
    {...attrs, onsubmit: (event) => (event.preventDefault(), task(work, button))},
    ...fields.map(([label, input]) => el("label", {}, el("span", {}, label), input)),
    button,
  );
}

// -- one view per recipe ---------------------------------------------------------------------
function sentiment(ui) {
  const text = el("textarea", {rows: 3}, "great superb film");
  const result = el("div", {class: "result"});
  ui.root.append(form([["Text", text]], "Classify", async () => {
    const out = await ui.run({text: text.value});
    const probs = out.probabilities;
    // class names only where the export has them as an output; else the column indexes
    const names = out.labels ?? probs.map((_, i) => `class ${i}`);
    const best = probs.indexOf(Math.max(...probs));
    result.replaceChildren(
      el("p", {class: "verdict"}, "Label: ", el("strong", {}, String(out.label ?? names[best]))),
      ...probs.map((p, i) => el(
        "div",
        {class: i === best ? "bar best" : "bar"},
        el("span", {class: "name"}, String(names[i])),
        el("span", {class: "track"}, el("span", {class: "fill", style: `width: ${100 * p}%`})),
        el("span", {class: "value"}, p.toFixed(3)),
      )),
    );
  }), result);
}

/** The attention weights as a table: a row per output token, a column per source token,
 * each cell shaded by its weight (the padding of the export's outputs dropped). */
function heatmap(sourceTokens, outputTokens, weights) {
  const source = sourceTokens.filter((t) => t !== "");
  const output = outputTokens.filter((t) => t !== "");
  // a space token drawn as ␣; the joiner that marks a word token glued to its neighbour
  // (the tokenizer's U+FFED) left out
  const shown = (t) => (t === " " ? "\u2423" : t.replaceAll("\uffed", ""));
  return el(
    "table",
    {class: "attention"},
    el("tr", {}, el("th", {}), ...source.map((t) => el("th", {scope: "col"}, shown(t)))),
    ...output.map((t, i) => el(
      "tr",
      {},
      el("th", {scope: "row"}, shown(t)),
      ...source.map((_, j) => {
        const w = weights[i][j];
        return el("td", {"data-weight": w, title: w.toFixed(3), style: `--w: ${w}`});
      }),
    )),
  );
}

function translator(ui) {
  const text = el("input", {type: "text", value: "May 3rd, 1979"});
  const width = el("input", {type: "number", name: "beam_width", min: 1, value: 4});
  const nBest = el("input", {type: "number", name: "n_best", min: 1, value: 3});
  const result = el("p", {class: "translation"});
  const best = el("ol", {class: "n-best"});
  const attention = el("div", {class: "heatmap"});
  const fields = [["Text", text], ["Beam width", width], ["N best", nBest]];
  ui.root.append(form(fields, "Translate", async () => {
    const out = await ui.run({
      text: text.value, beam_width: Number(width.value), n_best: Number(nBest.value),
    });
    result.textContent = out.translation;
    result.classList.toggle("empty", !out.translation);
    best.replaceChildren(...out.translations.map((t, i) => el(
      "li",
      {},
      el("span", {class: "text"}, t || "(empty)"),
      " ",
      el("small", {class: "score"}, out.scores[i].toFixed(4)),
    )));
    attention.replaceChildren(
      el("p", {class: "note"}, "Attention of each output token (rows) over the source (columns)"),
      heatmap(out.source_tokens, out.output_tokens, out.attention),
    );
  }, {class: "translate"}), result, best, attention);
}

/** The export's entity spans {type, start, end}, their padding (start -1) dropped. */
function entities(out) {
  return out.entity_start
    .map((start, i) => ({type: out.entity_type[i], start, end: out.entity_end[i]}))
    .filter((span) => span.start >= 0);
}

const hue = (type) => [...type].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7);

function ner(ui) {
  const sentence = el("input", {type: "text", value: "Emma Watson lives in Paris"});
  const result = el("p", {class: "entities"});
  ui.root.append(form([["Sentence", sentence]], "Tag", async () => {
    const out = await ui.run({sentence: sentence.value});
    const padding = out.tags.indexOf(""); // tokens and tags are padded with ""
    const tags = padding < 0 ? out.tags : out.tags.slice(0, padding);
    const tokens = out.tokens.slice(0, tags.length);
    const parts = [];
    let i = 0;
    for (const span of entities(out)) {
      parts.push(...tokens.slice(i, span.start).map((t) => el("span", {class: "token"}, t)));
      parts.push(el(
        "mark",
        {class: "entity", "data-type": span.type, style: `--hue: ${hue(span.type)}`},
        tokens.slice(span.start, span.end).join(" "),
        el("small", {}, span.type),
      ));
      i = span.end;
    }
    parts.push(...tokens.slice(i).map((t) => el("span", {class: "token"}, t)));
    result.replaceChildren(...parts.flatMap((part) => [part, " "]));
  }), result);
}

const loaded = {};
function loadScript(src) {
  loaded[src] ??= new Promise((resolve, reject) => document.head.append(el("script", {
    src, onload: resolve, onerror: () => reject(new Error(`Could not load ${src}.`)),
  })));
  return loaded[src];
}

/** Draws the longest beginning of ``abc`` that abcjs can (a sample may end in bad ABC):
 * [the tune drawn, the lines drawn, the lines in all]. */
function drawTune(target, abc) {
  const lines = abc.split("\n");
  for (let n = lines.length; n > 0; n--) {
    try {
      const [tune] = ABCJS.renderAbc(target, lines.slice(0, n).join("\n"), {responsive: "resize"});
      const box = target.querySelector("svg")?.getAttribute("viewBox") ?? "NaN";
      if (tune?.lines?.length && !box.includes("NaN")) return [tune, n, lines.length];
    } catch {
      // abcjs fails on the last lines: one line fewer
    }
  }
  target.replaceChildren();
  throw new Error("abcjs finds no tune it can draw in the sample.");
}

function sampler(music) {
  return (ui) => {
    const prime = el("textarea", {rows: 4, placeholder: music ? "(empty: starts from X:)" : ""});
    const length = el("input", {type: "number", min: 1, value: music ? 400 : 300});
    const temperature = el("input", {type: "range", min: 0.1, max: 2, step: 0.05, value: 0.8});
    const shown = el("output", {}, temperature.value);
    temperature.addEventListener("input", () => (shown.value = temperature.value));
    const topK = el("input", {type: "number", min: 0, value: 0, title: "0: every character"});
    const topP = el("input", {type: "number", min: 0.01, max: 1, step: 0.01, value: 1,
      title: "1: every character"});
    const seed = el("input", {type: "number", value: 1});
    const text = el("pre", {class: "sample"});
    const notation = el("div", {class: "notation"});
    const midi = el("a", {class: "midi", download: "tune.mid", hidden: ""}, "Download MIDI");
    const note = el("p", {class: "note"});
    const fields = [
      ["Prime", prime],
      ["Length", length],
      ["Temperature", el("span", {}, temperature, shown)],
      ["Top-k (0: all)", topK],
      ["Top-p (1: all)", topP],
      ["Seed", seed],
    ];
    ui.root.append(form(fields, "Sample", async () => {
      midi.hidden = true;
      notation.replaceChildren();
      note.textContent = "";
      const out = await ui.run({
        prime: prime.value,
        length: Number(length.value),
        temperature: Number(temperature.value),
        top_k: Number(topK.value),
        top_p: Number(topP.value),
        seed: Number(seed.value),
      });
      text.textContent = out.text;
      if (!music) return;
      await loadScript("/static/vendor/abcjs/abcjs-basic-min.js");
      const [tune, drawn, all] = drawTune(notation, out.text);
      if (drawn < all) {
        note.textContent = `The first ${drawn} of ${all} lines: abcjs cannot draw the rest.`;
      }
      midi.href = ABCJS.synth.getMidiFile(tune, {midiOutputType: "encoded"});
      midi.hidden = false;
    }, {class: "sampler"}), notation, note, midi, text);
  };
}

/** The waveform's envelope, the probabilities (one per 20 ms) and a mark at each detection
 * (``times`` in seconds, the end of the frame that reached the threshold). */
function drawTimeline(canvas, samples, probs, times) {
  const g = canvas.getContext("2d");
  const {width: w, height: h} = canvas;
  const pad = 20;
  const y = (p) => pad + (1 - p) * (h - 2 * pad);
  g.clearRect(0, 0, w, h);
  g.fillStyle = "#dde1e8"; // the waveform's envelope, behind
  const per = samples.length / w;
  for (let x = 0; x < w; x++) {
    let lo = 0;
    let hi = 0;
    for (let i = Math.floor(x * per); i < Math.floor((x + 1) * per); i++) {
      lo = Math.min(lo, samples[i]);
      hi = Math.max(hi, samples[i]);
    }
    g.fillRect(x, h / 2 - (hi * h) / 2, 1, Math.max(1, ((hi - lo) * h) / 2));
  }
  g.strokeStyle = "#aab";
  g.fillStyle = "#556";
  g.font = "11px sans-serif";
  for (const p of [0, 0.5, 1]) {
    g.beginPath();
    g.moveTo(0, y(p));
    g.lineTo(w, y(p));
    g.stroke();
    g.fillText(String(p), 2, y(p) - 2);
  }
  const seconds = samples.length / 16000;
  for (let s = 1; s < seconds; s++) g.fillText(`${s} s`, (s / seconds) * w, h - 4);
  g.strokeStyle = "#c0392b"; // the probabilities, one per 20 ms
  g.lineWidth = 2;
  g.beginPath();
  probs.forEach((p, i) => g.lineTo(((i + 0.5) / probs.length) * w, y(p)));
  g.stroke();
  g.strokeStyle = "#1e8449"; // the detections
  g.fillStyle = "#1e8449";
  g.lineWidth = 2;
  for (const t of times) {
    const x = (t / seconds) * w;
    g.beginPath();
    g.moveTo(x, pad / 2);
    g.lineTo(x, h - pad);
    g.stroke();
    g.fillText(`${t.toFixed(2)} s`, x + 3, pad);
  }
}

function triggerWord(ui) {
  const file = el("input", {type: "file", accept: "audio/*,.wav"});
  const record = el("button", {type: "button"}, "Record");
  const canvas = el("canvas", {width: 920, height: 220});
  const summary = el("p", {class: "summary"});
  const detections = el("ul", {class: "detections"});

  async function detect(bytes) {
    // decodeAudioData resamples to its context's rate, 16 kHz; rendering through a
    // one-channel context mixes the channels down
    const decoded = await new OfflineAudioContext(1, 1, 16000).decodeAudioData(bytes);
    const mono = new OfflineAudioContext(1, decoded.length, 16000);
    const source = mono.createBufferSource();
    source.buffer = decoded;
    source.connect(mono.destination);
    source.start();
    const samples = (await mono.startRendering()).getChannelData(0);
    // 5 decimals: finer than 16-bit audio, and a body half the size
    const waveform = Array.from(samples, (x) => Math.round(x * 1e5) / 1e5);
    const out = await ui.run({waveform});
    const probabilities = out.probabilities;
    if (!probabilities.length) throw new Error("The sound is shorter than one frame, 20 ms.");
    // the export's detections at the run's threshold, their padding (-1) dropped
    const found = out.detection_time
      .map((time, i) => ({time, score: out.detection_score[i]}))
      .filter((d) => d.time >= 0);
    drawTimeline(canvas, samples, probabilities, found.map((d) => d.time));
    const peak = Math.max(...probabilities);
    summary.textContent = `${(samples.length / 16000).toFixed(2)} s, ${probabilities.length} ` +
      `frames of 20 ms; highest probability ${peak.toFixed(3)} at ` +
      `${(probabilities.indexOf(peak) * 0.02).toFixed(2)} s`;
    detections.replaceChildren(...(found.length ? found.map((d) => el(
      "li", {"data-time": d.time}, `${d.time.toFixed(2)} s`, " ",
      el("small", {class: "score"}, `score ${d.score.toFixed(4)}`),
    )) : [el("li", {class: "none"}, "No detection at the run's threshold.")]));
  }

  let recorder = null;
  file.addEventListener("change", () => task(async () => {
    if (file.files.length) await detect(await file.files[0].arrayBuffer());
  }));
  record.addEventListener("click", () => task(async () => {
    if (recorder) return recorder.stop();
    if (!navigator.mediaDevices) throw new Error("Recording needs the page on https or localhost.");
    const stream = await navigator.mediaDevices.getUserMedia({audio: true});
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (event) => chunks.push(event.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((track) => track.stop());
      recorder = null;
      record.textContent = "Record";
      task(async () => detect(await new Blob(chunks).arrayBuffer()));
    };
    recorder.start();
    record.textContent = "Stop";
  }));
  ui.root.append(
    el("div", {class: "audio"}, el("label", {}, "A sound file: ", file), " or ", record),
    canvas,
    summary,
    detections,
  );
}

function generic(ui) {
  const inputs = Object.entries(ui.signature.inputs).sort(([a], [b]) => (a < b ? -1 : 1));
  const fields = inputs.map(([name, spec]) => {
    const shape = dims(spec);
    const perInstance = shape && (batched(spec) ? shape.slice(1) : shape);
    const plain = spec.dtype === "DT_STRING" && perInstance?.length === 0; // typed as is
    const input = el("textarea", {rows: 1, name, "data-plain": plain});
    const about = `${spec.dtype.replace("DT_", "").toLowerCase()} ${
      shape ? `[${shape.join(", ")}]` : "of any shape"}: ${
      batched(spec) ? "one instance, " : ""}${plain ? "text" : "JSON"}`;
    return [el("span", {}, name, " ", el("small", {}, about)), input];
  });
  const result = el("pre", {class: "json"});
  ui.root.append(form(fields, "Predict", async () => {
    const values = {};
    for (const [, input] of fields) {
      try {
        values[input.name] = input.dataset.plain === "true" ? input.value : JSON.parse(input.value);
      } catch (err) {
        throw new Error(`Input ${input.name}: not JSON (${err.message}).`);
      }
    }
    result.textContent = JSON.stringify(await ui.run(values), null, 2);
  }), result);
}

// a recipe's view: the signature it runs and that signature's inputs
const VIEWS = {
  sentiment: ["serving_default", ["text"], sentiment],
  translator: ["translate", ["beam_width", "n_best", "text"], translator],
  ner: ["serving_default", ["sentence"], ner],
  char_text: ["serving_default", ["length", "prime", "seed", "temperature", "top_k", "top_p"],
    sampler(false)],
  char_music: ["serving_default", ["length", "prime", "seed", "temperature", "top_k", "top_p"],
    sampler(true)],
  trigger_word: ["serving_default", ["waveform"], triggerWord],
};

// -- the pages -------------------------------------------------------------------------------
async function indexPage() {
  const {models} = await api("/v1/models");
  $("#models tbody").replaceChildren(...models.map((m) => el(
    "tr",
    {},
    el("td", {}, el("a", {href: `/models/${encodeURIComponent(m.name)}`}, m.name)),
    el("td", {}, m.recipe ?? "(none recorded)"),
    el("td", {}, String(m.version)),
    el("td", {}, m.signatures.join(", ")),
  )));
}

async function modelPage() {
  const name = decodeURIComponent(location.pathname.split("/").pop());
  document.title = `${name} · rnn-apps serve`;
  $("#title").textContent = name;
  const meta = await api(`/v1/models/${encodeURIComponent(name)}/metadata`);
  const defs = meta.metadata.signature_def.signature_def;
  const recipe = meta.rnn_apps?.recipe ?? null;
  const [wanted, inputs, view] = VIEWS[recipe] ?? ["serving_default", null, generic];
  const key = [wanted, "serving_default"].find((k) => k in defs) ?? Object.keys(defs)[0];
  const signature = defs[key];
  const fits = !inputs || inputs.join() === Object.keys(signature.inputs).sort().join();
  $("#about").textContent = `Version ${meta.model_spec.version}, ${
    recipe ? `recipe ${recipe}` : "no recipe recorded"}, signature ${key}${
    fits ? "" : " (not the recipe's inputs: a generic form)"}.`;
  $("#signature pre").textContent = JSON.stringify(signature, null, 2);
  const ui = {
    root: $("#app"),
    signature,
    run: (values) => predictOne(name, key, signature, values),
  };
  (fits ? view : generic)(ui);
}

(document.body.dataset.page === "index" ? indexPage : modelPage)().catch((err) =>
  showError(err.message));
