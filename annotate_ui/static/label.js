// The labelling screen: keyboard-first, one capture at a time, next preview prefetched.
// Every action goes through the JSON API with the session's CSRF token; actions run one after
// another (a queue of promises), so fast key presses are applied exactly in the order pressed.
"use strict";

(function () {
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const $ = (id) => document.getElementById(id);
  const preview = $("preview"), zoom = $("zoom"), canvas = $("zoom-canvas");
  const state = {
    current: null,        // the queue item on screen
    history: [],          // items labelled in this visit: {item, label}
    back: -1,             // index into history while revisiting (-1: at the queue head)
    attrs: new Set(),     // attributes toggled for the next label
    shownAt: performance.now(),
    zoomed: false, grid: null, x: 0, y: 0,
    pending: Promise.resolve(),
  };
  const attrByKey = {};
  for (const [name, key] of Object.entries(boot.attribute_keys)) attrByKey[key] = name;

  function previewUrl(id) { return "/api/captures/" + encodeURIComponent(id) + "/preview.jpg"; }

  async function api(method, url, body) {
    const opts = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const res = await fetch(url, opts);
    if (res.status === 401) { window.location = "/login?next=/label"; throw new Error("signed out"); }
    const data = res.status === 204 ? null : await res.json();
    if (!res.ok) throw new Error((data && data.detail) || res.statusText);
    return data;
  }

  function say(text, isError) {
    const s = $("status");
    s.textContent = text;
    s.className = "status" + (isError ? " error" : "");
  }

  function fmtExposure(v) {
    if (v === null || v === undefined) return "–";
    return (v > 0 && v < 0.5) ? "1/" + Math.round(1 / v) + " s" : v + " s";
  }

  function showExif(exif) {
    const e = exif || {};
    const text = {
      exposure_time: fmtExposure(e.exposure_time),
      f_number: e.f_number == null ? "–" : "f/" + e.f_number,
      iso: e.iso == null ? "–" : String(e.iso),
      focal_length: e.focal_length == null ? "–" : e.focal_length + " mm",
      camera: [e.make, e.model].filter(Boolean).join(" ") || "–",
      lens: e.lens || "–",
      capture_time: e.capture_time || "–",
    };
    for (const td of document.querySelectorAll("#exif td[data-exif]")) td.textContent = text[td.dataset.exif];
  }

  function showAttrs() {
    for (const li of document.querySelectorAll("#attributes li"))
      li.classList.toggle("on", state.attrs.has(li.dataset.attribute));
  }

  function showMine(label) {
    for (const li of document.querySelectorAll("#labels li"))
      li.classList.toggle("on", !!label && li.dataset.label === label.rain_type);
    $("mine").textContent = label ? "your label: " + label.rain_type +
      (label.attributes.length ? " (" + label.attributes.join(", ") + ")" : "") : "";
  }

  // the suggested rain type of an item, when the taxonomy knows it (else none is shown)
  function suggestionOf(item) {
    const s = item && item.suggestion;
    return s && boot.taxonomy.includes(s.rain_type) ? s : null;
  }

  // a suggestion the server calls sure (confidence at least the unsure threshold) is pre-selected;
  // an unsure one is shown as a guess only: nothing outlined, Enter does nothing
  function preselected(item) {
    const s = suggestionOf(item);
    return s && s.sure !== false ? s : null;
  }

  function showSuggestion(item) {
    const s = suggestionOf(item);
    const sure = preselected(item);
    $("suggestion").hidden = !s;
    $("suggestion").classList.toggle("unsure", !!s && !sure);
    $("suggestion-lead").textContent = sure ? "suggested:" : "unsure guess:";
    $("suggestion-enter").hidden = !sure;
    $("suggestion-type").textContent = s ? s.rain_type : "";
    $("suggestion-confidence").textContent = s ? String(Math.round(s.confidence * 100)) : "";
    for (const li of document.querySelectorAll("#labels li"))
      li.classList.toggle("suggested", !!sure && li.dataset.label === sure.rain_type);
  }

  // the queue order chosen on this page (the server also remembers it for the session)
  function withOrder(url) {
    if (!boot.order || boot.order === "default") return url;
    return url + (url.includes("?") ? "&" : "?") + "order=" + encodeURIComponent(boot.order);
  }

  function setProgress(done, total) {
    $("done").textContent = done;
    $("total").textContent = total;
  }

  async function showFiles(id) {
    try {
      const detail = await api("GET", "/api/captures/" + encodeURIComponent(id));
      const ul = $("files");
      ul.replaceChildren(...detail.capture.files.map((n) => { const li = document.createElement("li"); li.textContent = n; return li; }));
    } catch (err) { /* file names are a courtesy; labelling goes on */ }
  }

  function display(item, label) {
    if (state.zoomed) closeZoom();
    state.current = item;
    $("empty").hidden = !!item;
    preview.hidden = !item;
    showSuggestion(item);
    if (!item) { $("capture-id").textContent = "–"; $("dims").textContent = ""; showMine(null); return; }
    preview.src = previewUrl(item.capture_id);
    preview.dataset.captureId = item.capture_id;
    $("capture-id").textContent = item.capture_id;
    $("dims").textContent = item.width + " × " + item.height + " " + item.format;
    showExif(item.exif);
    showMine(label || null);
    state.attrs = new Set(label ? label.attributes : []);
    showAttrs();
    state.shownAt = performance.now();
    showFiles(item.capture_id);
  }

  async function prefetch(after) {
    try {
      const next = await api("GET", withOrder("/api/queue/peek?after=" + encodeURIComponent(after)));
      if (next) { const img = new Image(); img.src = previewUrl(next.capture_id); }
    } catch (err) { /* prefetching is best effort */ }
  }

  async function loadNext() {
    const data = await api("POST", withOrder("/api/queue/next"));
    setProgress(data.done, data.total);
    state.back = -1;
    display(data.item, null);
    if (data.item) prefetch(data.item.capture_id);
  }

  async function label(index) {
    const rainType = boot.taxonomy[index];
    const item = state.current;
    if (!item || rainType === undefined) return;
    const duration = Math.max(0, Math.round(performance.now() - state.shownAt));
    const shown = suggestionOf(item);
    const rec = await api("POST", "/api/labels", {
      capture_id: item.capture_id, rain_type: rainType, attributes: [...state.attrs], duration_ms: duration,
      suggestion: shown ? shown.rain_type : null,
    });
    say("labelled " + item.capture_id + ": " + rec.rain_type + (rec.attributes.length ? " (" + rec.attributes.join(", ") + ")" : ""));
    if (state.back >= 0) {
      state.history[state.back].label = rec;
      await forward();
    } else {
      state.history.push({ item, label: rec });
      await loadNext();
    }
  }

  // Enter: label the capture with its suggestion, exactly as pressing that rain type's key would;
  // an unsure suggestion is never accepted by Enter
  async function acceptSuggestion() {
    const s = preselected(state.current);
    if (!state.current) return;
    const guess = suggestionOf(state.current);
    if (!s && guess) {
      say("the suggestion is unsure (" + Math.round(guess.confidence * 100) + " %): choose a rain type with a number key");
      return;
    }
    if (!s) { say("no suggestion for this capture: choose a rain type with a number key"); return; }
    await label(boot.taxonomy.indexOf(s.rain_type));
  }

  async function undo() {
    const data = await api("POST", "/api/labels/undo");
    if (!data.capture_id) { say("nothing to undo"); return; }
    state.history = state.history.filter((h) => h.item.capture_id !== data.capture_id);
    say("undid your label of " + data.capture_id);
    await loadNext();
  }

  async function backward() {
    const at = state.back < 0 ? state.history.length : state.back;
    if (at === 0) { say("no earlier capture in this visit"); return; }
    if (state.back < 0) state.head = state.current;
    state.back = at - 1;
    const h = state.history[state.back];
    display(h.item, h.label);
  }

  async function forward() {
    if (state.back < 0) { say("label this capture to move on"); return; }
    state.back += 1;
    if (state.back >= state.history.length) {
      state.back = -1;
      if (state.head) { display(state.head, null); } else { await loadNext(); }
      return;
    }
    const h = state.history[state.back];
    display(h.item, h.label);
  }

  // ---- 100 % view: tiles of the full-resolution decode, loaded as they come into view ----
  function placeTiles() {
    const g = state.grid, w = zoom.clientWidth, h = zoom.clientHeight;
    state.x = Math.max(0, Math.min(state.x, Math.max(0, g.width - w)));
    state.y = Math.max(0, Math.min(state.y, Math.max(0, g.height - h)));
    canvas.style.transform = "translate(" + (-state.x) + "px," + (-state.y) + "px)";
    const t = g.tile_size;
    const c0 = Math.floor(state.x / t), c1 = Math.min(g.cols - 1, Math.floor((state.x + w) / t));
    const r0 = Math.floor(state.y / t), r1 = Math.min(g.rows - 1, Math.floor((state.y + h) / t));
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const key = c + "_" + r;
        if (canvas.querySelector('[data-tile="' + key + '"]')) continue;
        const img = document.createElement("img");
        img.dataset.tile = key;
        img.className = "tile";
        img.style.left = c * t + "px";
        img.style.top = r * t + "px";
        img.alt = "";
        img.src = "/api/captures/" + encodeURIComponent(g.capture_id) + "/tiles/" + c + "/" + r + ".jpg";
        canvas.appendChild(img);
      }
    }
  }

  async function openZoom(fx, fy) {
    const item = state.current;
    if (!item) return;
    say("opening the 100 % view…");
    const g = await api("GET", "/api/captures/" + encodeURIComponent(item.capture_id) + "/zoom");
    if (state.current !== item) return;
    state.grid = g;
    canvas.replaceChildren();
    canvas.style.width = g.width + "px";
    canvas.style.height = g.height + "px";
    zoom.hidden = false;
    preview.hidden = true;
    state.zoomed = true;
    state.x = fx * g.width - zoom.clientWidth / 2;
    state.y = fy * g.height - zoom.clientHeight / 2;
    placeTiles();
    say("100 % view: drag or use the arrow keys to pan, z to leave");
  }

  function closeZoom() {
    state.zoomed = false;
    zoom.hidden = true;
    preview.hidden = !state.current;
    canvas.replaceChildren();
  }

  function toggleZoom(fx, fy) {
    if (state.zoomed) { closeZoom(); say(""); return Promise.resolve(); }
    return openZoom(fx === undefined ? 0.5 : fx, fy === undefined ? 0.5 : fy);
  }

  let drag = null;
  zoom.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY }; zoom.setPointerCapture(e.pointerId); });
  zoom.addEventListener("pointermove", (e) => {
    if (!drag) return;
    state.x -= e.clientX - drag.x; state.y -= e.clientY - drag.y;
    drag = { x: e.clientX, y: e.clientY };
    placeTiles();
  });
  zoom.addEventListener("pointerup", () => { drag = null; });
  preview.addEventListener("click", (e) => {
    const r = preview.getBoundingClientRect();
    // the image is fitted with object-fit: contain; find the point in image coordinates
    const scale = Math.min(r.width / preview.naturalWidth, r.height / preview.naturalHeight);
    const ox = (r.width - preview.naturalWidth * scale) / 2, oy = (r.height - preview.naturalHeight * scale) / 2;
    const fx = Math.min(1, Math.max(0, (e.clientX - r.left - ox) / (preview.naturalWidth * scale)));
    const fy = Math.min(1, Math.max(0, (e.clientY - r.top - oy) / (preview.naturalHeight * scale)));
    enqueue(() => toggleZoom(fx, fy));
  });

  function toggleHelp(show) {
    const help = $("help");
    help.hidden = show === undefined ? !help.hidden : !show;
  }
  $("help-button").addEventListener("click", () => toggleHelp());
  $("help").addEventListener("click", () => toggleHelp(false));
  $("order").addEventListener("change", () => $("order-form").submit());

  function enqueue(action) {
    state.pending = state.pending.then(action).catch((err) => say(err.message, true));
    return state.pending;
  }

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target && e.target.tagName === "SELECT") return;  // the queue-order menu keeps its keys
    const k = e.key;
    if (k === "?") { toggleHelp(); e.preventDefault(); return; }
    if (k === "Escape") { toggleHelp(false); if (state.zoomed) enqueue(async () => closeZoom()); return; }
    if (state.zoomed && k.startsWith("Arrow")) {
      const step = 200;
      enqueue(async () => {
        if (k === "ArrowLeft") state.x -= step;
        if (k === "ArrowRight") state.x += step;
        if (k === "ArrowUp") state.y -= step;
        if (k === "ArrowDown") state.y += step;
        placeTiles();
      });
      e.preventDefault();
      return;
    }
    if (/^[1-9]$/.test(k) && Number(k) <= boot.taxonomy.length) { enqueue(() => label(Number(k) - 1)); e.preventDefault(); return; }
    if (k === "Enter") { enqueue(acceptSuggestion); e.preventDefault(); return; }
    if (k === "u") { enqueue(undo); return; }
    if (k === "z") { enqueue(() => toggleZoom()); return; }
    if (k === "ArrowLeft") { enqueue(backward); e.preventDefault(); return; }
    if (k === "ArrowRight") { enqueue(forward); e.preventDefault(); return; }
    const attr = attrByKey[k.toLowerCase()];
    if (attr) {
      enqueue(async () => {
        if (state.attrs.has(attr)) state.attrs.delete(attr); else state.attrs.add(attr);
        showAttrs();
      });
    }
  });

  window.rainsetLabel = { state, idle: () => state.pending };
  enqueue(loadNext);
})();
