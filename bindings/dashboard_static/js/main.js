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
// Live events are applied in slices of at most this long per animation frame, so a burst
// (the CSE catching up, a thousand chargers booting) never blocks the page for long.
const APPLY_BUDGET_MS = 8;
const APPLY_CHECK_EVERY = 32;
// A backlog this long means the page cannot keep up: start over from a fresh load.
const MAX_BACKLOG = 100_000;
const COMMAND_PATIENCE_MS = 30_000;

class Dashboard {
  constructor(config) {
    this.api = new Api(config.cseRn, localStorage.getItem(ORIGIN_KEY) || DEFAULT_ORIGIN);
    this.model = new CityModel(this.api);
    this.actions = new Actions(this.api);
    this.stats = { frames: 0, updatesRendered: 0, loads: 0 };
    this.pendingCommands = new Map();
    this.loading = false;
    this.backlog = [];
    this.backlogHead = 0;
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
      onChange: (kind, data) => this.receive(kind, data),
      onOpen: () => this.reload(),
      onState: (state) => {
        const badge = $("#live-state");
        badge.textContent = state;
        badge.className = `state ${state}`;
        // A stream that cannot open (refused, CSE down) still leaves a page to look at.
        if (state === "reconnecting" && this.stats.loads === 0 && !this.loading) this.reload();
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
    this.backlog = [];
    this.backlogHead = 0;
    try {
      await this.model.load();
    } catch (error) {
      this.notify(`loading the city failed: ${error.message}`, "error");
    }
    if (generation !== this.generation) return;
    this.loading = false;
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

  receive(kind, data) {
    this.backlog.push([kind, data]);
    if (this.backlog.length - this.backlogHead > MAX_BACKLOG) {
      this.notify("too many live updates to keep up with: reloading", "error");
      this.reload();
      return;
    }
    this.model.onDirty();
  }

  /** Apply queued live events until the frame's budget is spent; the rest waits. */
  applyBacklog() {
    if (this.loading) return;
    const deadline = performance.now() + APPLY_BUDGET_MS;
    const backlog = this.backlog;
    let head = this.backlogHead;
    while (head < backlog.length) {
      const [kind, text] = backlog[head];
      head += 1;
      try {
        this.model.apply(kind, JSON.parse(text));
      } catch (error) {
        console.warn("live event not applied", error);
      }
      if (head % APPLY_CHECK_EVERY === 0 && performance.now() > deadline) break;
    }
    if (head >= backlog.length) {
      this.backlog = [];
      this.backlogHead = 0;
    } else {
      this.backlogHead = head;
      this.model.onDirty();
    }
  }

  /** Once per animation frame: apply a slice of live events, then draw what changed. */
  flush() {
    this.frame = 0;
    this.applyBacklog();
    const dirty = this.model.dirty;
    this.model.dirty = new Set();
    for (const view of Object.values(this.views)) {
      if (!view.root.hidden) view.render(dirty);
    }
    if (dirty.has("results")) this.settleCommands();
    this.stats.frames += 1;
    this.stats.updatesRendered = this.model.updatesApplied;
    this.stats.backlog = this.backlog.length - this.backlogHead;
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
      setTimeout(() => {
        if (this.pendingCommands.delete(command)) {
          item.className = "error";
          item.innerHTML = escape(`${text}: no outcome from the central system after 30 s`);
        }
      }, COMMAND_PATIENCE_MS);
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
