/* The rule builder (console/builder.html) and the YAML editor with line numbers (also on the rules page).
   Vanilla JS: the whole rule set lives in `doc` (the JSON the server embedded); the visual view is drawn from it,
   inputs write straight into it, and every change is validated by the server's own loader and autosaved. */
(function () {
  "use strict";

  // ---------------------------------------------------------------------------------------------- small helpers

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      (Array.isArray(child) ? child : [child]).forEach(function (c) {
        if (c !== null && c !== undefined && c !== false) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
      });
    }
    return node;
  }

  var uid = 0;
  function newId(prefix) { uid += 1; return (prefix || "f") + "-" + uid; }

  function debounce(fn, ms) {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  function isObj(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }

  function listText(value) {
    if (value === undefined || value === null) return "";
    return (Array.isArray(value) ? value : [value]).join(", ");
  }

  function textList(text, upper) {
    return text.split(/[,\n]/).map(function (s) { return s.trim(); }).filter(Boolean)
      .map(function (s) { return upper ? s.toUpperCase() : s; });
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  function hhmm(date) {
    return ("0" + date.getHours()).slice(-2) + ":" + ("0" + date.getMinutes()).slice(-2);
  }

  // ------------------------------------------------------------------------- YAML editor with a line gutter

  function lineOffsets(text, line) {
    var lines = text.split("\n"), start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    var index = Math.min(line - 1, lines.length - 1);
    return [start, start + (lines[index] || "").length];
  }

  /** Line numbers beside a textarea (scrolling with it) and jumpLine(n): select that line and show it. */
  function attachGutter(textarea) {
    var wrap = textarea.closest("[data-gutter]");
    var gutter = wrap && wrap.querySelector(".gutter");
    if (!gutter) return null;
    var bad = {};
    function draw() {
      var count = textarea.value.split("\n").length, out = [];
      for (var i = 1; i <= count; i++) out.push(bad[i] ? "\u25B6" + i : String(i));
      gutter.textContent = out.join("\n");
      gutter.scrollTop = textarea.scrollTop;
    }
    textarea.addEventListener("input", draw);
    textarea.addEventListener("scroll", function () { gutter.scrollTop = textarea.scrollTop; });
    draw();
    return {
      draw: draw,
      mark: function (lines) { bad = {}; (lines || []).forEach(function (n) { if (n) bad[n] = true; }); draw(); },
      jumpLine: function (line) {
        var range = lineOffsets(textarea.value, line);
        textarea.focus();
        textarea.setSelectionRange(range[0], range[1]);
        var lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 18;
        textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
        gutter.scrollTop = textarea.scrollTop;
      }
    };
  }

  /** The rules page: its textarea gets the gutter, its listed errors jump to their line. */
  function rulesPage() {
    var textarea = document.querySelector("textarea[data-yaml-editor]");
    if (!textarea) return;
    var editor = attachGutter(textarea);
    if (!editor) return;
    var lines = [];
    document.querySelectorAll("[data-jump-line]").forEach(function (link) {
      var line = parseInt(link.getAttribute("data-jump-line"), 10);
      lines.push(line);
      link.addEventListener("click", function (event) { event.preventDefault(); editor.jumpLine(line); });
    });
    editor.mark(lines);
  }

  // ------------------------------------------------------------------------------------------------ builder

  var CONDITIONS = [
    ["country", "Country is one of", "list", "Country names or codes, separated by commas: US, Canada"],
    ["state", "State or province is one of", "list", "CA, OR, WA"],
    ["city", "City is one of", "list", "Berlin, Munich"],
    ["postcode", "Postcode starts with or is in range", "list",
      "Prefixes or ranges of equal-length prefixes, separated by commas: 940-951, 954"],
    ["source", "Lead source is one of", "list", "Approved source labels"],
    ["industry", "Industry is one of", "list", "Software, Retail"],
    ["language", "Language is one of", "list", "en, de"],
    ["service", "Service is one of", "list", "Consulting, Support"],
    ["employees_gte", "Employees at least", "number", "Leads without a company size never match"],
    ["employees_lt", "Employees fewer than", "number", "Leads without a company size never match"],
    ["score_gte", "Score at least", "number", "0 to 100"],
    ["score_lt", "Score below", "number", "0 to 100"],
    ["email_domain", "Email domain is one of", "list", "acme.com, free (free: any free-mail address)"],
    ["email_type", "Email type is one of", "list", "business, free, disposable, role"],
    ["timezone", "Time zone is one of", "list", "America/Chicago, Europe/Berlin"],
    ["has_phone", "Has a phone number", "bool", ""],
    ["has_email", "Has an email address", "bool", ""],
    ["account_owner", "Company already has an active owner in the CRM", "bool", ""],
    ["tier", "Tier is one of", "list", "hot, warm, nurture"]
  ];
  var CONDITION = {};
  CONDITIONS.forEach(function (c) { CONDITION[c[0]] = c; });
  var STRATEGIES = [["round_robin", "Round robin (in turn)"], ["weighted", "Weighted (by each member's weight)"],
    ["least_loaded", "Least loaded (fewest open leads)"]];
  var ACTIONS = [["notify_manager", "Notify the manager"], ["reassign", "Reassign to the next available person"]];
  var KEEP = [["oldest", "The oldest record"], ["most_complete", "The most complete record"],
    ["has_owner", "The record that has an owner"]];
  var TIERS = [["hot", "Hot"], ["warm", "Warm"], ["nurture", "Nurture"]];
  var DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  var KEPT_AS_IS = [["lifecycle", "Lifecycle stages"], ["cadences", "Follow-up cadences"],
    ["stale", "Stale-lead reactivation"], ["sources", "Approved source labels"]];

  function Builder(root) {
    this.root = root;
    this.admin = root.getAttribute("data-role") === "admin";
    this.csrf = root.getAttribute("data-csrf");
    this.doc = JSON.parse(document.getElementById("rules-doc").textContent);
    this.choices = JSON.parse(document.getElementById("rules-choices").textContent);
    this.state = this.choices.state || {};
    this.issues = this.choices.issues || [];
    this.panel = document.getElementById("panel-visual");
    this.status = document.getElementById("save-status");
    this.seq = 0;
    this.dirty = false;
    this.view = "visual";
    this.normalize();
    this.schedule = debounce(this.check.bind(this), 400);
    this.render();
    this.showIssues(this.issues);
    this.tabs();
    this.yaml();
    new TestPanel(this);
    var self = this;
    window.addEventListener("beforeunload", function (event) {
      if (self.admin && self.dirty) { event.preventDefault(); event.returnValue = ""; }  // an unsaved, invalid state
    });
  }

  Builder.prototype.post = function (url, payload) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": this.csrf, "Accept": "application/json"},
      body: JSON.stringify(payload)
    });
  };

  /** Shorthands (`members: [bob@…]`, `country: US`, `assign: account_owner`) as the forms edit them. */
  Builder.prototype.normalize = function () {
    var doc = this.doc;
    if (!isObj(doc)) { this.doc = doc = {version: 1}; }
    if (isObj(doc.pools)) {
      Object.keys(doc.pools).forEach(function (name) {
        var pool = doc.pools[name];
        if (isObj(pool) && Array.isArray(pool.members)) {
          pool.members = pool.members.map(function (m) { return typeof m === "string" ? {owner: m} : m; });
        }
      });
    }
    function whenLists(when) {
      if (!isObj(when)) return;
      CONDITIONS.forEach(function (c) {
        if (c[2] === "list" && when[c[0]] !== undefined && when[c[0]] !== null && !Array.isArray(when[c[0]])) {
          when[c[0]] = [when[c[0]]];
        }
      });
    }
    (Array.isArray(doc.routing) ? doc.routing : []).forEach(function (rule) {
      if (!isObj(rule)) return;
      whenLists(rule.when);
      if (rule.assign === "account_owner") rule.assign = {account_owner: true};
    });
    if (doc.fallback === "account_owner") doc.fallback = {account_owner: true};
    if (isObj(doc.scoring) && Array.isArray(doc.scoring.rules)) {
      doc.scoring.rules.forEach(function (rule) { if (isObj(rule)) whenLists(rule.when); });
    }
  };

  Builder.prototype.changed = function () {
    this.dirty = true;
    if (this.admin) this.setStatus("Checking…");
    this.schedule();
  };

  Builder.prototype.setStatus = function (text, tone) {
    this.status.textContent = text;
    this.status.className = "save-status" + (tone ? " " + tone : "");
  };

  /** Validate with the server's loader; an admin's valid document is saved into the working draft. */
  Builder.prototype.check = function () {
    if (!this.admin) return;  // a viewer's page changes nothing
    var self = this, seq = ++this.seq, body = JSON.parse(JSON.stringify(this.doc));
    this.post(this.root.getAttribute("data-validate-url"), {body: body}).then(function (resp) {
      return resp.json().then(function (data) { return {resp: resp, data: data}; });
    }).then(function (r) {
      if (seq !== self.seq) return;  // a newer edit is already being checked
      var issues = r.data.issues || [];
      self.showIssues(issues);
      if (!self.admin) return;
      if (issues.length) {
        self.setStatus("Not saved: " + plural(issues.length, "problem", "problems") + " to fix", "bad");
        return;
      }
      self.save(body, seq);
    }).catch(function () {
      if (seq === self.seq) self.setStatus("Not saved: LeadRelay could not be reached; your changes are kept in this page", "bad");
    });
  };

  Builder.prototype.save = function (body, seq) {
    var self = this;
    this.setStatus("Saving…");
    this.post(this.root.getAttribute("data-draft-url"), {body: body}).then(function (resp) {
      return resp.json().then(function (data) { return {resp: resp, data: data}; });
    }).then(function (r) {
      if (!r.resp.ok) {
        var issues = r.data.issues || [];
        if (seq === self.seq) self.showIssues(issues);
        self.setStatus("Not saved: " + (issues.length ? plural(issues.length, "problem", "problems") : "the server refused it"), "bad");
        return;
      }
      self.state.draft = r.data.version;
      self.dirty = seq !== self.seq;
      self.setStatus("Draft version " + r.data.version + " saved " + hhmm(new Date(r.data.saved_at)), "ok");
      self.root.setAttribute("data-saved-version", r.data.version);
      var sub = document.getElementById("builder-sub");
      if (sub) sub.textContent = sub.textContent.split("·")[0].trim() + " · editing draft version " + r.data.version +
        (self.state.live ? " (version " + self.state.live + " is live)" : "");
    }).catch(function () {
      self.setStatus("Not saved: LeadRelay could not be reached; your changes are kept in this page", "bad");
    });
  };

  // Issues next to their fields --------------------------------------------------------------------------

  // the loader speaks the file's keys ("employees_gte 500 ≥ employees_lt 100"); the builder shows its labels
  var WORDS = {account_owner: "the company's existing owner", round_robin: "round robin", least_loaded: "least loaded",
    notify_manager: "notify the manager", first_touch: "first touch", business_hours: "working hours only",
    respect_hours: "business hours only", auto_merge: "merge automatically from", out_of_office: "out of office",
    most_complete: "the most complete record", has_owner: "the record that has an owner"};
  var PHRASES = [
    [/^list should have at least (\d+) items? after validation, not 0$/, "add at least $1 (an empty list cannot work)"],
    [/^input should be a valid integer.*$/, "must be a whole number"],
    [/^input should be a valid number.*$/, "must be a number"],
    [/^input should be greater than (\S+)$/, "must be more than $1"],
    [/^input should be greater than or equal to (\S+)$/, "must be at least $1"],
    [/^input should be less than or equal to (\S+)$/, "must be at most $1"],
    [/^input should be a valid boolean.*$/, "must be yes or no"],
    [/^input should be a valid (string|list|dictionary).*$/, "has the wrong kind of value"],
    [/^input should be (.+)$/, "must be $1"]
  ];
  function words(message) {
    message = String(message);
    PHRASES.forEach(function (p) { message = message.replace(p[0], p[1]); });
    return message.replace(/`?\b([a-z]+(?:_[a-z]+)+)\b`?/g, function (all, key) {
      if (CONDITION[key]) return "“" + CONDITION[key][1] + "”";
      return WORDS[key] || key.replace(/_/g, " ");
    }).replace(/`/g, "");
  }

  function parentPath(path) {
    var m = path.match(/^(.*)(\[\d+\]|\.[^.\[\]]+)$/);
    return m ? m[1] : "";
  }

  Builder.prototype.placeFor = function (path) {
    var p = path;
    while (p) {
      var node = this.root.querySelector('[data-path="' + (window.CSS && CSS.escape ? CSS.escape(p) : p) + '"]');
      if (node) return node;
      p = parentPath(p);
    }
    return null;
  };

  Builder.prototype.showIssues = function (issues) {
    var self = this;
    this.issues = issues;
    this.root.querySelectorAll("[data-path] > .field-error").forEach(function (slot) { slot.textContent = ""; });
    this.root.querySelectorAll("[data-path].has-error").forEach(function (n) { n.classList.remove("has-error"); });
    this.root.querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); });
    var summary = document.getElementById("issue-summary"), list = document.getElementById("issue-list");
    list.textContent = "";
    issues.forEach(function (issue) {
      var place = self.view === "visual" ? self.placeFor(issue.path || "") : null;
      var slot = place && place.querySelector(":scope > .field-error");
      if (slot) {
        slot.textContent = (slot.textContent ? slot.textContent + " · " : "") + words(issue.message);
        place.classList.add("has-error");
        var control = place.querySelector("input, select, textarea");
        if (control) control.setAttribute("aria-invalid", "true");
      }
      var where = self.describe(issue.path || "");
      var item = el("li", {},
        place ? el("a", {href: "#" + place.id, onclick: function (event) {
          event.preventDefault();
          place.scrollIntoView({block: "center"});
          var control = place.querySelector("input, select, textarea, button");
          if (control) control.focus({preventScroll: true});
        }}, where) : el("span", {}, where),
        ": " + words(issue.message));
      list.appendChild(item);
    });
    document.getElementById("issue-count").textContent = issues.length ?
      "Not saved yet: " + plural(issues.length, "problem", "problems") + " to fix" : "";
    summary.hidden = !issues.length || this.view !== "visual";
  };

  /** "routing[2].when.postcode" → "Routing rule 3 “West” · Postcode starts with or is in range". */
  Builder.prototype.describe = function (path) {
    var doc = this.doc, m;
    if (!path) return "The rule set";
    if ((m = path.match(/^owners\[(\d+)\]/))) {
      var owner = (doc.owners || [])[+m[1]] || {};
      return "Owner " + (+m[1] + 1) + (owner.email ? " (" + owner.email + ")" : "");
    }
    if ((m = path.match(/^pools\.([^.\[]+)/))) return "Pool “" + m[1] + "”";
    if ((m = path.match(/^routing\[(\d+)\](?:\.when\.(\w+))?/))) {
      var rule = (doc.routing || [])[+m[1]] || {};
      var label = "Routing rule " + (+m[1] + 1) + (rule.name ? " “" + rule.name + "”" : "");
      return m[2] && CONDITION[m[2]] ? label + " · " + CONDITION[m[2]][1] : label;
    }
    if (path.indexOf("fallback") === 0) return "Fallback";
    if ((m = path.match(/^scoring\.rules\[(\d+)\]/))) return "Scoring rule " + (+m[1] + 1);
    if (path.indexOf("scoring") === 0) return "Scoring tiers";
    if ((m = path.match(/^sla\.(\w+)/))) return "SLA for " + m[1] + " leads";
    if ((m = path.match(/^first_response\.templates\.([^.]+)(?:\.(\w+))?/))) return "First response · template " + m[1] + (m[2] ? " (" + m[2] + ")" : "");
    if ((m = path.match(/^first_response\.(hot|warm|nurture)/))) return "First response for " + m[1] + " leads";
    if (path.indexOf("first_response") === 0) return "First response";
    if ((m = path.match(/^handoff\[(\d+)\]/))) {
      var handoff = (doc.handoff || [])[+m[1]] || {};
      return "Handoff rule " + (+m[1] + 1) + (handoff.name ? " “" + handoff.name + "”" : "");
    }
    if (path.indexOf("dedup") === 0) return "Duplicates";
    if (path.indexOf("timezone") === 0) return "Default time zone";
    return "Advanced section (" + path.split(/[.\[]/)[0] + ")";
  };

  // Form pieces --------------------------------------------------------------------------------------------

  /** A labelled field bound to a path of the document: .field > label + control + hint + error. */
  Builder.prototype.field = function (label, control, path, hint) {
    var id = control.id || newId("c");
    control.id = id;
    if (!this.admin) control.disabled = true;
    var wrap = el("div", {class: "field", "data-path": path, id: "at-" + id},
      el("label", {for: id}, label), control,
      hint ? el("p", {class: "hint", id: id + "-hint"}, hint) : null,
      el("p", {class: "field-error", role: "alert"}));
    if (hint) control.setAttribute("aria-describedby", id + "-hint");
    return wrap;
  };

  Builder.prototype.check_ = function (label, checked, onchange, path, hint) {
    var id = newId("c");
    var box = el("input", {type: "checkbox", id: id, onchange: function () { onchange(box.checked); }});
    box.checked = !!checked;
    if (!this.admin) box.disabled = true;
    return el("div", {class: "field check", "data-path": path, id: "at-" + id},
      el("label", {for: id}, box, " " + label),
      hint ? el("p", {class: "hint"}, hint) : null,
      el("p", {class: "field-error", role: "alert"}));
  };

  Builder.prototype.input = function (value, onchange, attrs) {
    var self = this;
    var input = el("input", Object.assign({autocomplete: "off"}, attrs || {}));
    input.value = value === undefined || value === null ? "" : value;
    input.addEventListener("input", function () { onchange(input.value); self.changed(); });
    return input;
  };

  Builder.prototype.select = function (options, value, onchange) {
    var self = this;
    var select = el("select", {}, options.map(function (o) {
      var opt = el("option", {value: o[0]}, o[1]);
      if (String(o[0]) === String(value)) opt.selected = true;
      return opt;
    }));
    select.addEventListener("change", function () { onchange(select.value); self.changed(); });
    return select;
  };

  Builder.prototype.button = function (label, onclick, cls, aria) {
    var self = this;
    return el("button", {type: "button", class: cls || "btn small secondary", "aria-label": aria || null,
      disabled: !this.admin, onclick: function (event) {
        var section = event.currentTarget.closest("section");
        var after = onclick();  // the path of what to edit next (an added item), else focus stays in the section
        self.changed();
        self.render();
        var place = typeof after === "string" ? self.placeFor(after) : null;
        var control = place && place.querySelector("input, select, textarea");
        if (!control && section) control = document.getElementById(section.id + "-title");
        if (control) control.focus();
      }}, label);
  };

  Builder.prototype.card = function (title, id, intro) {
    return el("section", {class: "card", id: id, "aria-labelledby": id + "-title"},
      el("h2", {id: id + "-title", tabindex: "-1"}, title), intro ? el("p", {class: "muted"}, intro) : null);
  };

  Builder.prototype.ownerOptions = function (blank) {
    var owners = (this.doc.owners || []).filter(isObj).map(function (o) {
      return [o.email || "", o.name ? o.name + " (" + o.email + ")" : (o.email || "(owner without an email)")];
    });
    return (blank ? [["", blank]] : []).concat(owners);
  };

  Builder.prototype.poolOptions = function (blank) {
    return (blank ? [["", blank]] : []).concat(Object.keys(isObj(this.doc.pools) ? this.doc.pools : {}).map(
      function (p) { return [p, p]; }));
  };

  // Sections ---------------------------------------------------------------------------------------------

  Builder.prototype.render = function () {
    // the field that had focus (found again by its document path: the controls are drawn anew)
    var active = document.activeElement, holder = active && active.closest && active.closest("[data-path]");
    var focusPath = holder && this.panel.contains(holder) ? holder.getAttribute("data-path") : null;
    var focusTag = active && active.tagName;
    this.panel.textContent = "";
    this.panel.appendChild(this.general());
    this.panel.appendChild(this.owners());
    this.panel.appendChild(this.pools());
    this.panel.appendChild(this.routing());
    this.panel.appendChild(this.fallback());
    this.panel.appendChild(this.scoring());
    this.panel.appendChild(this.sla());
    this.panel.appendChild(this.firstResponse());
    this.panel.appendChild(this.handoff());
    this.panel.appendChild(this.dedup());
    this.panel.appendChild(this.keptAsIs());
    if (this.issues) this.showIssues(this.issues);
    var again = focusPath && this.root.querySelector('[data-path="' + (window.CSS && CSS.escape ? CSS.escape(focusPath) : focusPath) + '"]');
    var control = again && (again.querySelector(focusTag) || again.querySelector("input, select, textarea, button"));
    if (control) control.focus();
  };

  Builder.prototype.general = function () {
    var doc = this.doc, card = this.card("Time zone", "sec-general",
      "Working hours and SLA due times are read in each owner's own time zone, else in this one.");
    card.appendChild(this.field("Default time zone", this.input(doc.timezone, function (v) {
      if (v.trim()) doc.timezone = v.trim(); else delete doc.timezone;
    }, {list: "timezones", placeholder: "UTC"}), "timezone", "Start typing a city: America/Los_Angeles, Europe/Berlin"));
    return card;
  };

  Builder.prototype.owners = function () {
    var self = this, doc = this.doc;
    var card = this.card("Owners", "sec-owners", "The people who may receive leads, matched to CRM users by email.");
    var owners = Array.isArray(doc.owners) ? doc.owners : [];
    if (!owners.length) card.appendChild(el("p", {class: "empty"}, "No owners yet. Add the people who should receive leads."));
    owners.forEach(function (owner, i) {
      if (!isObj(owner)) return;
      var path = "owners[" + i + "]";
      var box = el("div", {class: "item", "data-path": path, id: "at-owner-" + i},
        el("h3", {}, owner.name || owner.email || "New owner"),
        el("p", {class: "field-error", role: "alert"}));
      box.appendChild(el("div", {class: "form-row"},
        self.field("Email", self.ownerEmail(owner), path + ".email"),
        self.field("Name", self.input(owner.name, function (v) { if (v.trim()) owner.name = v; else delete owner.name; },
          {placeholder: "Alice Adams"}), path + ".name")));
      box.appendChild(el("div", {class: "form-row"},
        self.field("Time zone", self.input(owner.timezone, function (v) {
          if (v.trim()) owner.timezone = v.trim(); else delete owner.timezone;
        }, {list: "timezones", placeholder: doc.timezone || "UTC"}), path + ".timezone"),
        self.field("Public holidays of", self.select([["", "No public holidays"]].concat(
          self.choices.countries.map(function (c) { return [c.code, c.name]; })), owner.country || "", function (v) {
          if (v) owner.country = v; else delete owner.country;
        }), path + ".country")));
      box.appendChild(self.hours(owner, path));
      box.appendChild(self.outOfOffice(owner, path));
      box.appendChild(el("div", {class: "form-row"},
        self.check_("Receives leads (active)", owner.active !== false, function (on) {
          if (on) delete owner.active; else owner.active = false; self.changed();
        }, path + ".active"),
        self.check_("Manager (receives escalations)", !!owner.manager, function (on) {
          if (on) owner.manager = true; else delete owner.manager; self.changed();
        }, path + ".manager")));
      box.appendChild(el("div", {class: "actions"}, self.button("Remove owner", function () {
        owners.splice(i, 1);
      }, "btn small danger", "Remove owner " + (owner.email || i + 1))));
      card.appendChild(box);
    });
    card.appendChild(this.button("Add an owner", function () {
      if (!Array.isArray(doc.owners)) doc.owners = [];
      doc.owners.push({email: ""});
      return "owners[" + (doc.owners.length - 1) + "].email";
    }, "btn small"));
    return card;
  };

  /** The owner's email; a changed address is followed by the pools, rules and fallback that named the old one. */
  Builder.prototype.ownerEmail = function (owner) {
    var self = this, doc = this.doc, before = owner.email || "";
    var input = this.input(owner.email, function (v) { owner.email = v.trim(); },
      {type: "email", list: "people", placeholder: "alice@acme.com"});
    input.addEventListener("change", function () {
      var after = owner.email;
      if (!before || before === after) { before = after; return; }
      var follow = function (target) { if (isObj(target) && target.owner === before) target.owner = after; };
      Object.keys(isObj(doc.pools) ? doc.pools : {}).forEach(function (name) {
        var members = isObj(doc.pools[name]) && doc.pools[name].members;
        (Array.isArray(members) ? members : []).forEach(follow);
      });
      (Array.isArray(doc.routing) ? doc.routing : []).forEach(function (rule) { if (isObj(rule)) follow(rule.assign); });
      follow(doc.fallback);
      before = after;
      self.changed();
      self.render();
    });
    return input;
  };

  var typedHours = new WeakSet();  // owners whose hours are edited as text (never written into the document)
  var SIMPLE_HOURS = /^(mon|tue|wed|thu|fri|sat|sun)(?:-(mon|tue|wed|thu|fri|sat|sun))?\s+(\d\d:\d\d)-(\d\d:\d\d)$/i;

  /** Working hours: days and times to pick for the usual one-period week; typed text for several periods. */
  Builder.prototype.hours = function (owner, path) {
    var self = this, text = owner.hours || "", m = text.match(SIMPLE_HOURS);
    var custom = typedHours.has(owner) || (text && !m);
    var box = el("fieldset", {class: "hours", "data-path": path + ".hours", id: newId("hours")},
      el("legend", {}, "Working hours"));
    var mode = self.select([["always", "Any time (no fixed hours)"], ["simple", "Fixed days and times"],
      ["custom", "Several periods (typed)"]], !text && !typedHours.has(owner) ? "always" : (custom ? "custom" : "simple"),
    function (v) {
      typedHours.delete(owner);
      if (v === "always") delete owner.hours;
      else if (v === "simple") owner.hours = "Mon-Fri 09:00-17:00";
      else { typedHours.add(owner); owner.hours = owner.hours || "Mon-Fri 09:00-17:00"; }
      self.render();
    });
    box.appendChild(self.field("Hours", mode, path + ".hours-mode"));
    if (text && !custom) {
      var first = m[1], last = m[2] || m[1], start = m[3], end = m[4];
      var compose = function () {
        var days = first.toLowerCase() === last.toLowerCase() ? cap(first) : cap(first) + "-" + cap(last);
        owner.hours = days + " " + start + "-" + end;
      };
      var dayOptions = DAYS.map(function (d) { return [d, d]; });
      box.appendChild(el("div", {class: "form-row"},
        self.field("From day", self.select(dayOptions, cap(first), function (v) { first = v; compose(); }), path + ".hours-from"),
        self.field("To day", self.select(dayOptions, cap(last), function (v) { last = v; compose(); }), path + ".hours-to"),
        self.field("Starts", self.input(start, function (v) { start = v; compose(); }, {type: "time"}), path + ".hours-start"),
        self.field("Ends", self.input(end, function (v) { end = v; compose(); }, {type: "time"}), path + ".hours-end")));
    } else if (custom) {
      box.appendChild(self.field("Periods", self.input(text, function (v) { owner.hours = v; },
        {placeholder: "Mon-Thu 09:00-17:00, Fri 09:00-13:00"}), path + ".hours-text",
      "Days and times separated by commas, in the owner's time zone"));
    }
    box.appendChild(el("p", {class: "field-error", role: "alert"}));
    return box;
  };

  function cap(day) { return day.charAt(0).toUpperCase() + day.slice(1).toLowerCase(); }

  Builder.prototype.outOfOffice = function (owner, path) {
    var self = this, ranges = Array.isArray(owner.out_of_office) ? owner.out_of_office : [];
    var box = el("fieldset", {class: "ooo", "data-path": path + ".out_of_office", id: newId("ooo")},
      el("legend", {}, "Out of office"), el("p", {class: "field-error", role: "alert"}));
    if (!ranges.length) box.appendChild(el("p", {class: "muted"}, "No days off planned."));
    ranges.forEach(function (range, j) {
      var parts = String(range).split(".."), from = parts[0], to = parts[1] || parts[0];
      var set = function () { owner.out_of_office[j] = from === to || !to ? from : from + ".." + to; };
      var rpath = path + ".out_of_office[" + j + "]";
      box.appendChild(el("div", {class: "form-row", "data-path": rpath, id: "at-" + newId("r")},
        self.field("First day off", self.input(from, function (v) { from = v; set(); }, {type: "date"}), rpath + ".from"),
        self.field("Last day off", self.input(to, function (v) { to = v; set(); }, {type: "date"}), rpath + ".to"),
        self.button("Remove", function () { ranges.splice(j, 1); if (!ranges.length) delete owner.out_of_office; },
          "btn small secondary", "Remove days off " + range),
        el("p", {class: "field-error", role: "alert"})));
    });
    box.appendChild(self.button("Add days off", function () {
      if (!Array.isArray(owner.out_of_office)) owner.out_of_office = [];
      var today = new Date().toISOString().slice(0, 10);
      owner.out_of_office.push(today);
      return path + ".out_of_office[" + (owner.out_of_office.length - 1) + "].from";
    }));
    return box;
  };

  Builder.prototype.pools = function () {
    var self = this, doc = this.doc;
    var card = this.card("Pools", "sec-pools", "Groups of owners a rule can hand leads to, shared out in turn.");
    var pools = isObj(doc.pools) ? doc.pools : {};
    var names = Object.keys(pools);
    if (!names.length) card.appendChild(el("p", {class: "empty"}, "No pools yet. Add one to share leads among several owners."));
    names.forEach(function (name) {
      var pool = pools[name];
      if (!isObj(pool)) return;
      var path = "pools." + name;
      var box = el("div", {class: "item", "data-path": path, id: "at-pool-" + newId("p")},
        el("h3", {}, "Pool " + name), el("p", {class: "field-error", role: "alert"}));
      var nameInput = self.input(name, function () {}, {placeholder: "west"});
      nameInput.addEventListener("change", function () { self.renamePool(name, nameInput.value.trim()); });
      box.appendChild(el("div", {class: "form-row"},
        self.field("Pool name", nameInput, path + ".name", "Rules refer to the pool by this name"),
        self.field("Shared out by", self.select(STRATEGIES, pool.strategy || "round_robin", function (v) {
          pool.strategy = v;
        }), path + ".strategy")));
      box.appendChild(self.check_("Business hours only", !!pool.respect_hours, function (on) {
        if (on) pool.respect_hours = true; else delete pool.respect_hours; self.changed();
      }, path + ".respect_hours", "Skip members outside their working hours or out of office"));
      var members = Array.isArray(pool.members) ? pool.members : (pool.members = []);
      var table = el("table", {class: "data"}, el("thead", {}, el("tr", {},
        el("th", {scope: "col"}, "Member"), el("th", {scope: "col", class: "num"}, "Weight"),
        el("th", {scope: "col", class: "num"}, "Most open leads"), el("th", {scope: "col"}, el("span", {class: "sr-only"}, "Actions")))));
      var body = el("tbody");
      members.forEach(function (member, j) {
        if (!isObj(member)) return;
        var mpath = path + ".members[" + j + "]";
        var ownerSelect = self.select(self.ownerOptions("Choose an owner"), member.owner || "", function (v) { member.owner = v; });
        ownerSelect.setAttribute("aria-label", "Member " + (j + 1) + " of pool " + name);
        var weight = self.input(member.weight, function (v) {
          if (v === "") delete member.weight; else member.weight = isNaN(+v) ? v : +v;
        }, {type: "number", min: "1", inputmode: "numeric", "aria-label": "Weight of member " + (j + 1), placeholder: "1"});
        var capacity = self.input(member.capacity, function (v) {
          if (v === "") delete member.capacity; else member.capacity = isNaN(+v) ? v : +v;
        }, {type: "number", min: "1", inputmode: "numeric", "aria-label": "Most open leads of member " + (j + 1),
          placeholder: "no limit"});
        [ownerSelect, weight, capacity].forEach(function (c) { if (!self.admin) c.disabled = true; });
        body.appendChild(el("tr", {},
          el("td", {"data-path": mpath + ".owner", id: "at-" + newId("m")}, ownerSelect, el("p", {class: "field-error", role: "alert"})),
          el("td", {class: "num", "data-path": mpath + ".weight", id: "at-" + newId("m")}, weight, el("p", {class: "field-error", role: "alert"})),
          el("td", {class: "num", "data-path": mpath + ".capacity", id: "at-" + newId("m")}, capacity, el("p", {class: "field-error", role: "alert"})),
          el("td", {}, self.button("Remove", function () { members.splice(j, 1); }, "btn small secondary",
            "Remove member " + (member.owner || j + 1) + " from pool " + name))));
      });
      table.appendChild(body);
      box.appendChild(el("div", {class: "table-wrap", "data-path": path + ".members", id: "at-" + newId("mm"),
        tabindex: "0", role: "region", "aria-label": "Members of pool " + name},
        table, el("p", {class: "field-error", role: "alert"})));
      box.appendChild(el("div", {class: "actions"},
        self.button("Add a member", function () {
          members.push({owner: ""});
          return path + ".members[" + (members.length - 1) + "].owner";
        }),
        self.button("Delete pool", function () { delete pools[name]; }, "btn small danger", "Delete pool " + name)));
      card.appendChild(box);
    });
    card.appendChild(this.button("Add a pool", function () {
      if (!isObj(doc.pools)) doc.pools = {};
      var n = 1, name = "pool";
      while (doc.pools[name]) { n += 1; name = "pool" + n; }
      doc.pools[name] = {strategy: "round_robin", members: []};
      return "pools." + name + ".name";
    }, "btn small"));
    return card;
  };

  /** Rename a pool keeping its place, and every rule and the fallback that name it. */
  Builder.prototype.renamePool = function (from, to) {
    var doc = this.doc;
    if (!to || to === from || doc.pools[to]) { this.render(); return; }
    var renamed = {};
    Object.keys(doc.pools).forEach(function (k) { renamed[k === from ? to : k] = doc.pools[k]; });
    doc.pools = renamed;
    (doc.routing || []).forEach(function (r) { if (isObj(r) && isObj(r.assign) && r.assign.pool === from) r.assign.pool = to; });
    if (isObj(doc.fallback) && doc.fallback.pool === from) doc.fallback.pool = to;
    this.changed();
    this.render();
  };

  /** The condition editor shared by routing and scoring rules. */
  Builder.prototype.conditions = function (when, path, forScoring) {
    var self = this;
    var box = el("fieldset", {class: "conditions", "data-path": path, id: newId("when")}, el("legend", {}, "When"),
      el("p", {class: "field-error", role: "alert"}));
    var keys = Object.keys(when).filter(function (k) { return k !== "any"; });
    if (keys.length > 1) {
      box.appendChild(self.field("Match", self.select([["all", "All of these conditions hold"], ["any", "Any one of them holds"]],
        when.any ? "any" : "all", function (v) { if (v === "any") when.any = true; else delete when.any; }), path + ".any"));
    }
    if (!keys.length) box.appendChild(el("p", {class: "muted"}, "No conditions yet: add one below."));
    keys.forEach(function (key) {
      var spec = CONDITION[key];
      var cpath = path + "." + key;
      var control;
      if (!spec) {
        box.appendChild(el("p", {class: "muted", "data-path": cpath, id: newId("unk")}, "A condition the builder does not know (kept as it is): ",
          el("code", {}, key), el("p", {class: "field-error", role: "alert"})));
        return;
      }
      if (spec[2] === "list") {
        control = self.input(listText(when[key]), function (v) {
          var list = textList(v, key === "country" || key === "state");
          if (key === "tier" || key === "email_domain") list = list.map(function (s) { return s.toLowerCase(); });
          when[key] = list;
        }, {placeholder: spec[3].split(":").pop().trim(), list: key === "source" ? "source-labels" : null});
      } else if (spec[2] === "number") {
        control = self.input(when[key], function (v) { when[key] = v === "" || isNaN(+v) ? v : +v; },
          {type: "number", min: "0", inputmode: "numeric"});
      } else {
        control = self.select([["true", "Yes"], ["false", "No"]], when[key] === false ? "false" : "true",
          function (v) { when[key] = v === "true"; });
      }
      var row = el("div", {class: "condition"}, self.field(spec[1], control, cpath, spec[2] === "bool" ? null : spec[3]),
        self.button("Remove", function () { delete when[key]; }, "btn small secondary", "Remove condition " + spec[1]));
      box.appendChild(row);
    });
    var free = CONDITIONS.filter(function (c) {
      return when[c[0]] === undefined && !(forScoring && (c[0] === "tier" || c[0].indexOf("score_") === 0));
    });
    if (free.length && this.admin) {
      var picker = el("select", {id: newId("pick")}, [el("option", {value: ""}, "Choose a condition…")].concat(
        free.map(function (c) { return el("option", {value: c[0]}, c[1]); })));
      box.appendChild(el("div", {class: "form-row add-condition"},
        el("div", {class: "field"}, el("label", {for: picker.id}, "Add a condition"), picker),
        el("button", {type: "button", class: "btn small", onclick: function () {
          var key = picker.value;
          if (!key) { picker.focus(); return; }
          var spec = CONDITION[key];
          when[key] = spec[2] === "bool" ? true : (spec[2] === "number" ? 0 : []);
          self.changed();
          self.render();
          var added = self.placeFor(path + "." + key);
          var input = added && added.querySelector("input, select");
          if (input) input.focus();
        }}, "Add")));
    }
    return box;
  };

  Builder.prototype.target = function (holder, key, path, allowAccountOwner) {
    var self = this, target = holder[key];
    var kind = !isObj(target) ? "review" : (target.owner !== undefined ? "owner" : target.pool !== undefined ? "pool" :
      target.account_owner ? "account_owner" : "review");
    var kinds = [["pool", "A pool"], ["owner", "One owner"]];
    if (allowAccountOwner) kinds.push(["account_owner", "The company's existing owner"]);
    kinds.push(["review", "A person reviews it (review queue)"]);
    var box = el("div", {class: "form-row target", "data-path": path, id: newId("target")});
    box.appendChild(self.field("Send the lead to", self.select(kinds, kind, function (v) {
      holder[key] = v === "owner" ? {owner: ""} : v === "pool" ? {pool: Object.keys(self.doc.pools || {})[0] || ""} :
        v === "account_owner" ? {account_owner: true} : {review: true};
      self.render();
    }), path + ".kind"));
    if (kind === "owner") {
      box.appendChild(self.field("Owner", self.select(self.ownerOptions("Choose an owner"), target.owner, function (v) {
        target.owner = v;
      }), path + ".owner"));
    } else if (kind === "pool") {
      box.appendChild(self.field("Pool", self.select(self.poolOptions("Choose a pool"), target.pool, function (v) {
        target.pool = v;
      }), path + ".pool"));
    }
    box.appendChild(el("p", {class: "field-error", role: "alert"}));
    return box;
  };

  Builder.prototype.routing = function () {
    var self = this, doc = this.doc;
    var card = this.card("Routing rules", "sec-routing",
      "Checked from top to bottom: the first rule whose conditions match decides who gets the lead.");
    var rules = Array.isArray(doc.routing) ? doc.routing : [];
    if (!rules.length) card.appendChild(el("p", {class: "empty"}, "No routing rules yet: every lead goes to the fallback. Add a rule for a territory, a source or existing customers."));
    var list = el("ol", {class: "rule-list"});
    rules.forEach(function (rule, i) {
      if (!isObj(rule)) return;
      if (!isObj(rule.when)) rule.when = {};
      var path = "routing[" + i + "]";
      var item = el("li", {class: "rule-card", "data-path": path, id: "at-rule-" + i, "data-rule": rule.name || ""},
        el("div", {class: "rule-head"}, el("span", {class: "rule-number", "aria-hidden": "true"}, String(i + 1)),
          el("h3", {}, rule.name || "Untitled rule")),
        el("p", {class: "field-error", role: "alert"}));
      item.appendChild(self.field("Rule name", self.input(rule.name, function (v) { rule.name = v; },
        {placeholder: "West enterprise"}), path + ".name"));
      item.appendChild(self.conditions(rule.when, path + ".when", false));
      item.appendChild(self.target(rule, "assign", path + ".assign", true));
      var label = rule.name || "rule " + (i + 1);
      item.appendChild(el("div", {class: "actions rule-actions"},
        i > 0 ? self.button("Move up", function () {
          rules.splice(i - 1, 0, rules.splice(i, 1)[0]);
          return "routing[" + (i - 1) + "].name";
        }, null, "Move up: " + label) : null,
        i < rules.length - 1 ? self.button("Move down", function () {
          rules.splice(i + 1, 0, rules.splice(i, 1)[0]);
          return "routing[" + (i + 1) + "].name";
        }, null, "Move down: " + label) : null,
        self.button("Duplicate", function () {
          var copy = JSON.parse(JSON.stringify(rule));
          copy.name = (rule.name || "Rule") + " (copy)";
          rules.splice(i + 1, 0, copy);
          return "routing[" + (i + 1) + "].name";
        }, null, "Duplicate " + label),
        self.button("Delete", function () { self.removed = {list: rules, index: i, item: rules.splice(i, 1)[0]}; },
          "btn small danger", "Delete " + label)));
      list.appendChild(item);
    });
    card.appendChild(list);
    if (this.removed && this.removed.list === rules) {
      var removed = this.removed;
      card.appendChild(el("p", {class: "flash info", role: "status"}, "Rule “" + (removed.item.name || "untitled") + "” deleted. ",
        el("button", {type: "button", class: "link-button", onclick: function () {
          rules.splice(Math.min(removed.index, rules.length), 0, removed.item);
          self.removed = null; self.changed(); self.render();
        }}, "Undo")));
    }
    card.appendChild(this.button("Add a routing rule", function () {
      if (!Array.isArray(doc.routing)) doc.routing = [];
      doc.routing.push({name: "Rule " + (doc.routing.length + 1), when: {}, assign: {review: true}});
      self.removed = null;
      return "routing[" + (doc.routing.length - 1) + "].name";
    }, "btn small"));
    return card;
  };

  Builder.prototype.fallback = function () {
    var card = this.card("Fallback", "sec-fallback",
      "When no rule matches, or the rule's owner or pool has nobody available.");
    if (this.doc.fallback === undefined) this.doc.fallback = {review: true};
    card.appendChild(this.target(this.doc, "fallback", "fallback", false));
    return card;
  };

  Builder.prototype.scoring = function () {
    var self = this, doc = this.doc;
    var card = this.card("Scoring", "sec-scoring", "Points add up to a score from 0 to 100; the score decides the tier.");
    var scoring = isObj(doc.scoring) ? doc.scoring : null;
    var rules = scoring && Array.isArray(scoring.rules) ? scoring.rules : [];
    rules.forEach(function (rule, i) {
      if (!isObj(rule)) return;
      if (!isObj(rule.when)) rule.when = {};
      var path = "scoring.rules[" + i + "]";
      var item = el("div", {class: "item", "data-path": path, id: "at-score-" + i},
        el("h3", {}, rule.name || "Scoring rule " + (i + 1)), el("p", {class: "field-error", role: "alert"}));
      item.appendChild(el("div", {class: "form-row"},
        self.field("Name (optional)", self.input(rule.name, function (v) { if (v) rule.name = v; else delete rule.name; }),
          path + ".name"),
        self.field("Points", self.input(rule.points, function (v) { rule.points = v === "" || isNaN(+v) ? v : +v; },
          {type: "number", inputmode: "numeric"}), path + ".points")));
      item.appendChild(self.conditions(rule.when, path + ".when", true));
      item.appendChild(el("div", {class: "actions"}, self.button("Delete scoring rule", function () { rules.splice(i, 1); },
        "btn small danger", "Delete scoring rule " + (i + 1))));
      card.appendChild(item);
    });
    card.appendChild(this.button("Add a scoring rule", function () {
      if (!isObj(doc.scoring)) doc.scoring = {};
      if (!Array.isArray(doc.scoring.rules)) doc.scoring.rules = [];
      doc.scoring.rules.push({when: {has_phone: true}, points: 10});
      return "scoring.rules[" + (doc.scoring.rules.length - 1) + "].points";
    }, "btn small"));
    var tiers = scoring && isObj(scoring.tiers) ? scoring.tiers : {};
    var setTier = function (key) {
      return function (v) {
        if (!isObj(doc.scoring)) doc.scoring = {};
        if (!isObj(doc.scoring.tiers)) doc.scoring.tiers = {};
        if (v === "") delete doc.scoring.tiers[key]; else doc.scoring.tiers[key] = isNaN(+v) ? v : +v;
      };
    };
    card.appendChild(el("div", {class: "form-row", "data-path": "scoring.tiers", id: "at-tiers"},
      this.field("Hot from score", this.input(tiers.hot, setTier("hot"), {type: "number", min: "0", max: "100", placeholder: "60"}), "scoring.tiers.hot"),
      this.field("Warm from score", this.input(tiers.warm, setTier("warm"), {type: "number", min: "0", max: "100", placeholder: "30"}), "scoring.tiers.warm"),
      el("p", {class: "field-error", role: "alert"})));
    return card;
  };

  Builder.prototype.sla = function () {
    var self = this, doc = this.doc;
    var card = this.card("Speed to lead (SLA)", "sec-sla",
      "When the first touch is due for each tier, and what happens when nobody acted in time. Durations: 30m, 4h, 2d.");
    var sla = isObj(doc.sla) ? doc.sla : {};
    TIERS.forEach(function (t) {
      var tier = t[0], policy = sla[tier], path = "sla." + tier;
      var box = el("fieldset", {class: "item sla-tier", "data-path": path, id: "at-sla-" + tier},
        el("legend", {}, t[1] + " leads"), el("p", {class: "field-error", role: "alert"}));
      box.appendChild(self.check_("Has a first-touch deadline", isObj(policy), function (on) {
        if (!isObj(doc.sla)) doc.sla = {};
        if (on) doc.sla[tier] = {first_touch: tier === "hot" ? "5m" : tier === "warm" ? "4h" : "2d", business_hours: tier !== "hot"};
        else delete doc.sla[tier];
        self.changed(); self.render();
      }, path + ".enabled"));
      if (isObj(policy)) {
        box.appendChild(el("div", {class: "form-row"},
          self.field("First touch within", self.input(policy.first_touch, function (v) { policy.first_touch = v.trim(); },
            {placeholder: "4h", inputmode: "text"}), path + ".first_touch", "30m, 4h or 2d"),
          self.check_("Count working hours only", !!policy.business_hours, function (on) {
            policy.business_hours = on; self.changed();
          }, path + ".business_hours", "Nights, weekends, days off and public holidays do not count")));
        var steps = Array.isArray(policy.escalate) ? policy.escalate : [];
        steps.forEach(function (step, k) {
          var spath = path + ".escalate[" + k + "]";
          box.appendChild(el("div", {class: "form-row escalation", "data-path": spath, id: "at-" + newId("esc")},
            self.field("Escalate after", self.input(step.after, function (v) { step.after = v.trim(); }, {placeholder: "15m"}),
              spath + ".after"),
            self.field("Then", self.select(ACTIONS, step.action || "notify_manager", function (v) { step.action = v; }),
              spath + ".action"),
            self.button("Remove", function () { steps.splice(k, 1); if (!steps.length) delete policy.escalate; },
              "btn small secondary", "Remove escalation step " + (k + 1) + " of " + tier + " leads"),
            el("p", {class: "field-error", role: "alert"})));
        });
        box.appendChild(self.button("Add an escalation step", function () {
          if (!Array.isArray(policy.escalate)) policy.escalate = [];
          policy.escalate.push({after: policy.first_touch || "1h", action: "notify_manager"});
          return path + ".escalate[" + (policy.escalate.length - 1) + "].after";
        }));
      }
      card.appendChild(box);
    });
    return card;
  };

  // First response and handoff (rules/outreach.py) ---------------------------------------------------------

  var GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ" +
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM_EXTENSION = "^{}\\[~]|€\f";

  /** How a carrier splits an SMS (the same rule as console_builder.sms_segments): GSM-7 160/153, else UCS-2 70/67. */
  function smsWords(text) {
    if (!text) return "";
    var gsm = true, units = 0, chars = Array.from(text);
    chars.forEach(function (c) {
      if (GSM_EXTENSION.indexOf(c) >= 0) units += 2;
      else if (GSM_BASIC.indexOf(c) >= 0) units += 1;
      else gsm = false;
    });
    if (!gsm) units = text.length;  // UTF-16 code units: an emoji takes two
    var single = gsm ? 160 : 70, part = gsm ? 153 : 67;
    var segments = units <= single ? 1 : Math.ceil(units / part);
    return chars.length + " characters before the merge fields are filled, " + (gsm ? "GSM-7" : "UCS-2 (a character outside the GSM alphabet)") +
      ": " + plural(segments, "segment", "segments");
  }

  var CHANNEL_CHOICES = [["email", "Email"], ["sms", "SMS"]];
  var HANDOFF_ACTIONS = [["notify_owner", "Notify the owner (high-priority task)"], ["pause_cadence", "Pause the cadence"],
    ["stop_cadence", "Stop the cadence"], ["do_not_contact", "Mark do-not-contact in the CRM"],
    ["skip_automation", "Skip automation (no message, no cadence)"], ["review", "Send to review"]];
  var HANDOFF_CONDITIONS = [
    ["phrases", "Reply contains any of", "list", "price, how much, book a call", true],
    ["opt_out", "Reply is an opt-out (stop, unsubscribe…)", "bool", "", true],
    ["tone_below", "Reply's tone below", "number", "-1 (angry) to 1 (happy): -0.3", true],
    ["source", "Lead source is one of", "list", "Referral", false],
    ["lifecycle", "Lifecycle stage is one of", "list", "customer", false],
    ["score_gte", "Score at least", "number", "0 to 100", false],
    ["tier", "Tier is one of", "list", "hot, warm, nurture", false]
  ];

  Builder.prototype.multiline = function (value, onchange, attrs) {
    var self = this;
    var area = el("textarea", Object.assign({rows: "4"}, attrs || {}));
    area.value = value === undefined || value === null ? "" : value;
    area.addEventListener("input", function () { onchange(area.value); self.changed(); });
    return area;
  };

  Builder.prototype.firstResponse = function () {
    var self = this, doc = this.doc;
    var card = this.card("First response", "sec-first-response",
      "The message a new lead gets within a minute, per tier. Off for a tier until you turn it on.");
    card.setAttribute("data-path", "first_response");
    card.appendChild(el("p", {class: "field-error", role: "alert"}));
    var fr = isObj(doc.first_response) ? doc.first_response : {};
    var ensure = function () { if (!isObj(doc.first_response)) doc.first_response = fr; return doc.first_response; };
    var preview = this.root.getAttribute("data-preview-url");
    if (preview) card.appendChild(el("p", {}, el("a", {href: preview}, "Preview the templates with a real recent lead"),
      el("span", {class: "muted"}, " (the last saved draft)")));
    var templates = isObj(fr.templates) ? fr.templates : {};
    var names = Object.keys(templates);
    TIERS.forEach(function (t) {
      var tier = t[0], policy = fr[tier], path = "first_response." + tier;
      var box = el("fieldset", {class: "item fr-tier", "data-path": path, id: "at-fr-" + tier},
        el("legend", {}, t[1] + " leads"), el("p", {class: "field-error", role: "alert"}));
      box.appendChild(self.check_("Send a first response", isObj(policy), function (on) {
        var f = ensure();
        if (on) f[tier] = {channels: ["email"], template: names[0] || "welcome", consent: "given"};
        else delete f[tier];
        self.changed(); self.render();
      }, path + ".enabled"));
      if (isObj(policy)) {
        var channels = Array.isArray(policy.channels) ? policy.channels : (policy.channels = []);
        box.appendChild(el("div", {class: "form-row", "data-path": path + ".channels", id: "at-fr-ch-" + tier},
          CHANNEL_CHOICES.map(function (c) {
            return self.check_("By " + c[1], channels.indexOf(c[0]) >= 0, function (on) {
              var at = channels.indexOf(c[0]);
              if (on && at < 0) channels.push(c[0]); else if (!on && at >= 0) channels.splice(at, 1);
              self.changed();
            }, path + ".channels." + c[0]);
          }), el("p", {class: "field-error", role: "alert"})));
        var templateOptions = names.map(function (n) { return [n, n]; });
        if (policy.template && names.indexOf(policy.template) < 0) templateOptions.unshift([policy.template, policy.template + " (missing)"]);
        box.appendChild(el("div", {class: "form-row"},
          self.field("Template", self.select(templateOptions.length ? templateOptions : [["", "Add a template below"]],
            policy.template || "", function (v) { policy.template = v; }), path + ".template"),
          self.field("Consent", self.select([["given", "Only leads who gave consent"],
            ["any", "Any lead not opted out (state the lawful basis)"]], policy.consent || "given", function (v) {
            policy.consent = v; self.render();
          }), path + ".consent")));
      }
      card.appendChild(box);
    });
    var anyConsent = TIERS.some(function (t) { return isObj(fr[t[0]]) && fr[t[0]].consent === "any"; });
    var num = function (key) {
      return function (v) { var f = ensure(); if (v === "") delete f[key]; else f[key] = isNaN(+v) ? v : +v; };
    };
    var text = function (key) {
      return function (v) { var f = ensure(); if (v.trim() === "") delete f[key]; else f[key] = v.trim(); };
    };
    card.appendChild(el("div", {class: "form-row"},
      this.field("Email sender", this.select([["smtp", "Your SMTP server (Settings)"], ["crm", "The CRM's own sending"]],
        fr.sender || "smtp", function (v) { ensure().sender = v; }), "first_response.sender",
      "Pipedrive cannot send mail through its API: use SMTP"),
      this.field("Reply-to", this.input(fr.reply_to, text("reply_to"), {placeholder: "owner"}), "first_response.reply_to",
        "owner: replies reach the lead's owner; or one address"),
      this.field("Default language", this.input(fr.default_language, text("default_language"),
        {placeholder: "en", maxlength: "2"}), "first_response.default_language",
      "Used when the lead's language has no version")));
    card.appendChild(el("div", {class: "form-row"},
      this.field("SMS quiet hours", this.input(fr.quiet_hours, text("quiet_hours"), {placeholder: "21:00-08:00"}),
        "first_response.quiet_hours", "In the lead's time zone; off for none"),
      this.field("Daily cap", this.input(fr.daily_cap, num("daily_cap"), {type: "number", min: "1", placeholder: "500"}),
        "first_response.daily_cap", "Messages a day, all channels"),
      this.field("Lawful basis" + (anyConsent ? "" : " (for consent: any)"), this.input(fr.basis, text("basis"),
        {placeholder: "legitimate interest"}), "first_response.basis",
      anyConsent ? "Needed: a tier messages leads without recorded consent" : null)));
    card.appendChild(this.outreachTemplates(fr, ensure));
    return card;
  };

  Builder.prototype.outreachTemplates = function (fr, ensure) {
    var self = this, templates = isObj(fr.templates) ? fr.templates : {};
    var box = el("fieldset", {class: "templates", "data-path": "first_response.templates", id: "at-fr-templates"},
      el("legend", {}, "Templates"), el("p", {class: "field-error", role: "alert"}),
      el("p", {class: "hint merge-fields"}, "Merge fields: ", [].concat.apply([], (this.choices.merge_fields || []).map(function (f, i) {
        return [i ? ", " : "", el("code", {}, "{" + f + "}")];
      })), ". A field with no value gets a neutral word (\u201cthere\u201d, \u201cour team\u201d)."));
    Object.keys(templates).forEach(function (name) {
      var byLanguage = isObj(templates[name]) ? templates[name] : (templates[name] = {});
      var tpath = "first_response.templates." + name;
      var item = el("div", {class: "item", "data-path": tpath, id: "at-" + newId("tpl")},
        el("h3", {}, "Template " + name), el("p", {class: "field-error", role: "alert"}));
      Object.keys(byLanguage).forEach(function (lang) {
        var tpl = isObj(byLanguage[lang]) ? byLanguage[lang] : (byLanguage[lang] = {});
        var lpath = tpath + "." + lang;
        var set = function (key) {
          return function (v) { if (v === "") delete tpl[key]; else tpl[key] = v; };
        };
        var count = el("p", {class: "hint sms-count", "aria-live": "polite"}, smsWords(tpl.sms || ""));
        var sms = self.multiline(tpl.sms, function (v) { set("sms")(v); count.textContent = smsWords(v); }, {rows: "2"});
        var fs = el("fieldset", {class: "language", "data-path": lpath, id: "at-" + newId("lang")},
          el("legend", {}, "Language " + lang), el("p", {class: "field-error", role: "alert"}),
          self.field("Email subject", self.input(tpl.subject, set("subject"), {placeholder: "Thanks, {first_name}"}), lpath + ".subject"),
          self.field("Email body", self.multiline(tpl.body, set("body"), {rows: "5"}), lpath + ".body"),
          self.field("SMS text", sms, lpath + ".sms"), count,
          el("div", {class: "actions"}, self.button("Remove language " + lang, function () { delete byLanguage[lang]; },
            "btn small secondary", "Remove language " + lang + " of template " + name)));
        item.appendChild(fs);
      });
      var langInput = el("input", {maxlength: "2", placeholder: "de", "aria-label": "New language of template " + name, size: "3"});
      if (!self.admin) langInput.disabled = true;
      item.appendChild(el("div", {class: "actions"}, langInput,
        self.button("Add language", function () {
          var code = langInput.value.trim().toLowerCase();
          if (!code || byLanguage[code]) return null;
          byLanguage[code] = {subject: "", body: ""};
          return tpath + "." + code + ".subject";
        }),
        self.button("Delete template", function () { delete templates[name]; }, "btn small danger", "Delete template " + name)));
      box.appendChild(item);
    });
    var nameInput = el("input", {placeholder: "welcome", "aria-label": "New template's name"});
    if (!this.admin) nameInput.disabled = true;
    box.appendChild(el("div", {class: "actions"}, nameInput, this.button("Add a template", function () {
      var name = nameInput.value.trim() || "welcome", f = ensure();
      if (!isObj(f.templates)) f.templates = {};
      if (f.templates[name]) return null;
      var lang = f.default_language || "en";
      f.templates[name] = {};
      f.templates[name][lang] = {subject: "Thanks, {first_name}", body: "Hi {first_name},\n\n{owner_name} will be in touch shortly."};
      return "first_response.templates." + name + "." + lang + ".subject";
    }, "btn small")));
    return box;
  };

  Builder.prototype.handoff = function () {
    var self = this, doc = this.doc;
    var card = this.card("Handoff rules", "sec-handoff",
      "When a human takes over: on a reply (a pricing question, an opt-out, a negative tone) or on a new lead (a referral, a customer, a high score).");
    card.setAttribute("data-path", "handoff");
    card.appendChild(el("p", {class: "field-error", role: "alert"}));
    var rules = Array.isArray(doc.handoff) ? doc.handoff : [];
    if (!rules.length) card.appendChild(el("p", {class: "empty"}, "No handoff rules yet."));
    var list = el("ol", {class: "rule-list"});
    rules.forEach(function (rule, i) {
      if (!isObj(rule)) return;
      if (!isObj(rule.when)) rule.when = {};
      var when = rule.when, path = "handoff[" + i + "]", label = rule.name || "handoff rule " + (i + 1);
      var item = el("li", {class: "rule-card", "data-path": path, id: "at-handoff-" + i},
        el("div", {class: "rule-head"}, el("span", {class: "rule-number", "aria-hidden": "true"}, String(i + 1)),
          el("h3", {}, rule.name || "Untitled handoff rule")), el("p", {class: "field-error", role: "alert"}));
      item.appendChild(el("div", {class: "form-row"},
        self.field("Rule name", self.input(rule.name, function (v) { rule.name = v; }, {placeholder: "Pricing question"}), path + ".name"),
        self.field("On", self.select([["reply", "A reply from the lead"], ["new_lead", "A new lead"]], rule.trigger || "reply",
          function (v) { rule.trigger = v; self.render(); }), path + ".trigger")));
      var cond = el("fieldset", {class: "conditions", "data-path": path + ".when", id: "at-" + newId("hw")},
        el("legend", {}, "When (leave a condition blank to not use it)"), el("p", {class: "field-error", role: "alert"}));
      HANDOFF_CONDITIONS.forEach(function (c) {
        var key = c[0], cpath = path + ".when." + key;
        if (c[4] && rule.trigger === "new_lead" && when[key] === undefined) return;  // reads a reply: not offered
        if (c[2] === "bool") {
          cond.appendChild(self.check_(c[1], !!when[key], function (on) {
            if (on) when[key] = true; else delete when[key]; self.changed();
          }, cpath));
        } else if (c[2] === "list") {
          cond.appendChild(self.field(c[1], self.input(listText(when[key]), function (v) {
            var values = textList(v, false);
            if (key === "tier") values = values.map(function (s) { return s.toLowerCase(); });
            if (values.length) when[key] = values; else delete when[key];
          }, {placeholder: c[3], list: key === "source" ? "source-labels" : null}), cpath));
        } else {
          cond.appendChild(self.field(c[1], self.input(when[key], function (v) {
            if (v === "") delete when[key]; else when[key] = isNaN(+v) ? v : +v;
          }, {type: "number", step: key === "tone_below" ? "0.05" : "1", placeholder: c[3]}), cpath));
        }
      });
      cond.appendChild(self.field("Match", self.select([["all", "All of these conditions hold"], ["any", "Any one of them holds"]],
        when.any ? "any" : "all", function (v) { if (v === "any") when.any = true; else delete when.any; }), path + ".when.any"));
      item.appendChild(cond);
      var actions = Array.isArray(rule.actions) ? rule.actions : (rule.actions = []);
      item.appendChild(el("fieldset", {class: "actions-list", "data-path": path + ".actions", id: "at-" + newId("ha")},
        el("legend", {}, "Then"), HANDOFF_ACTIONS.map(function (a) {
          return self.check_(a[1], actions.indexOf(a[0]) >= 0, function (on) {
            var at = actions.indexOf(a[0]);
            if (on && at < 0) actions.push(a[0]); else if (!on && at >= 0) actions.splice(at, 1);
            self.changed(); self.render();
          }, path + ".actions." + a[0]);
        }), el("p", {class: "field-error", role: "alert"})));
      if (actions.indexOf("notify_owner") >= 0) {
        item.appendChild(el("div", {class: "form-row"},
          self.field("The owner's task is due within", self.input(rule.within, function (v) {
            if (v.trim()) rule.within = v.trim(); else delete rule.within;
          }, {placeholder: "15m"}), path + ".within", "30m, 4h or 2d"),
          self.field("The task says", self.input(rule.say, function (v) { if (v.trim()) rule.say = v; else delete rule.say; },
            {placeholder: "asked about pricing: reply within 15 minutes", maxlength: "120"}), path + ".say")));
      }
      item.appendChild(el("div", {class: "actions rule-actions"},
        i > 0 ? self.button("Move up", function () {
          rules.splice(i - 1, 0, rules.splice(i, 1)[0]); return "handoff[" + (i - 1) + "].name";
        }, null, "Move up: " + label) : null,
        i < rules.length - 1 ? self.button("Move down", function () {
          rules.splice(i + 1, 0, rules.splice(i, 1)[0]); return "handoff[" + (i + 1) + "].name";
        }, null, "Move down: " + label) : null,
        self.button("Delete", function () { rules.splice(i, 1); if (!rules.length) delete doc.handoff; },
          "btn small danger", "Delete " + label)));
      list.appendChild(item);
    });
    card.appendChild(list);
    card.appendChild(this.button("Add a handoff rule", function () {
      if (!Array.isArray(doc.handoff)) doc.handoff = [];
      doc.handoff.push({name: "Handoff " + (doc.handoff.length + 1), trigger: "reply", when: {phrases: ["price"]},
        actions: ["notify_owner"]});
      return "handoff[" + (doc.handoff.length - 1) + "].name";
    }, "btn small"));
    return card;
  };

  Builder.prototype.dedup = function () {
    var doc = this.doc, dedup = isObj(doc.dedup) ? doc.dedup : {};
    var card = this.card("Duplicates", "sec-dedup", "How sure LeadRelay must be before it merges two records (0 to 1).");
    var ensure = function () { if (!isObj(doc.dedup)) doc.dedup = dedup; return doc.dedup; };
    var num = function (key) {
      return function (v) { var d = ensure(); if (v === "") delete d[key]; else d[key] = isNaN(+v) ? v : +v; };
    };
    card.appendChild(el("div", {class: "form-row", "data-path": "dedup", id: "at-dedup"},
      this.field("Merge automatically from", this.input(dedup.auto_merge, num("auto_merge"),
        {type: "number", min: "0", max: "1", step: "0.01", placeholder: "0.92"}), "dedup.auto_merge"),
      this.field("Ask a person from", this.input(dedup.review, num("review"),
        {type: "number", min: "0", max: "1", step: "0.01", placeholder: "0.70"}), "dedup.review"),
      this.field("Keep", this.select(KEEP, dedup.keep || "oldest", function (v) { ensure().keep = v; }), "dedup.keep"),
      el("p", {class: "field-error", role: "alert"})));
    return card;
  };

  Builder.prototype.keptAsIs = function () {
    var doc = this.doc;
    var present = KEPT_AS_IS.filter(function (k) { return doc[k[0]] !== undefined; });
    var card = this.card("Edited in the YAML view", "sec-advanced",
      "These sections are kept exactly as they are when you edit here; change them in the YAML view.");
    card.appendChild(present.length ? el("ul", {}, present.map(function (k) {
      return el("li", {"data-path": k[0], id: "at-adv-" + k[0]}, k[1], el("p", {class: "field-error", role: "alert"}));
    })) : el("p", {class: "muted"}, "None are set: lifecycle stages, follow-up cadences, stale-lead reactivation and " +
      "source labels use their defaults."));
    return card;
  };

  // YAML view --------------------------------------------------------------------------------------------

  Builder.prototype.tabs = function () {
    var self = this;
    document.getElementById("tab-visual").addEventListener("click", function () { self.switchTo("visual"); });
    document.getElementById("tab-yaml").addEventListener("click", function () { self.switchTo("yaml"); });
  };

  Builder.prototype.selectTab = function (view) {
    this.view = view;
    ["visual", "yaml"].forEach(function (v) {
      var tab = document.getElementById("tab-" + v);
      tab.setAttribute("aria-selected", v === view ? "true" : "false");
      tab.className = "btn small" + (v === view ? "" : " secondary");
      document.getElementById("panel-" + v).hidden = v !== view;
    });
    this.showIssues(this.issues);
  };

  Builder.prototype.switchTo = function (view) {
    var self = this;
    if (view === this.view) return;
    if (!this.admin) { this.selectTab(view); return; }  // read-only: the server drew the YAML of this same draft
    if (view === "yaml") {
      this.post(this.root.getAttribute("data-yaml-url"), {body: this.doc}).then(function (r) { return r.json(); })
        .then(function (data) {
          self.textarea.value = data.text || "";
          self.editor.draw();
          self.yamlIssues([]);
          self.selectTab("yaml");
          self.parse();
        });
      return;
    }
    this.parse(function (data) {
      if (!data.body) {  // a syntax error: the visual view cannot show text that does not parse
        self.yamlNote("Fix the syntax error first: the visual view shows the YAML once it reads as a rule set.");
        return;
      }
      self.doc = data.body;
      self.normalize();
      self.selectTab("visual");
      self.render();
      self.showIssues(data.issues || []);
    });
  };

  Builder.prototype.yaml = function () {
    var self = this;
    this.textarea = document.getElementById("yaml-text");
    this.editor = attachGutter(this.textarea);
    var onType = debounce(function () {
      self.parse(function (data) {
        if (!data.body) return;
        self.doc = data.body;
        self.normalize();
        if (data.ok && self.admin) self.save(JSON.parse(JSON.stringify(self.doc)), self.seq);
      });
    }, 400);
    this.textarea.addEventListener("input", function () {
      if (self.admin) self.setStatus("Checking…");
      self.seq += 1;
      onType();
    });
  };

  Builder.prototype.parse = function (then) {
    var self = this, seq = this.seq;
    return this.post(this.root.getAttribute("data-parse-url"), {text: this.textarea.value})
      .then(function (r) { return r.json(); }).then(function (data) {
        if (seq !== self.seq && !then) return;
        var issues = data.issues || [];
        self.issues = issues;
        self.yamlIssues(issues);
        if (self.admin && issues.length) {
          self.setStatus("Not saved: " + plural(issues.length, "problem", "problems") + " to fix", "bad");
        }
        if (then) then(data);
      });
  };

  Builder.prototype.yamlNote = function (text) {
    var box = document.getElementById("yaml-issues");
    box.hidden = false;
    var note = box.querySelector(".yaml-note") || box.insertBefore(el("p", {class: "yaml-note"}), box.firstChild);
    note.textContent = text;
    note.setAttribute("role", "alert");
  };

  Builder.prototype.yamlIssues = function (issues) {
    var self = this, box = document.getElementById("yaml-issues"), list = document.getElementById("yaml-issue-list");
    var note = box.querySelector(".yaml-note");
    if (note) note.remove();
    list.textContent = "";
    issues.forEach(function (issue) {
      var where = issue.line ? "Line " + issue.line + (issue.column ? ", column " + issue.column : "") : "The rule set";
      var what = (issue.path ? self.describe(issue.path) + ": " : "") + words(issue.message);
      list.appendChild(el("li", {"data-line": issue.line || null},
        issue.line ? el("button", {type: "button", class: "link-button", onclick: function () {
          self.editor.jumpLine(issue.line);
        }}, where) : el("span", {}, where), ": " + what));
    });
    box.hidden = !issues.length;
    this.editor.mark(issues.map(function (i) { return i.line; }));
  };

  // ----------------------------------------------------------------------------------------- test-a-lead panel

  function TestPanel(builder) {
    this.builder = builder;
    this.form = document.getElementById("test-form");
    this.result = document.getElementById("test-result");
    this.form.addEventListener("submit", this.run.bind(this));
    this.recent();
  }

  TestPanel.prototype.fields = function () {
    var lead = {};
    Array.prototype.forEach.call(this.form.elements, function (input) {
      if (input.name && input.value.trim()) lead[input.name] = input.name === "employees" ? +input.value : input.value.trim();
    });
    return lead;
  };

  TestPanel.prototype.recent = function () {
    var self = this, url = this.builder.root.getAttribute("data-recent-url");
    fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}}).then(function (resp) {
      if (!resp.ok) return null;
      return resp.json();
    }).then(function (data) {
      if (!data || !Array.isArray(data.leads) || !data.leads.length) return;
      var select = document.getElementById("recent-lead");
      data.leads.forEach(function (lead, i) { select.appendChild(el("option", {value: String(i)}, lead.label)); });
      document.getElementById("recent-field").hidden = false;
      select.addEventListener("change", function () {
        var lead = data.leads[+select.value];
        if (!lead) return;
        Array.prototype.forEach.call(self.form.elements, function (input) {
          if (input.name) input.value = lead.fields[input.name] === undefined || lead.fields[input.name] === null ? "" : lead.fields[input.name];
        });
      });
    }).catch(function () {});
  };

  TestPanel.prototype.run = function (event) {
    event.preventDefault();
    var self = this, url = this.builder.root.getAttribute("data-test-url");
    this.result.textContent = "Testing…";
    this.builder.post(url, {body: this.builder.doc, lead: this.fields()}).then(function (resp) {
      if (resp.status === 404 || resp.status === 405) {
        self.error("Testing a lead is not available on this server yet (it has no test endpoint). Simulate the draft on recent leads instead.");
        return null;
      }
      return resp.json().then(function (data) {
        self.show(resp, data);
        // the answer is below the form in a panel that scrolls by itself: bring its first line into view
        if (self.result.firstChild && self.result.firstChild.scrollIntoView) self.result.firstChild.scrollIntoView({block: "nearest"});
      });
    }).catch(function () { self.error("LeadRelay could not be reached; try again."); });
  };

  TestPanel.prototype.error = function (text) {
    this.result.textContent = "";
    this.result.appendChild(el("p", {class: "flash error", role: "alert", "data-test-error": true}, text));
  };

  TestPanel.prototype.show = function (resp, data) {
    var out = this.result, builder = this.builder;
    out.textContent = "";
    if (!resp.ok || !data.ok) {
      var issues = data.issues || [];
      out.appendChild(el("div", {class: "flash error", role: "alert", "data-test-error": true},
        el("p", {}, issues.length ? "The rules cannot be tested until these are fixed:" :
          "The lead could not be tested" + (data.message ? ": " + data.message : ".")),
        el("ul", {}, issues.map(function (i) {
          return el("li", {}, (i.path ? builder.describe(i.path) + ": " : "") + words(i.message));
        }))));
      return;
    }
    var owner = data.owner ? (data.owner_name ? data.owner_name + " (" + data.owner + ")" : data.owner) : null;
    out.appendChild(el("div", {class: "test-answer", "data-test-owner": data.owner || ""},
      el("p", {class: "answer"}, el("strong", {}, owner ? "Goes to " + owner : "Goes to the review queue")),
      el("p", {class: "muted"}, data.reason || ""),
      data.score !== undefined && data.score !== null ?
        el("p", {}, "Score " + data.score + (data.tier ? " · " : ""), data.tier ? el("span", {class: "badge " + (data.tier === "hot" ? "bad" : data.tier === "warm" ? "warn" : "muted")}, data.tier) : null) : null));
    var steps = Array.isArray(data.steps) ? data.steps : [];
    if (steps.length) {
      out.appendChild(el("ol", {class: "test-path", "aria-label": "Rules checked in order"}, steps.map(function (s) {
        return el("li", {class: s.matched ? "matched" : "skipped"},
          el("span", {class: "mark", "aria-hidden": "true"}, s.matched ? "\u2713" : "\u2717"),
          el("span", {class: "sr-only"}, s.matched ? "matched: " : "did not match: "),
          el("strong", {}, s.rule || "Rule " + (s.index + 1)), s.why ? el("span", {class: "why"}, " — " + s.why) : null);
      })));
    }
    var matched = steps.filter(function (s) { return s.matched; })[0];
    if (data.fallback) {
      out.appendChild(el("p", {}, matched ? "“" + (matched.rule || "The matching rule") + "” matched, but nobody it " +
        "names was available, so the fallback decided." : "No rule matched, so the fallback decided."));
    }
    var target = data.target;
    if (isObj(target)) {
      var kinds = {pool: "Pool", owner: "Owner", account_owner: "The company's owner", review: "Review queue",
        fallback: "Fallback"};
      out.appendChild(el("p", {}, (kinds[target.kind] || "Target") + (target.name ? ": " + target.name : "") +
        (target.chosen ? " → " + target.chosen : "")));
      var seen = {}, skipped = (Array.isArray(target.skipped) ? target.skipped : []).filter(function (s) {
        var key = s.owner + "|" + s.why;  // a pool that is also the fallback passes the same people over twice
        if (seen[key]) return false;
        seen[key] = true;
        return true;
      });
      if (skipped.length) {
        out.appendChild(el("p", {class: "muted"}, "Passed over:"));
        out.appendChild(el("ul", {class: "skipped"}, skipped.map(function (s) {
          return el("li", {}, (s.name ? s.name + " (" + s.owner + ")" : s.owner) + ": " + s.why);
        })));
      }
    }
    if (isObj(data.sla)) {
      out.appendChild(el("p", {class: "sla-due"}, el("strong", {}, "First touch due " + data.sla.due),
        data.sla.policy ? el("span", {class: "muted"}, " (" + data.sla.policy + ")") : null));
    }
  };

  // ------------------------------------------------------------------------------------------------- start

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("builder");
    if (root) window.leadrelayBuilder = new Builder(root);
    rulesPage();
  });
})();
