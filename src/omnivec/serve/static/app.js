// The omnivec demo page: reads /info, sends the chosen input to every task the run has, shows the answers,
// draws grounding boxes on the image and lists the index's nearest neighbours. Plain browser JavaScript,
// nothing loaded from outside this server.
"use strict";

const $ = (id) => document.getElementById(id);
let INFO = null;
let recorded = null; // a File made from the microphone (WAV), used instead of the file input when set
let image = null; // the previewed image, for drawing grounding boxes over it

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "muted";
}

async function loadInfo() {
  const r = await fetch("/info");
  INFO = await r.json();
  $("run").textContent = `run ${INFO.run} · ${INFO.family} family · ${INFO.device}`;
  document.title = `omnivec demo: ${INFO.run}`;
  const tasks = INFO.tasks.map((t) => `${t.name} [${t.kind}, ${t.modality}]`).join(", ");
  $("summary").textContent = `modalities: ${Object.keys(INFO.modalities).join(", ")} · tasks: ${tasks}`;
  const ix = INFO.index;
  $("index-info").textContent = ix
    ? `${ix.size} ${ix.modality} items in space ${ix.space}; query with ${ix.query_modalities.join(" or ")}`
    : "no index (start the server with --index INDEX)";
  const exts = Object.values(INFO.modalities).flat();
  $("file").setAttribute("accept", exts.join(","));
}

function modalityOf(name) {
  const dot = name.lastIndexOf(".");
  const ext = dot >= 0 ? name.slice(dot).toLowerCase() : "";
  for (const [m, exts] of Object.entries(INFO.modalities)) if (exts.includes(ext)) return m;
  return null;
}

function form(file, fields) {
  const fd = new FormData();
  if (file) fd.append("file", file, file.name);
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== null) fd.append(k, v);
  return fd;
}

async function post(url, body) {
  const r = await fetch(url, { method: "POST", body });
  const j = await r.json();
  if (!r.ok) throw new Error(j.error || `HTTP ${r.status}`);
  return j;
}

function addRow(task, text, isError) {
  const tr = document.createElement("tr");
  const th = document.createElement("th");
  const td = document.createElement("td");
  th.textContent = task;
  td.textContent = text;
  if (isError) td.className = "error";
  tr.append(th, td);
  $("predictions").tBodies[0].append(tr);
}

function describe(kind, p) {
  if (kind === "segmentation" && Array.isArray(p)) {
    const counts = {};
    for (const row of p) for (const c of row) counts[c] = (counts[c] || 0) + 1;
    const n = p.length * (p[0] || []).length;
    const top = Object.entries(counts).sort((a, b) => b[1] - a[1]).slice(0, 4);
    return `class map ${p.length}x${(p[0] || []).length}: ` + top.map(([c, k]) => `${c} ${Math.round((100 * k) / n)}%`).join(", ");
  }
  if (Array.isArray(p)) return `vector of ${p.length} numbers`;
  return String(p);
}

async function preview(file, modality) {
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  image = null;
  $("player").hidden = true;
  canvas.hidden = true;
  if (!file) return;
  if (modality === "image") {
    const img = new Image();
    img.src = URL.createObjectURL(file);
    await img.decode();
    const scale = Math.max(1, Math.floor(160 / Math.max(img.naturalWidth, img.naturalHeight)));
    canvas.width = img.naturalWidth * scale;
    canvas.height = img.naturalHeight * scale;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    canvas.hidden = false;
    image = { img, scale };
  } else if (modality === "audio") {
    $("player").src = URL.createObjectURL(file);
    $("player").hidden = false;
  }
}

function drawBox(box, label) {
  if (!image || !box) return;
  const ctx = $("canvas").getContext("2d");
  const s = image.scale;
  ctx.strokeStyle = "#e6194b";
  ctx.lineWidth = 2;
  ctx.strokeRect(box[0] * s, box[1] * s, (box[2] - box[0]) * s, (box[3] - box[1]) * s);
  ctx.fillStyle = "#e6194b";
  ctx.font = "12px sans-serif";
  ctx.fillText(label, box[0] * s + 2, Math.max(12, box[1] * s - 2));
}

function showHits(hits) {
  const box = $("neighbours");
  box.textContent = "";
  for (const h of hits) {
    const div = document.createElement("div");
    div.className = "hit";
    if (h.thumbnail) {
      const img = document.createElement("img");
      img.src = h.thumbnail;
      img.alt = h.id;
      div.append(img);
    }
    const caption = document.createElement("div");
    caption.textContent = `#${h.rank} ${h.label || h.id} (${h.score.toFixed(2)})`;
    div.append(caption);
    box.append(div);
  }
}

