// The qwenvl chat page: multi-turn chat with images over the server's own OpenAI-style API,
// answers streamed as server-sent events, grounding boxes drawn on the latest image.
// Model text is only ever inserted as text nodes, never as HTML.
"use strict";

const STRINGS = {
  en: { placeholder: "Ask about the image… (Enter sends, Shift+Enter for a new line)", attach: "Image",
        system: "System", temperature: "Temperature", maxTokens: "Max tokens", clear: "New chat", send: "Send",
        other: "中文", boxes: "Boxes", noImage: "(no image to draw on)", busy: "Answering…" },
  zh: { placeholder: "询问图片内容…（回车发送，Shift+回车换行）", attach: "图片", system: "系统提示",
        temperature: "温度", maxTokens: "最大长度", clear: "新对话", send: "发送", other: "English",
        boxes: "检测框", noImage: "（没有可绘制的图片）", busy: "回答中…" },
};
// matplotlib's Tableau colours, as interface/draw.py uses for the same boxes.
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];
const TAG = /<ref>(.*?)<\/ref>|<box>(.*?)<\/box>|<quad>(.*?)<\/quad>/gs;

const state = { lang: "en", model: null, messages: [], images: [], attachments: [], busy: false };
const $ = (id) => document.getElementById(id);

function t(key) { return STRINGS[state.lang][key]; }

function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
  $("lang").textContent = t("other");
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

// Assistant text with <ref> highlighted and boxes shown as short tags.
function renderAnswer(target, text) {
  target.replaceChildren();
  let last = 0;
  for (const m of text.matchAll(TAG)) {
    target.append(document.createTextNode(text.slice(last, m.index)));
    if (m[1] !== undefined) target.append(element("span", "ref", m[1]));
    else target.append(element("span", "box-tag", m[2] !== undefined ? `[${m[2]}]` : `[${m[3]}]`));
    last = m.index + m[0].length;
  }
  target.append(document.createTextNode(text.slice(last)));
}

function addMessage(role, text, images) {
  const msg = element("div", `msg ${role}`);
  for (const url of images || []) {
    const img = element("img", "thumb");
    img.src = url;
    msg.append(img);
  }
  const body = element("div", "text");
  if (role === "user") body.textContent = text; else renderAnswer(body, text);
  msg.append(body);
  $("log").append(msg);
  msg.scrollIntoView({ block: "end" });
  return msg;
}

// Draw the image with its grounding items; the canvas says how many it drew (data-boxes).
function drawGrounding(msg, grounding) {
  if (!grounding || !grounding.items.length) return;
  const figure = element("figure", "grounded");
  const list = element("ul", "boxes");
  grounding.items.forEach((item, i) => {
    const where = item.pixel_box || item.pixel_quad || item.box || item.quad;
    list.append(element("li", "", `${item.ref || "—"}: ${JSON.stringify(where)}`));
  });
  msg.append(figure);
  const url = grounding.image ? state.images[grounding.image.index] : null;
  if (!url) {
    figure.append(element("figcaption", "", t("noImage")), list);
    return;
  }
  const canvas = element("canvas");
  figure.append(canvas, element("figcaption", "", t("boxes")), list);
  const img = new Image();
  img.onload = () => {
    const scale = Math.min(1, 640 / img.naturalWidth);
    canvas.width = Math.round(img.naturalWidth * scale);
    canvas.height = Math.round(img.naturalHeight * scale);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    ctx.lineWidth = 3;
    ctx.font = '16px "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif';
    grounding.items.forEach((item, i) => {
      const colour = PALETTE[i % PALETTE.length];
      ctx.strokeStyle = colour;
      const points = item.normalized_box
        ? [[item.normalized_box[0], item.normalized_box[1]], [item.normalized_box[2], item.normalized_box[1]],
           [item.normalized_box[2], item.normalized_box[3]], [item.normalized_box[0], item.normalized_box[3]]]
        : item.normalized_quad;
      ctx.beginPath();
      points.forEach(([x, y], k) => (k ? ctx.lineTo : ctx.moveTo).call(ctx, x * canvas.width, y * canvas.height));
      ctx.closePath();
      ctx.stroke();
      if (item.ref) {
        const [x, y] = [points[0][0] * canvas.width, points[0][1] * canvas.height];
        const width = ctx.measureText(item.ref).width + 8;
        ctx.fillStyle = colour;
        ctx.fillRect(x, Math.max(0, y - 22), width, 22);
        ctx.fillStyle = "white";
        ctx.fillText(item.ref, x + 4, Math.max(16, y - 6));
      }
    });
    canvas.dataset.boxes = String(grounding.items.length);
  };
  img.src = url;
}

// POST the conversation with stream: true and hand each SSE data payload to onData.
async function streamChat(body, onData) {
  const response = await fetch("/v1/chat/completions", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!response.ok) {
    const error = await response.json().catch(() => ({}));
    throw new Error((error.error && error.error.message) || `HTTP ${response.status}`);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") return;
        const payload = JSON.parse(data);
        if (payload.error) throw new Error(payload.error.message);
        onData(payload);
      }
    }
  }
}

async function send(event) {
  event.preventDefault();
  const text = $("prompt").value.trim();
  if (state.busy || (!text && !state.attachments.length)) return;
  showError("");
  const images = state.attachments.splice(0);
  $("attachments").replaceChildren();
  $("prompt").value = "";
  const content = images.map((url) => ({ type: "image_url", image_url: { url } }));
  if (text) content.push({ type: "text", text });
  state.images.push(...images);
  state.messages.push({ role: "user", content });
  addMessage("user", text, images);

  const msg = addMessage("assistant", "");
  const body = msg.querySelector(".text");
  let answer = "";
  let grounding = null;
  state.busy = true;
  $("send").disabled = true;
  msg.dataset.done = "0";
  const system = $("system").value.trim();
  const request = {
    model: state.model, stream: true,
    messages: (system ? [{ role: "system", content: system }] : []).concat(state.messages),
    temperature: Number($("temperature").value), max_tokens: Number($("max-tokens").value),
  };
  try {
    await streamChat(request, (chunk) => {
      for (const choice of chunk.choices) {
        if (choice.delta && choice.delta.content) {
          answer += choice.delta.content;
          renderAnswer(body, answer);
        }
        if (choice.grounding) grounding = choice.grounding;
      }
    });
    state.messages.push({ role: "assistant", content: answer });
    drawGrounding(msg, grounding);
  } catch (error) {
    state.messages.pop();  // the turn failed: leave it and its images out of the history
    state.images.splice(state.images.length - images.length);
    showError(error.message);
  } finally {
    state.busy = false;
    $("send").disabled = false;
    msg.dataset.done = "1";
  }
}

function attach() {
  for (const file of $("image").files) {
    const reader = new FileReader();
    reader.onload = () => {
      state.attachments.push(reader.result);
      const img = element("img");
      img.src = reader.result;
      $("attachments").append(img);
    };
    reader.readAsDataURL(file);
  }
  $("image").value = "";
}

async function init() {
  applyLanguage();
  $("lang").addEventListener("click", () => { state.lang = state.lang === "en" ? "zh" : "en"; applyLanguage(); });
  $("composer").addEventListener("submit", send);
  $("image").addEventListener("change", attach);
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("clear").addEventListener("click", () => {
    Object.assign(state, { messages: [], images: [], attachments: [] });
    $("log").replaceChildren();
    $("attachments").replaceChildren();
    showError("");
  });
  try {
    const models = await (await fetch("/v1/models")).json();
    state.model = models.data[0].id;
    $("model").textContent = state.model;
  } catch (error) {
    showError(String(error));
  }
}

init();
