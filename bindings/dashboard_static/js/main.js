// The dashboard page: wires the model, the live feed, the views and the operator's originator.

import { Actions } from "./actions.js";
import { Api } from "./api.js";
import { $, escape } from "./dom.js";
import { LiveFeed } from "./live.js";
import { CityModel } from "./model.js";
import { ActivityView } from "./views/activity.js";
import { ChargersView } from "./views/chargers.js";
import { SafetyView } from "./views/safety.js";
import { SessionsView } from "./views/sessions.js";
import { TreeView } from "./views/tree.js";

const ORIGIN_KEY = "citycse.dashboard.origin";
const DEFAULT_ORIGIN = "CAdmin";
const NOTICES_KEPT = 6;
const TICK_MS = 5000;

class Dashboard {
  constructor(config) {
    this.api = new Api(config.cseRn, localStorage.getItem(ORIGIN_KEY) || DEFAULT_ORIGIN);
    this.model = new CityModel(this.api);
    this.actions = new Actions(this.api);
    this.stats = { frames: 0, updatesRendered: 0, loads: 0 };
    this.pendingCommands = new Map();
    this.loading = false;
    this.buffered = [];
    this.generation = 0;
    this.frame = 0;
    const notify = (text, kind, command) => this.notify(text, kind, command);
    this.views = {
      chargers: new ChargersView($("#view-chargers"), this.model, this.actions, notify),
      sessions: new SessionsView($("#view-sessions"), this.model, this.actions, notify),
      safety: new SafetyView($("#view-safety"), this.model),
      tree: new TreeView($("#view-tree"), this.api, notify),
      activity: new ActivityView($("#view-activity"), this.model),
    };
    this.model.onDirty = () => {
      if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
    };
  }

  start() {
    $("#origin").value = this.api.origin;
    $("#origin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.useOrigin($("#origin").value.trim());
    });
    for (const button of document.querySelectorAll("nav button[data-view]")) {
      button.addEventListener("click", () => this.show(button.dataset.view));
    }
    this.show(location.hash.slice(1) || "chargers");
    setInterval(() => this.model.mark("tick"), TICK_MS);
    this.connect();
  }

  connect() {
    this.feed = new LiveFeed(this.api.at(), this.api.origin, {
      onChange: (kind, data) => {
        if (this.loading) this.buffered.push([kind, data]);
        else this.model.apply(kind, data);
      },
      onOpen: () => this.reload(),
      onState: (state) => {
        const badge = $("#live-state");
        badge.textContent = state;
        badge.className = `state ${state}`;
      },
    });
    this.feed.start();
  }

  useOrigin(origin) {
    if (!origin) return;
    localStorage.setItem(ORIGIN_KEY, origin);
    this.api.origin = origin;
    this.feed.close();
    this.connect();
  }

  /** A full reload of the model: the live feed is (re)connected and may have missed changes. */
  async reload() {
    const generation = ++this.generation;
    this.loading = true;
    this.buffered = [];
    try {
      await this.model.load();
    } catch (error) {
      this.notify(`loading the city failed: ${error.message}`, "error");
    }
    if (generation !== this.generation) return;
    this.loading = false;
    for (const [kind, data] of this.buffered) this.model.apply(kind, data);
    this.buffered = [];
    this.stats.loads += 1;
    this.model.mark("all", "reload");
    document.body.dataset.loaded = String(this.stats.loads);
  }

  show(name) {
    if (!this.views[name]) name = "chargers";
    for (const [key, view] of Object.entries(this.views)) {
      view.root.hidden = key !== name;
      document.querySelector(`nav button[data-view="${key}"]`).classList.toggle("current", key === name);
    }
    history.replaceState(null, "", `#${name}`);
    this.views[name].render(new Set(["all"]));
  }

  /** Apply everything that changed since the last frame, once per animation frame. */
  flush() {
    this.frame = 0;
    const dirty = this.model.dirty;
    this.model.dirty = new Set();
    for (const view of Object.values(this.views)) {
      if (!view.root.hidden) view.render(dirty);
    }
    if (dirty.has("results")) this.settleCommands();
    this.stats.frames += 1;
    this.stats.updatesRendered = this.model.updatesApplied;
  }

  notify(text, kind = "info", command = null) {
    const list = $("#notices");
    const item = document.createElement("li");
    item.className = kind;
    item.innerHTML = escape(text);
    list.prepend(item);
    while (list.children.length > NOTICES_KEPT) list.lastChild.remove();
    if (command) {
      item.dataset.command = command;
      this.pendingCommands.set(command, item);
      this.settleCommands();
    }
  }

  settleCommands() {
    for (const [command, item] of this.pendingCommands) {
      const result = this.model.results.get(command);
      if (!result || result.status === "requested") continue;
      this.pendingCommands.delete(command);
      const good = result.status === "answered";
      item.className = good ? "ok" : "error";
      const answer = result.status === "answered" && result.response ? ` ${JSON.stringify(result.response)}` : "";
      item.innerHTML = escape(`${result.action} on ${result.cpId}: ${result.status}${answer}`);
    }
  }
}

const config = await (await fetch("config.json")).json();
const dashboard = new Dashboard(config);
window.citycseDashboard = dashboard;
dashboard.start();
