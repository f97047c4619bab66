// Sessions and money: running and recent sessions, users with balances and history, adding
// a user and topping up a wallet.

import { TY } from "../api.js";
import { $, clock, escape, setRows } from "../dom.js";
import { formatWh } from "../money.js";
import { parseTime } from "../model.js";

const RECENT_SHOWN = 50;

export class SessionsView {
  constructor(root, model, actions, notify) {
    this.root = root;
    this.model = model;
    this.actions = actions;
    this.notify = notify;
    this.selected = null;
    $("#add-user", root).addEventListener("submit", (e) => this.onAddUser(e));
    $("#topup", root).addEventListener("submit", (e) => this.onTopUp(e));
    $("#users tbody", root).addEventListener("click", (e) => {
      const row = e.target.closest("tr[data-tag]");
      if (row) this.showUser(row.dataset.tag);
    });
  }

  render(dirty) {
    if (dirty.has("all") || dirty.has("sessions") || [...dirty].some((k) => k.startsWith("charger:"))) {
      this.renderSessions();
    }
    if (dirty.has("all") || dirty.has("users")) this.renderUsers();
    if (this.selected && (dirty.has("all") || dirty.has(`user:${this.selected}`))) this.renderUser();
  }

  renderSessions() {
    const model = this.model;
    const sessions = [...model.sessions.values()];
    const running = sessions.filter((s) => !s.record && !s.stale && s.status === "Accepted" &&
      model.chargers.get(s.cpId)?.session === s.txid);
    setRows($("#running tbody", this.root), running.map((s) =>
      `<tr data-tx="${s.txid}"><td>${s.txid}</td><td>${escape(s.cpId)} / ${s.connectorId}</td>` +
      `<td>${escape(s.tag)}</td><td>${escape(s.start)}</td>` +
      `<td class="energy">${formatWh(model.sessionEnergy(s))}</td>` +
      `<td class="cost">${escape(model.sessionCost(s) ?? "–")}</td><td>${escape(s.hold)}</td></tr>`,
    ).join("") || `<tr><td colspan="7">no session is running</td></tr>`);
    const done = sessions.filter((s) => s.record).slice(-RECENT_SHOWN).reverse();
    setRows($("#recent tbody", this.root), done.map((s) => {
      const r = s.record;
      return `<tr data-tx="${s.txid}"><td>${s.txid}</td><td>${escape(s.cpId)}</td><td>${escape(s.tag)}</td>` +
        `<td>${escape(r.stop)}</td><td>${formatWh(r.energyWh)}</td><td>${escape(r.cost)}</td>` +
        `<td>${escape(r.hold)}</td><td>${escape(r.charged)}</td><td class="refund">${escape(r.refund)}</td>` +
        `<td>${escape(r.reason)}</td></tr>`;
    }).join("") || `<tr><td colspan="10">no finished session yet</td></tr>`);
  }

  renderUsers() {
    const users = [...this.model.users.values()].sort((a, b) => a.tag.localeCompare(b.tag));
    setRows($("#users tbody", this.root), users.map((u) =>
      `<tr data-tag="${escape(u.tag)}"${u.tag === this.selected ? ' class="selected"' : ""}>` +
      `<td>${escape(u.tag)}</td><td class="balance">${escape(u.balance ?? "–")}</td></tr>`,
    ).join("") || `<tr><td colspan="2">no users</td></tr>`);
  }

  async showUser(tag) {
    this.selected = tag;
    const user = this.model.users.get(tag);
    const api = this.model.api;
    try {
      const [wallet, history] = await Promise.all([
        api.children(api.at("evcs", "users", tag, "wallet"), { ty: TY.cin }),
        api.children(api.at("evcs", "users", tag, "transactions"), { ty: TY.cin }),
      ]);
      user.wallet = wallet.map((c) => ({ ...c.con, ct: c.ct }));
      user.history = history.map((c) => c.con);
    } catch (error) {
      this.notify(`user ${tag}: ${error.message}`, "error");
      return;
    }
    $("#topup [name=idTag]", this.root).value = tag;
    this.renderUsers();
    this.renderUser();
  }

  renderUser() {
    const user = this.model.users.get(this.selected);
    const panel = $("#user-detail", this.root);
    if (!user || !user.wallet) {
      panel.innerHTML = "";
      return;
    }
    const wallet = [...user.wallet].reverse().map((w) =>
      `<tr><td>${clock(parseTime(w.ct))}</td><td>${escape(w.reason)}</td><td>${escape(w.change)}</td>` +
      `<td>${escape(w.balance)}</td><td>${escape(w.transactionId ?? "")}</td></tr>`).join("");
    const history = [...(user.history || [])].reverse().map((t) =>
      `<tr><td>${t.transactionId}</td><td>${escape(t.chargePointId)}</td><td>${formatWh(t.energyWh)}</td>` +
      `<td>${escape(t.cost)}</td><td>${escape(t.charged)}</td><td>${escape(t.refund)}</td></tr>`).join("");
    panel.innerHTML = `<h3>${escape(user.tag)}: balance <span class="balance">${escape(user.balance)}</span></h3>` +
      `<h4>Wallet</h4><table><thead><tr><th>time</th><th>reason</th><th>change</th><th>balance</th>` +
      `<th>tx</th></tr></thead><tbody>${wallet}</tbody></table>` +
      `<h4>Sessions</h4><table><thead><tr><th>tx</th><th>charger</th><th>energy</th><th>cost</th>` +
      `<th>charged</th><th>refund</th></tr></thead><tbody>${history}</tbody></table>`;
  }

  async onAddUser(event) {
    event.preventDefault();
    const form = event.target;
    try {
      const tag = await this.actions.addUser(form.idTag.value, form.balance.value, form.budget.value);
      this.notify(`user ${tag} added`, "ok");
      form.reset();
    } catch (error) {
      this.notify(`add user: ${error.message}`, "error");
    }
  }

  async onTopUp(event) {
    event.preventDefault();
    const form = event.target;
    try {
      const entry = await this.actions.topUp(form.idTag.value, form.amount.value);
      this.notify(`topped up ${form.idTag.value.toUpperCase()}: balance ${entry.balance}`, "ok");
      form.amount.value = "";
    } catch (error) {
      this.notify(`top up: ${error.message}`, "error");
    }
  }
}
