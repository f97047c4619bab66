// Small DOM helpers shared by the views.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escape(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function ago(ms) {
  if (!ms) return "never";
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

export function clock(ms) {
  if (!Number.isFinite(ms)) return "–";
  return new Date(ms).toISOString().slice(11, 19);
}

/** Set a table body's rows from HTML strings only when they changed. */
export function setRows(tbody, html) {
  if (tbody.renderedHtml !== html) {
    tbody.innerHTML = html;
    tbody.renderedHtml = html;
  }
}
