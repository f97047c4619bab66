// Chargers: site, feeder, connection, connectors, running session, last messages; filters
// by site and feeder; stop a session, set a charger (un)available.

import { $, ago, clock, escape } from "../dom.js";
import { formatWh } from "../money.js";

const QUIET_AFTER_MS = 5 * 60_000;
// Rows on the page at once: a city has thousands of chargers, a screen shows a few dozen,
// and a smaller table keeps each live update's layout cheap.
const PAGE_SIZE = 100;

export class ChargersView {
  constructor(root, model, actions, notify) {
    this.root = root;
    this.model = model;
    this.actions = actions;
    this.notify = notify;
    this.tbody = $("tbody", root);
    this.site = $("#filter-site", root);
    this.feeder = $("#filter-feeder", root);
    this.text = $("#filter-text", root);
    this.rows = new Map();
    this.listed = new Set();
    this.page = 0;
    const refilter = () => {
      this.page = 0;
      this.render(new Set(["chargers"]));
    };
    this.site.addEventListener("change", refilter);
    this.feeder.addEventListener("change", refilter);
    this.text.addEventListener("input", refilter);
    $("#page-prev", root).addEventListener("click", () => this.turn(-1));
    $("#page-next", root).addEventListener("click", () => this.turn(1));
    this.tbody.addEventListener("click", (event) => this.onClick(event));
  }

  render(dirty) {
    if (dirty.has("filters")) this.renderFilters();
    if (dirty.has("chargers") || dirty.has("all")) {
      this.renderAll();
      return;
    }
    for (const key of dirty) {
      if (!key.startsWith("charger:")) continue;
      const id = key.slice(8);
      const charger = this.model.chargers.get(id);
      const row = this.rows.get(id);
      if (charger && row) row.innerHTML = this.cells(charger);
      else if (charger && !this.listed.has(id) && this.visible(charger)) this.renderAll();
    }
    if (dirty.has("tick")) {
      for (const [id, row] of this.rows) {
        const cell = row.querySelector(".conn");
        const charger = this.model.chargers.get(id);
        if (cell && charger) cell.innerHTML = this.connection(charger);
      }
    }
  }

  renderFilters() {
    const chargers = [...this.model.chargers.values()];
    for (const [select, key] of [[this.site, "site"], [this.feeder, "feeder"]]) {
      const values = [...new Set(chargers.map((c) => c[key]).filter(Boolean))].sort();
      const current = select.value;
      select.innerHTML = `<option value="">all</option>` +
        values.map((v) => `<option${v === current ? " selected" : ""}>${escape(v)}</option>`).join("");
    }
  }

  visible(charger) {
    const text = this.text.value.trim().toLowerCase();
    return (!this.site.value || charger.site === this.site.value) &&
      (!this.feeder.value || charger.feeder === this.feeder.value) &&
      (!text || charger.id.toLowerCase().includes(text));
  }

  turn(step) {
    this.page += step;
    this.renderAll();
  }

  renderAll() {
    const chargers = [...this.model.chargers.values()].filter((c) => this.visible(c))
      .sort((a, b) => a.id.localeCompare(b.id));
    this.listed = new Set(chargers.map((c) => c.id));
    const pages = Math.max(1, Math.ceil(chargers.length / PAGE_SIZE));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    const first = this.page * PAGE_SIZE;
    const shown = chargers.slice(first, first + PAGE_SIZE);
    this.rows.clear();
    const fragment = document.createDocumentFragment();
    for (const charger of shown) {
      const row = document.createElement("tr");
      row.dataset.cp = charger.id;
      row.innerHTML = this.cells(charger);
      this.rows.set(charger.id, row);
      fragment.append(row);
    }
    this.tbody.replaceChildren(fragment);
    $("#charger-count", this.root).textContent = chargers.length > PAGE_SIZE
      ? `${first + 1}–${first + shown.length} of ${chargers.length} chargers` +
        (chargers.length < this.model.chargers.size ? ` (${this.model.chargers.size} in all)` : "")
      : `${chargers.length} of ${this.model.chargers.size} chargers`;
    $("#page-prev", this.root).disabled = this.page === 0;
    $("#page-next", this.root).disabled = this.page >= pages - 1;
  }

