// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // The create form's totals come from the server (the same computation that builds the invoice), never from
  // arithmetic here: as the form changes the page posts it to /invoices/preview (debounced) and shows the answer.
  function previewer(form) {
    let timer = null, asked = 0;
    const notes = form.querySelector("#preview-notes");
    const set = (id, text) => { const el = form.querySelector(id); if (el) el.textContent = text; };
    const list = (cls, items) => {
      if (!items.length) return null;
      const ul = document.createElement("ul");
      ul.className = cls;
      items.forEach((t) => { const li = document.createElement("li"); li.textContent = t; ul.appendChild(li); });
      return ul;
    };
    async function ask() {
      const mine = ++asked;
      let body;
      try {
        const r = await fetch(form.dataset.previewUrl, { method: "POST", body: new FormData(form), headers: { Accept: "application/json" } });
        body = await r.json();
      } catch (e) { return; /* offline for a moment: the next edit asks again */ }
      if (mine !== asked) return; // a newer edit's answer is on its way
      const lines = form.querySelectorAll("tr.line");
      let n = 0;
      lines.forEach((tr) => {
        const filled = ["description", "item_code", "unit_amount"].some((f) => { const el = tr.querySelector('[name$="-' + f + '"]'); return el && el.value.trim(); });
        const cell = tr.querySelector(".line-amount");
        if (!filled || !body.totals) { cell.textContent = ""; return; }
        const line = body.lines[n++];
        cell.textContent = line ? line.display : "";
      });
      set("#t-subtotal", body.display ? body.display.subtotal : "—");
      set("#t-tax", body.display ? body.display.tax : "—");
      set("#t-total", body.display ? body.display.total : "—");
      if (body.currency) set("#t-currency", body.currency);
      if (notes) {
        notes.replaceChildren(...[list("error-text", body.errors || []), list("error-text", body.problems || []),
                                  list("muted", body.warnings || [])].filter(Boolean));
      }
    }
    return () => { clearTimeout(timer); timer = setTimeout(ask, 300); };
  }

  function wireLine(form, tr, changed) {
    const pick = tr.querySelector(".item-pick");
    pick.addEventListener("change", () => {
      const o = pick.selectedOptions[0];
      if (!o || !o.value) return;
      const set = (sel, v) => { const el = tr.querySelector(sel); if (el && v !== undefined && v !== "") el.value = v; };
      set('[name$="-description"]', o.dataset.description);
      set('[name$="-unit_amount"]', o.dataset.price);
      set('[name$="-account_code"]', o.dataset.account);
      set('[name$="-tax_type"]', o.dataset.tax);
      if (!tr.querySelector('[name$="-quantity"]').value) tr.querySelector('[name$="-quantity"]').value = "1";
      changed();
    });
  }

  const form = document.getElementById("invoice-form");
  if (form && form.dataset.previewUrl) {
    const changed = previewer(form);
    form.querySelectorAll("tr.line").forEach((tr) => wireLine(form, tr, changed));
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    document.getElementById("add-line").addEventListener("click", () => {
      const rows = form.querySelectorAll("tr.line");
      const last = rows[rows.length - 1];
      const copy = last.cloneNode(true);
      const index = rows.length;
      copy.querySelectorAll("[name]").forEach((el) => { el.name = el.name.replace(/^line-\d+-/, "line-" + index + "-"); if (el.tagName === "INPUT") el.value = ""; else el.selectedIndex = 0; });
      copy.querySelector(".line-amount").textContent = "";
      last.after(copy);
      wireLine(form, copy, changed);
    });
  }

  document.querySelectorAll("[data-copy]").forEach((btn) => btn.addEventListener("click", async () => {
    const input = document.querySelector(btn.dataset.copy);
    try { await navigator.clipboard.writeText(input.value); } catch (e) { input.select(); document.execCommand("copy"); }
    btn.textContent = btn.dataset.copied || "✓";
  }));

  // The deal page follows status changes (webhooks, sync) without a manual reload: the server says when the
  // deal's version changes (server-sent events; a browser without EventSource asks every 3 s instead) and the
  // page swaps in its live part (invoices, their timelines, failures), keeping open sections open.
  const head = document.querySelector("[data-version-url]");
  let swapping = false, again = false;
  async function refresh() {
    const live = document.getElementById("deal-live");
    if (!live || !head.dataset.liveUrl) { location.reload(); return; }
    if (swapping) { again = true; return; }
    swapping = true;
    try {
      const r = await fetch(head.dataset.liveUrl, { headers: { Accept: "text/html" } });
      if (!r.ok) throw new Error("status " + r.status);
      const box = document.createElement("div");
      box.innerHTML = await r.text();  // our own server's fragment (escaped by its templates)
      const fresh = box.querySelector("#deal-live");
      if (!fresh) throw new Error("no live part");
      const was = new Map([...live.querySelectorAll("details[id]")].map((d) => [d.id, d.open]));
      fresh.querySelectorAll("details[id]").forEach((d) => { if (was.has(d.id)) d.open = was.get(d.id); });
      live.replaceWith(fresh);
      stackTables(fresh);
      head.dataset.version = fresh.dataset.version;
    } catch (e) { location.reload(); return; }
    swapping = false;
    if (again) { again = false; refresh(); }
  }
  if (head && window.EventSource && head.dataset.eventsUrl) {
    let events = null;
    const listen = () => {
      events = new EventSource(head.dataset.eventsUrl);
      events.addEventListener("version", (e) => { if (e.data !== head.dataset.version) refresh(); });
      // a stream ends after a while (so a server can stop): the next one opens at once, and its first
      // event says whether anything changed in between
      events.addEventListener("bye", () => { events.close(); listen(); });
    };
    listen();
    window.addEventListener("pagehide", () => events.close());
  } else if (head) {
    setInterval(async () => {
      try {
        const r = await fetch(head.dataset.versionUrl, { headers: { Accept: "application/json" } });
        if (!r.ok) return;
        const { version } = await r.json();
        if (version !== head.dataset.version) refresh();
      } catch (e) { /* offline for a moment */ }
    }, 3000);
  }
})();

