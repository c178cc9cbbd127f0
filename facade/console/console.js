// The operator console: plain JavaScript over the admin API. The admin key lives in this tab's
// sessionStorage only and goes with every call as a Bearer token.
"use strict";

const KEY = "callback-router-admin-key";
const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
let newestSequence = 0;
let pollTimer = null;

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ""}` };
  if (options.body) headers["Content-Type"] = "application/json";
  const reply = await fetch(path, { ...options, headers });
  const body = await reply.json().catch(() => ({}));
  if (reply.status === 401) {
    signOut("That key is not an admin key.");
    throw new Error("unauthorized");
  }
  if (!reply.ok) throw new Error(body.error || `HTTP ${reply.status}`);
  return body;
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function fillFacts(list, pairs) {
  list.replaceChildren();
  for (const [name, value] of pairs) {
    const shown = value === "" || value === undefined ? "—" : String(value);
    list.append(element("dt", {}, name), element("dd", {}, shown));
  }
}

function json(value) {
  return JSON.stringify(value, null, 2);
}

function callerFacts(facts) {
  return [
    ["Number (E.164)", facts.e164],
    ["Region", facts.region],
    ["Calling code", facts.countryCallingCode ? `+${facts.countryCallingCode}` : ""],
    ["Number type", facts.numberType],
    ["Valid", facts.valid ? "yes" : "no"],
    ["Time zone", facts.timeZone ? `${facts.timeZone} (${facts.timeZoneSource})` : ""],
    ["Local time", facts.localTime],
    ["Known contact", facts.contactKnown ? "yes" : "no"],
  ];
}

// --- sign in / out -------------------------------------------------------------------------
async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  try {
    await api("/api/session");
  } catch (error) {
    if (error.message !== "unauthorized") $("login-error").textContent = error.message;
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  $("login-error").textContent = "";
  showView("try");
  $("try-phone").focus();
}

function signOut(message = "") {
  sessionStorage.removeItem(KEY);
  clearTimeout(pollTimer);
  $("app").hidden = true;
  $("sign-out").hidden = true;
  $("login").hidden = false;
  $("version").textContent = "";
  $("login-error").textContent = message;
  $("admin-key").value = "";
  $("admin-key").focus();
}

// --- views ---------------------------------------------------------------------------------
function showView(name) {
  for (const button of document.querySelectorAll("nav button")) {
    if (button.dataset.view === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  for (const panel of document.querySelectorAll("[data-view-panel]")) {
    panel.hidden = panel.dataset.viewPanel !== name;
  }
  clearTimeout(pollTimer);
  if (name === "rules") loadRules();
  if (name === "recent") startRecent();
}

// --- try a caller --------------------------------------------------------------------------
async function tryCaller(event) {
  event.preventDefault();
  const form = new FormData($("try-form"));
  const body = {};
  for (const [name, value] of form.entries()) if (value) body[name] = value;
  if (body.at) body.at = new Date(body.at).toISOString();
  $("try-error").textContent = "";
  let result;
  try {
    result = await api("/api/try", { method: "POST", body: JSON.stringify(body) });
  } catch (error) {
    if (error.message !== "unauthorized") $("try-error").textContent = error.message;
    return;
  }
  const decision = result.decision;
  $("version").textContent = `rules ${decision.rulesVersion}`;
  fillFacts($("try-facts"), callerFacts(decision.facts || {}));
  const rows = (result.rules || []).map((rule) => {
    let outcome = "not tried (an earlier rule decided)";
    if (rule.matched) outcome = "matched";
    else if (rule.failedCondition) outcome = "not matched";
    return element(
      "tr", {},
      element("td", {}, rule.name),
      element("td", { class: rule.matched ? "matched" : "not-matched" }, outcome),
      element("td", {}, rule.failedCondition || ""),
    );
  });
  $("try-rules").replaceChildren(...rows);
  const notes = decision.notes || [];
  $("try-notes").textContent = notes.length ? `Notes: ${notes.join("; ")}` : "";
  $("try-answer").textContent = json(result.answer.body);
  // The answer's ids, with the names the rules and the org snapshot give them.
  $("try-names").replaceChildren(
    ...Object.entries(result.names || {}).map(([id, name]) => element("li", {}, `${id}  ${name}`)),
  );
  $("try-dropped").replaceChildren(
    ...result.answer.dropped.map((d) => element("li", {}, `dropped ${d.field}: ${d.reason}`)),
  );
  $("try-result").hidden = false;
}

// --- rules ---------------------------------------------------------------------------------
const GENESYS_ID = /[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}/g;

// The file's text as nodes, each id the rules or the org name followed by its name, muted:
// `queue_id = "5a9d...0001" (support-uk)`. Text nodes only: nothing in the file is markup.
function withNames(text, names) {
  const nodes = [];
  let from = 0;
  for (const found of text.matchAll(GENESYS_ID)) {
    const name = names[found[0]];
    const line = text.slice(text.lastIndexOf("\n", found.index) + 1, found.index);
    if (!name || line.includes(name)) continue;  // an alias line names it already
    const end = found.index + found[0].length;
    const close = text[end] === '"' ? end + 1 : end;  // after the closing quote, if any
    nodes.push(text.slice(from, close), element("span", { class: "muted id-name" }, ` (${name})`));
    from = close;
  }
  nodes.push(text.slice(from));
  return nodes;
}

async function loadRules() {
  let rules;
  try {
    rules = await api("/api/rules");
  } catch (error) {
    if (error.message !== "unauthorized") $("rules-error").textContent = error.message;
    return;
  }
  $("rules-error").textContent = "";
  $("version").textContent = `rules ${rules.version}`;
  fillFacts($("rules-summary"), [
    ["Version", rules.version],
    ["File", rules.source],
    ["Live since", rules.liveSince ? new Date(rules.liveSince).toLocaleString() : ""],
    ["Decisions since start", rules.decisions],
  ]);
  const refused = $("rules-refused");
  refused.replaceChildren();
  if (rules.lastRefused && rules.lastRefused.problems.length) {
    refused.append(
      element("h3", {}, `Last refused reload (${new Date(rules.lastRefused.at).toLocaleString()})`),
      element("ul", { class: "error" }, ...rules.lastRefused.problems.map((p) => element("li", {}, p))),
    );
  } else {
    refused.append(element("p", { class: "muted" }, "No reload has been refused."));
  }
  const total = Number(rules.decisions) || 0;
  const share = (count) => (total ? `${((100 * Number(count)) / total).toFixed(1)}%` : "—");
  const rows = rules.ruleDecisions.map((entry) =>
    element("tr", {}, element("td", {}, entry.rule), element("td", {}, String(entry.decisions)), element("td", {}, share(entry.decisions))),
  );
  rows.push(
    element("tr", {}, element("td", {}, "(no rule matched)"), element("td", {}, String(rules.unmatchedDecisions)), element("td", {}, share(rules.unmatchedDecisions))),
  );
  $("rules-counts").replaceChildren(...rows);
  $("rules-text").replaceChildren(...withNames(rules.text, rules.names || {}));
  // Every id the rules use (also those the file gives by name), with its name.
  // (A proto map has no order: sorted by name.)
  const named = Object.entries(rules.names || {}).sort(([a, x], [b, y]) => x.localeCompare(y) || a.localeCompare(b));
  $("rules-names").replaceChildren(...named.map(([id, name]) => element("li", {}, `${id}  ${name}`)));
  $("rules-names-title").hidden = named.length === 0;
  const select = $("recent-rule");
  const chosen = select.value;
  select.replaceChildren(
    element("option", { value: "" }, "All decisions"),
    element("option", { value: "none" }, "No rule matched"),
    ...rules.ruleDecisions.map((entry) => element("option", { value: entry.rule }, entry.rule)),
  );
  select.value = chosen;
}

// --- recent decisions ----------------------------------------------------------------------
function decisionItem(entry) {
  const response = entry.response;
  const matched = response.matchedRules || [];
  const rules = matched.length ? matched.join(", ") : "no rule";
  const when = new Date(entry.decidedAt).toLocaleTimeString();
  const summary = element(
    "summary", {},
    element("span", {}, when),
    element("span", {}, entry.request.phoneNumber || "—"),
    element("span", { class: "rules" }, rules),
    element("span", { class: "muted" }, response.decisionId),
  );
  const facts = element("dl", { class: "facts" });
  fillFacts(facts, callerFacts(response.facts || {}));
  const detail = element(
    "div", { class: "detail" },
    element("h3", {}, "Caller facts"), facts,
    element("h3", {}, "Decided patch (numbers masked)"),
    element("pre", { class: "json", tabindex: "0" }, json(response.patch)),
  );
  const item = element("li", { "data-sequence": entry.sequence });
  item.append(element("details", {}, summary, detail));
  return item;
}

async function pollRecent() {
  const rule = $("recent-rule").value;
  try {
    const reply = await api(`/api/decisions?rule=${encodeURIComponent(rule)}&after=${newestSequence}`);
    reply.decisions = reply.decisions || [];
    if (reply.decisions.length) {
      newestSequence = Number(reply.decisions[0].sequence);
      $("recent-list").prepend(...reply.decisions.map(decisionItem));
      const list = $("recent-list");
      while (list.children.length > 300) list.lastElementChild.remove();
    }
    $("recent-empty").hidden = $("recent-list").children.length > 0;
    $("recent-error").textContent = "";
  } catch (error) {
    if (error.message === "unauthorized") return;
    $("recent-error").textContent = error.message;  // and keep asking: it may come back
  }
  pollTimer = setTimeout(pollRecent, POLL_MS);
}

function startRecent() {
  newestSequence = 0;
  $("recent-list").replaceChildren();
  if ($("recent-rule").options.length <= 2) loadRules();
  pollRecent();
}

// --- wiring --------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("admin-key").value.trim());
  });
  $("sign-out").addEventListener("click", () => signOut());
  for (const button of document.querySelectorAll("nav button")) {
    button.addEventListener("click", () => showView(button.dataset.view));
  }
  $("try-form").addEventListener("submit", tryCaller);
  $("recent-rule").addEventListener("change", () => {
    clearTimeout(pollTimer);
    startRecent();
  });
  const key = sessionStorage.getItem(KEY);
  if (key) signIn(key);
  else $("admin-key").focus();
});