function jobsFor(file, modality, text) {
  const jobs = [];
  const input = modality === "text" ? { text } : {};
  for (const t of INFO.tasks) {
    if (INFO.family === "omnivec") {
      if (t.modality !== modality) continue;
      if (t.kind === "retrieval") {
        addRow(t.name, `retrieval (${t.modality} <-> ${t.pair_modality}): see the neighbours below`);
        continue;
      }
      jobs.push(post(`/predict/${t.name}`, form(file, input)).then((r) => addRow(t.name, describe(r.kind, r.prediction))));
    } else {
      if (t.modality !== modality) continue;
      if (t.asks && !text) {
        addRow(t.name, `type the ${t.asks} in the Text field to ask this task`);
        continue;
      }
      const fields = { task: t.name, text: modality === "text" ? text : t.asks ? text : null };
      jobs.push(
        post("/generate", form(file, fields)).then((r) => {
          const where = r.box ? ` -> box [${r.box.map((v) => v.toFixed(0)).join(", ")}] px` : "";
          addRow(t.name, `${r.output}${where}`);
          if (r.box) drawBox(r.box, t.asks ? text : t.name);
        }),
      );
    }
  }
  const ix = INFO.index;
  if (ix && ix.query_modalities.includes(modality)) {
    jobs.push(post("/search", form(file, { ...input, k: 10 })).then((r) => showHits(r.hits)));
  }
  return jobs.map((j, i) => j.catch((e) => addRow(`request ${i + 1}`, e.message, true)));
}

async function run() {
  const file = recorded || $("file").files[0] || null;
  const text = $("text").value.trim();
  if (!file && !text) return setStatus("choose a file, record, or type a text first", true);
  const modality = file ? modalityOf(file.name) : "text";
  if (!modality) return setStatus(`this run cannot read ${file.name} (it reads ${Object.keys(INFO.modalities).join(", ")})`, true);
  setStatus(`running on ${file ? file.name : "the text"} (${modality}) ...`);
  $("predictions").tBodies[0].textContent = "";
  $("neighbours").textContent = "";
  await preview(file, modality);
  await Promise.all(jobsFor(file, modality, text));
  setStatus(`done: ${file ? file.name : "text"} (${modality})`);
}

// Recording: raw PCM from the microphone through Web Audio, written as a 16-bit WAV (which the server's
// readers decode; MediaRecorder's webm/opus they would not).
let rec = null;
async function toggleRecord() {
  if (rec) {
    rec.proc.disconnect();
    rec.stream.getTracks().forEach((t) => t.stop());
    const wav = encodeWav(rec.chunks, rec.ctx.sampleRate);
    await rec.ctx.close();
    rec = null;
    recorded = new File([wav], "recording.wav", { type: "audio/wav" });
    $("record").textContent = "Record audio";
    setStatus("recorded: press Run (choose a file to use it instead)");
    return;
  }
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const ctx = new AudioContext();
  const src = ctx.createMediaStreamSource(stream);
  const proc = ctx.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  proc.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
  src.connect(proc);
  proc.connect(ctx.destination);
  rec = { stream, ctx, proc, chunks };
  $("record").textContent = "Stop recording";
  setStatus("recording ...");
}

function encodeWav(chunks, rate) {
  const n = chunks.reduce((a, c) => a + c.length, 0);
  const buf = new ArrayBuffer(44 + 2 * n);
  const v = new DataView(buf);
  const str = (o, s) => [...s].forEach((ch, i) => v.setUint8(o + i, ch.charCodeAt(0)));
  str(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); str(8, "WAVE"); str(12, "fmt ");
  v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, rate, true); v.setUint32(28, 2 * rate, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  str(36, "data"); v.setUint32(40, 2 * n, true);
  let o = 44;
  for (const c of chunks) for (const x of c) { v.setInt16(o, Math.max(-1, Math.min(1, x)) * 0x7fff, true); o += 2; }
  return new Blob([buf], { type: "audio/wav" });
}

$("run-button").addEventListener("click", () => run().catch((e) => setStatus(e.message, true)));
$("record").addEventListener("click", () => toggleRecord().catch((e) => setStatus(`recording failed: ${e.message}`, true)));
$("file").addEventListener("change", () => { recorded = null; });
loadInfo().catch((e) => setStatus(`could not read /info: ${e.message}`, true));
