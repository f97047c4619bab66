// Safety: fire alarms and the chargers of their sites, grid overload and surge windows, and
// the audit trail of commands sent to chargers (by interlocks, budgets and operators).

import { $, escape, setRows } from "../dom.js";
import { parseTime } from "../model.js";

export class SafetyView {
  constructor(root, model) {
    this.root = root;
    this.model = model;
  }

  render(dirty) {
    if (!(dirty.has("all") || dirty.has("safety") || dirty.has("chargers"))) return;
    const model = this.model;
    const chargers = [...model.chargers.values()];
    const alarms = [...model.alarms.values()].sort((a, b) => Number(b.active) - Number(a.active));
    setRows($("#alarms tbody", this.root), alarms.map((a) => {
      const affected = chargers.filter((c) => c.site && c.site === a.site).map((c) => c.id);
      return `<tr data-alarm="${escape(a.rn)}" class="${a.active ? "active" : ""}">` +
        `<td>${escape(a.site)}</td><td>${escape(a.rn)}</td>` +
        `<td><span class="badge ${a.active ? "bad" : "ok"}">${a.active ? "ACTIVE" : "clear"}</span></td>` +
        `<td>${escape(a.since || "")}</td><td class="affected">${escape(affected.join(", ") || "none")}</td></tr>`;
    }).join("") || `<tr><td colspan="5">no fire alarm is registered</td></tr>`);

    const now = Date.now();
    const surges = ((model.tariff && model.tariff.surges) || []).map((s) => {
      const active = parseTime(s.start) <= now && now < parseTime(s.end);
      return `<tr class="${active ? "active" : ""}"><td>surge ×${escape(s.factor)}</td>` +
        `<td>${escape(s.start)} – ${escape(s.end)}</td><td>${active ? "in force" : ""}</td><td>all</td></tr>`;
    });
    const feeds = [...model.grid.values()].map((g) => {
      const feeder = g.con && (g.con.feeder || g.con.feederId);
      const affected = feeder ? chargers.filter((c) => c.feeder === feeder).map((c) => c.id) : [];
      return `<tr><td>${escape(g.source)}</td><td><code>${escape(JSON.stringify(g.con))}</code></td>` +
        `<td>${escape(g.ct)}</td><td>${escape(affected.join(", ") || "–")}</td></tr>`;
    });
    setRows($("#grid tbody", this.root), [...surges, ...feeds].join("") ||
      `<tr><td colspan="4">no overload or surge window</td></tr>`);

    setRows($("#audit tbody", this.root), [...model.audit].reverse().map((e) =>
      `<tr><td>${escape(e.at)}</td><td>${escape(e.cpId)}</td><td>${escape(e.action)}</td>` +
      `<td><code>${escape(JSON.stringify(e.request))}</code></td><td>${escape(e.reason || "")}</td>` +
      `<td>${escape(e.status)}</td><td>${escape(e.requestedBy || "")}</td></tr>`,
    ).join("") || `<tr><td colspan="7">no command yet</td></tr>`);
  }
}
