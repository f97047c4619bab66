// Resource-tree browser: expand any resource the originator may retrieve, see its attributes
// and the latest content instances of a container.

import { ROOTS, TY } from "../api.js";
import { $, escape } from "../dom.js";

const TYPE_NAMES = { 1: "ACP", 2: "AE", 3: "CNT", 4: "CIN", 5: "CSEBase", 15: "PCH", 23: "SUB" };
const LATEST_SHOWN = 10;
// Instances are shown in the detail panel (newest first), not as tree nodes.
const BRANCH_TYPES = "1+2+3+15+23";

export class TreeView {
  constructor(root, api, notify) {
    this.root = root;
    this.api = api;
    this.notify = notify;
    this.tree = $("#tree", root);
    this.detail = $("#tree-detail", root);
    this.tree.addEventListener("click", (event) => this.onClick(event));
    this.started = false;
  }

  render(dirty) {
    if (dirty.has("reload")) this.started = false;
    if (!this.started && !this.root.hidden) {
      this.started = true;
      this.tree.innerHTML = this.node(this.api.at(), TY.cb, this.api.cseRn);
    }
  }

  node(path, ty, name) {
    return `<li data-path="${escape(path)}" data-ty="${ty}"><button class="toggle">+</button>` +
      `<a href="#" class="res">${escape(name)}</a> <small>${TYPE_NAMES[ty] || ty}</small></li>`;
  }

  async onClick(event) {
    event.preventDefault();
    const item = event.target.closest("li[data-path]");
    if (!item) return;
    if (event.target.classList.contains("toggle")) await this.toggle(item);
    else if (event.target.classList.contains("res")) await this.show(item.dataset.path);
  }

  async toggle(item) {
    const open = item.querySelector(":scope > ul");
    const button = item.querySelector(".toggle");
    if (open) {
      open.remove();
      button.textContent = "+";
      return;
    }
    try {
      const json = await this.api.request("GET", item.dataset.path, { params: { rcn: 6, ty: BRANCH_TYPES } });
      const refs = (json && json["m2m:rrl"] && json["m2m:rrl"].rrf) || [];
      const list = document.createElement("ul");
      list.innerHTML = refs.map((r) => this.node(r.val, r.typ, r.nm)).join("") ||
        "<li><small>no child resources</small></li>";
      item.append(list);
      button.textContent = "−";
    } catch (error) {
      this.notify(`${item.dataset.path}: ${error.message}`, "error");
    }
  }

  async show(path) {
    try {
      const resource = await this.api.retrieve(path);
      let latest = "";
      if (resource.ty === TY.cnt) {
        const instances = await this.api.tail(path, LATEST_SHOWN, resource.cni);
        latest = `<h4>Latest instances (${resource.cni} in all)</h4>` + instances.reverse().map((c) =>
          `<div class="cin"><b>${escape(c.rn)}</b> <small>${escape(c.ct)}</small>` +
          `<pre>${escape(JSON.stringify(c.con, null, 2))}</pre></div>`).join("");
      }
      this.detail.innerHTML = `<h3>${escape(path)} <small>${escape(ROOTS[resource.ty] || "")}</small></h3>` +
        `<pre class="attributes">${escape(JSON.stringify(resource, null, 2))}</pre>${latest}`;
    } catch (error) {
      this.detail.innerHTML = `<p class="error">${escape(error.message)}</p>`;
    }
  }
}
