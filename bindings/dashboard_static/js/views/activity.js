// Activity over the last hour: energy delivered and messages per minute, as bar charts.

import { $ } from "../dom.js";

const MINUTES = 60;
const MINUTE_MS = 60_000;

export class ActivityView {
  constructor(root, model) {
    this.root = root;
    this.model = model;
  }

  render(dirty) {
    if (this.root.hidden || !(dirty.has("all") || dirty.has("activity") || dirty.has("tick"))) return;
    const now = Math.floor(Date.now() / MINUTE_MS);
    const minutes = Array.from({ length: MINUTES }, (_, i) => now - MINUTES + 1 + i);
    const energy = minutes.map((m) => (this.model.energyByMinute.get(m) || 0) / 1000);
    const messages = minutes.map((m) => this.model.messagesByMinute.get(m) || 0);
    this.draw($("#chart-energy", this.root), energy, "kWh per minute", "#2a7");
    this.draw($("#chart-messages", this.root), messages, "messages per minute", "#27a");
    const since = Date.now() - this.model.openedAt < 60 * MINUTE_MS
      ? `since the page opened at ${new Date(this.model.openedAt).toISOString().slice(11, 16)} UTC`
      : "last hour";
    $("#activity-totals", this.root).textContent =
      `${since}: ${energy.reduce((a, b) => a + b, 0).toFixed(3)} kWh delivered, ` +
      `${Math.round(messages.reduce((a, b) => a + b, 0))} messages; ` +
      `this page applied ${this.model.updatesApplied} live updates`;
  }

  draw(canvas, values, title, color) {
    const ctx = canvas.getContext("2d");
    const { width, height } = canvas;
    const top = 20;
    const max = Math.max(...values, 1e-9);
    ctx.clearRect(0, 0, width, height);
    ctx.fillStyle = "#333";
    ctx.font = "12px sans-serif";
    ctx.fillText(`${title} (max ${max < 10 ? max.toFixed(2) : Math.round(max)})`, 4, 14);
    const bar = width / values.length;
    ctx.fillStyle = color;
    values.forEach((value, i) => {
      const h = (value / max) * (height - top - 14);
      ctx.fillRect(i * bar + 1, height - 14 - h, Math.max(bar - 2, 1), h);
    });
    ctx.fillStyle = "#666";
    ctx.fillText("-60 min", 2, height - 2);
    ctx.fillText("now", width - 24, height - 2);
  }
}