// The deal's products, when the page left them unread (reading them costs the CRM another call): fetched the
// first time their section is opened. Without JavaScript the link inside loads the page with them.
document.querySelectorAll("details[data-products-url]").forEach((box) => box.addEventListener("toggle", async () => {
  if (!box.open || box.dataset.loaded) return;
  box.dataset.loaded = "loading";
  const body = box.querySelector(".deal-products-body");
  try {
    const r = await fetch(box.dataset.productsUrl, { headers: { Accept: "text/html" } });
    body.innerHTML = await r.text();  // our own server's fragment (escaped by its templates)
    stackTables(body);
    box.dataset.loaded = r.ok ? "yes" : "";
  } catch (e) { box.dataset.loaded = ""; }
}));

// A running bulk job: follow its progress, reload when it finishes.
(function () {
  const box = document.getElementById("bulk-progress");
  if (!box || box.dataset.state !== "running") return;
  const timer = setInterval(async () => {
    try {
      const r = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (!r.ok) return;
      const job = await r.json();
      box.querySelector("progress").max = job.total || 1;
      box.querySelector("progress").value = job.done;
      const count = document.getElementById("bulk-count"), n = new Intl.NumberFormat(document.documentElement.lang || undefined);
      count.textContent = (count.dataset.template || "{done} / {total}").replace("{done}", n.format(job.done)).replace("{total}", n.format(job.total));
      if (job.state !== "running") { clearInterval(timer); location.reload(); }
    } catch (e) { /* try again next tick */ }
  }, 1000);
})();

// Every form's submit, in one delegated handler (so parts swapped in later need no wiring): confirmations live
// here, not in inline handlers (the Content-Security-Policy forbids those), and a form that changes something is
// sent once: a second click (a double click) while the next page loads is not taken, and its buttons show it.
document.addEventListener("submit", (e) => {
  const f = e.target;
  if (!(f instanceof HTMLFormElement) || (f.getAttribute("method") || "").toLowerCase() !== "post") return;
  if (f.dataset.sent) { e.preventDefault(); return; }
  if (f.dataset.confirm && !window.confirm(f.dataset.confirm)) { e.preventDefault(); return; }
  f.dataset.sent = "1";
  // after the browser has taken the pressed button's name and value into the submission
  setTimeout(() => f.querySelectorAll("button, input[type=submit]").forEach((b) => { b.disabled = true; }), 0);
});
window.addEventListener("pageshow", (e) => {  // back to a page kept by the browser: its forms work again
  if (!e.persisted) return;
  document.querySelectorAll("form[data-sent]").forEach((f) => {
    delete f.dataset.sent;
    f.querySelectorAll("button, input[type=submit]").forEach((b) => { b.disabled = false; });
  });
});

// On narrow screens the line editor's rows become cards: each cell shows its column's name (from the table
// head, so it follows the page's language and any column added later). Also run on parts swapped in later.
function stackTables(root) {
  root.querySelectorAll("table.lines, table[data-stack]").forEach((table) => {
    const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    const label = () => table.querySelectorAll("tbody tr").forEach((tr) =>
      [...tr.children].forEach((td, i) => {
        if (names[i] && !td.dataset.label) td.dataset.label = names[i];
        if (!td.textContent.trim() && !td.querySelector("input, select, button")) td.dataset.empty = "";
      }));
    label();
    if (table.tBodies[0]) new MutationObserver(label).observe(table.tBodies[0], { childList: true });
  });
}
stackTables(document);