  connection(charger) {
    if (charger.connection) {
      const record = charger.connectionRecord || {};
      const detail = [record.protocol, record.reason, record.code, record.at && `since ${record.at}`]
        .filter((part) => part !== undefined && part !== null && part !== "").join(", ");
      return `<span class="badge ${charger.connection === "connected" ? "ok" : "bad"}" ` +
        `title="${escape(detail)}">${escape(charger.connection)}</span>`;
    }
    const quiet = Date.now() - charger.lastSeen > QUIET_AFTER_MS;
    return `<span class="badge ${quiet ? "warn" : "ok"}" title="last message ${clock(charger.lastSeen)}">` +
      `${quiet ? "quiet" : "active"}</span> <small>${ago(charger.lastSeen)}</small>`;
  }

  cells(charger) {
    const model = this.model;
    const alarm = charger.site && model.activeAlarmSites().has(charger.site);
    const connectors = [...charger.connectors.entries()].sort((a, b) => a[0] - b[0])
      .map(([n, c]) => `<span class="badge status-${escape(c.status)}" title="${escape(c.errorCode || "")}">` +
        `${n}: ${escape(c.status)}</span>`).join(" ") || "–";
    const session = charger.session !== null ? model.sessions.get(charger.session) : null;
    const running = session && !session.record;
    const sessionCell = running
      ? `<span class="tag">${escape(session.tag)}</span> tx ${session.txid} on ${session.connectorId}<br>` +
        `<span class="energy">${formatWh(model.sessionEnergy(session))}</span> · ` +
        `<span class="cost">${escape(model.sessionCost(session) ?? "–")}</span>` +
        ` of <span class="hold">${escape(session.hold)}</span> held`
      : "–";
    const messages = charger.messages.slice(-3).reverse()
      .map((m) => `<li>${clock(m.at)} ${escape(m.text)}</li>`).join("");
    const info = charger.info
      ? `<small>${escape(charger.info.chargePointVendor || "")} ${escape(charger.info.chargePointModel || "")}</small>`
      : "";
    const unavailable = [...charger.connectors.values()].some((c) => c.status === "Unavailable");
    return `<td class="id"><b>${escape(charger.id)}</b><br>${info}</td>` +
      `<td class="site">${escape(charger.site || "–")}${alarm ? ' <span class="badge bad alarm">fire alarm</span>' : ""}</td>` +
      `<td class="feeder">${escape(charger.feeder || "–")}</td>` +
      `<td class="conn">${this.connection(charger)}</td>` +
      `<td class="status">${connectors}</td>` +
      `<td class="session">${sessionCell}</td>` +
      `<td class="messages"><ul>${messages}</ul></td>` +
      `<td class="actions">` +
      (running ? `<button data-act="stop" data-tx="${session.txid}">Stop session</button> ` : "") +
      `<button data-act="${unavailable ? "available" : "unavailable"}">` +
      `Set ${unavailable ? "available" : "unavailable"}</button></td>`;
  }

  async onClick(event) {
    const button = event.target.closest("button[data-act]");
    if (!button) return;
    const charger = this.model.chargers.get(button.closest("tr").dataset.cp);
    if (!charger) return;
    const act = button.dataset.act;
    button.disabled = true;
    try {
      const cin = act === "stop"
        ? await this.actions.stopSession(charger, button.dataset.tx)
        : await this.actions.setAvailability(charger, act === "available");
      this.notify(`${cin.con.action} sent to ${charger.id} (command ${cin.ri}); waiting for the charger`, "info", cin.ri);
    } catch (error) {
      this.notify(`${charger.id}: ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  }
}
