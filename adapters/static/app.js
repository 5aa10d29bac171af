// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  const num = (v) => { const n = parseFloat(String(v || "").replace(/,/g, "")); return isFinite(n) ? n : 0; };
  const round2 = (n) => Math.round((n + Number.EPSILON) * 100) / 100;
  const fmt = (n) => n.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function recompute(form) {
    const handling = form.querySelector("#tax-handling").value;
    let amounts = 0, tax = 0;
    form.querySelectorAll("tr.line").forEach((tr) => {
      const q = num(tr.querySelector('[name$="-quantity"]').value);
      const p = num(tr.querySelector('[name$="-unit_amount"]').value);
      const d = num(tr.querySelector('[name$="-discount_rate"]').value);
      const opt = tr.querySelector(".tax-pick").selectedOptions[0];
      const rate = opt ? num(opt.dataset.rate) : 0;
      const amount = round2(q * p * (100 - d) / 100);
      let t = 0;
      if (handling === "Exclusive") t = round2(amount * rate / 100);
      else if (handling === "Inclusive") t = round2(amount - amount * 100 / (100 + rate));
      tr.querySelector(".line-amount").textContent = amount ? fmt(amount) : "";
      amounts += amount; tax += t;
    });
    const subtotal = handling === "Inclusive" ? amounts - tax : amounts;
    form.querySelector("#t-subtotal").textContent = fmt(subtotal);
    form.querySelector("#t-tax").textContent = fmt(tax);
    form.querySelector("#t-total").textContent = fmt(subtotal + tax);
  }

  function wireLine(form, tr) {
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
      recompute(form);
    });
  }

  const form = document.getElementById("invoice-form");
  if (form) {
    form.querySelectorAll("tr.line").forEach((tr) => wireLine(form, tr));
    form.addEventListener("input", () => recompute(form));
    form.addEventListener("change", () => recompute(form));
    document.getElementById("add-line").addEventListener("click", () => {
      const rows = form.querySelectorAll("tr.line");
      const last = rows[rows.length - 1];
      const copy = last.cloneNode(true);
      const index = rows.length;
      copy.querySelectorAll("[name]").forEach((el) => { el.name = el.name.replace(/^line-\d+-/, "line-" + index + "-"); if (el.tagName === "INPUT") el.value = ""; else el.selectedIndex = 0; });
      last.after(copy);
      wireLine(form, copy);
      recompute(form);
    });
    recompute(form);
  }

  document.querySelectorAll("[data-copy]").forEach((btn) => btn.addEventListener("click", async () => {
    const input = document.querySelector(btn.dataset.copy);
    try { await navigator.clipboard.writeText(input.value); } catch (e) { input.select(); document.execCommand("copy"); }
    btn.textContent = "Copied";
  }));

  // The deal page follows status changes (webhooks, sync) without a manual reload.
  const head = document.querySelector("[data-version-url]");
  if (head) {
    setInterval(async () => {
      try {
        const r = await fetch(head.dataset.versionUrl, { headers: { Accept: "application/json" } });
        if (!r.ok) return;
        const { version } = await r.json();
        if (version !== head.dataset.version) location.reload();
      } catch (e) { /* offline for a moment */ }
    }, 3000);
  }
})();

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
      document.getElementById("bulk-count").textContent = job.done + " of " + job.total;
      if (job.state !== "running") { clearInterval(timer); location.reload(); }
    } catch (e) { /* try again next tick */ }
  }, 1000);
})();

// Confirmations and the deal jump live here, not in inline handlers (the Content-Security-Policy forbids those).
document.querySelectorAll("form[data-confirm]").forEach((f) => f.addEventListener("submit", (e) => {
  if (!window.confirm(f.dataset.confirm)) e.preventDefault();
}));
document.querySelectorAll("form[data-deal-jump]").forEach((f) => f.addEventListener("submit", (e) => {
  e.preventDefault();
  location.href = "/deals/" + encodeURIComponent(f.elements.deal.value);
}));
