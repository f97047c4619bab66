// Operator actions. Each one is an ordinary oneM2M request made with the operator's
// originator, so access control decides whether it is allowed:
// - charger commands are contentInstances in cp-<id>/commands (the commands contract);
//   the adapter sends the OCPP call and writes the outcome to cp-<id>/results;
// - users and top-ups are the same requests `citycse users add` / `users topup` make.

import { TY } from "./api.js";
import { centsToString, parseAmount, toCents } from "./money.js";

const WALLET_APPEND_ATTEMPTS = 20;
const ID_TAG_MAX = 20;

export class ActionError extends Error {}

/** The canonical (upper-case) idTag, as the adapter normalises it. */
export function normalizeIdTag(text) {
  const tag = String(text || "").trim().toUpperCase();
  if (!tag || tag.length > ID_TAG_MAX || /[\s/]/.test(tag) || /[^\x20-\x7e]/.test(tag)) {
    throw new ActionError(`${JSON.stringify(text)} is not a valid idTag (1-20 printable characters)`);
  }
  return tag;
}

function walletName(seq) {
  return `w${String(seq).padStart(12, "0")}`;
}

export class Actions {
  constructor(api) {
    this.api = api;
  }

  /** Ask the central system for an OCPP call; returns the command instance (its ri). */
  async command(charger, action, request, reason) {
    const container = this.api.at(charger.rn, "commands");
    return this.api.createInstance(container, { action, request, reason });
  }

  stopSession(charger, transactionId) {
    return this.command(
      charger, "RemoteStopTransaction", { transactionId: Number(transactionId) },
      `stopped from the dashboard by ${this.api.origin}`,
    );
  }

  setAvailability(charger, available) {
    return this.command(
      charger, "ChangeAvailability",
      { connectorId: 0, type: available ? "Operative" : "Inoperative" },
      `set ${available ? "available" : "unavailable"} from the dashboard by ${this.api.origin}`,
    );
  }

  /** `citycse users add`: the user's containers under evcs/users with the service's policy,
   * the profile, then the opening balance. Everything is validated before the first write. */
  async addUser(idTag, balanceText, budgetText) {
    const tag = normalizeIdTag(idTag);
    const balance = parseAmount(balanceText || "0", { allowZero: true });
    const budget = budgetText ? parseAmount(budgetText) : null;
    const users = this.api.at("evcs", "users");
    const acp = await this.api.retrieve(this.api.at("evcs", "acp"));
    try {
      await this.api.create(users, TY.cnt, { rn: tag, lbl: [`idTag:${tag}`], acpi: [acp.ri] });
    } catch (error) {
      if (error.rsc === 4105) throw new ActionError(`user ${tag} already exists`);
      throw error;
    }
    const userPath = `${users}/${tag}`;
    try {
      for (const rn of ["profile", "wallet", "transactions"]) {
        await this.api.create(userPath, TY.cnt, { rn, acpi: [acp.ri] });
      }
      await this.api.createInstance(`${userPath}/profile`, {
        idTag: tag, budget: budget === null ? null : centsToString(budget),
      });
      await this.appendToWallet(tag, balance, "initial");
    } catch (error) {
      // Leave no half-made user behind (deleting the user removes what was made below it).
      await this.api.request("DELETE", userPath).catch(() => {});
      throw error;
    }
    return tag;
  }

  /** `citycse users topup`. */
  async topUp(idTag, amountText) {
    const tag = normalizeIdTag(idTag);
    const amount = parseAmount(amountText);
    try {
      await this.api.retrieve(this.api.at("evcs", "users", tag));
    } catch (error) {
      if (error.rsc === 4004) throw new ActionError(`no user ${tag}`);
      throw error;
    }
    return this.appendToWallet(tag, amount, "topup");
  }

  /** One wallet instance `w<seq>` after the latest: if the billing appended meanwhile the
   * name is taken (4105), so re-read and retry, exactly like the adapter's wallet. */
  async appendToWallet(tag, changeCents, reason) {
    const wallet = this.api.at("evcs", "users", tag, "wallet");
    for (let attempt = 0; attempt < WALLET_APPEND_ATTEMPTS; attempt += 1) {
      const previous = await this.api.latest(wallet);
      const seq = previous ? Number(previous.con.seq || 0) + 1 : 1;
      const old = previous ? toCents(previous.con.balance) : 0n;
      const con = {
        seq, balance: centsToString(old + changeCents), change: centsToString(changeCents),
        reason, transactionId: null,
      };
      try {
        await this.api.createInstance(wallet, con, { rn: walletName(seq) });
        return con;
      } catch (error) {
        if (error.rsc !== 4105) throw error;
      }
    }
    throw new ActionError(`the wallet of ${tag} kept changing; try again`);
  }
}
