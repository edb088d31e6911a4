/*
 * The segment rule builder: edits the rules JSON (the form's "rules" field) through
 * groups and conditions, and shows the live audience (size and a sample) as you edit.
 * The JSON stays the one source of truth: the builder renders it and writes it back.
 */
(function () {
  "use strict";
  var vocabulary = JSON.parse(document.getElementById("rb-vocabulary").textContent);
  var field = document.getElementById("id_rules");
  var treeBox = document.getElementById("rb-tree");
  if (!field || !treeBox) { return; }
  var jsonRow = field.closest(".form-row") || field.parentNode;
  jsonRow.classList.add("rb-hidden-json");

  var holder = [parse(field.value) || { type: "all", rules: [defaults("event")] }];
  var UNITS = [["m", "minutes"], ["h", "hours"], ["d", "days"], ["w", "weeks"]];
  var COUNT_WORDS = { ">=": "at least", "=": "exactly", "<=": "at most" };
  var SET_OPS = ["is set", "is not set"];

  function parse(text) { try { var v = JSON.parse(text); return v && v.type ? v : null; } catch (e) { return null; } }

  function defaults(kind) {
    if (kind === "event") { return { type: "event", event: "Product Viewed", op: ">=", count: 1, within: "7d" }; }
    if (kind === "trait") { return { type: "trait", trait: "order_count", op: ">=", value: 1 }; }
    if (kind === "consent") { return { type: "consent", purpose: "email_marketing" }; }
    if (kind === "segment") {
      return { type: "segment", segment: vocabulary.segments.length ? vocabulary.segments[0].id : 0 };
    }
    return { type: "all", rules: [defaults("event")] };
  }

  // --- small DOM helpers --------------------------------------------------------
  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      if (name === "text") { node.textContent = attributes[name]; } else { node.setAttribute(name, attributes[name]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }
  function select(options, value, onChange, label) {
    var box = el("select", { "aria-label": label });
    options.forEach(function (option) {
      var pair = Array.isArray(option) ? option : [option, option];
      var item = el("option", { value: pair[0], text: pair[1] });
      if (String(pair[0]) === String(value)) { item.selected = true; }
      box.appendChild(item);
    });
    box.addEventListener("change", function () { onChange(box.value); });
    return box;
  }
  function input(type, value, onChange, label, list) {
    var box = el("input", { type: type, "aria-label": label });
    if (list) { box.setAttribute("list", list); }
    box.value = value === undefined || value === null ? "" : value;
    box.addEventListener("input", function () { onChange(box.value); });
    return box;
  }
  function button(text, onClick, className) {
    var b = el("button", { type: "button", "class": "button " + (className || ""), text: text });
    b.addEventListener("click", onClick);
    return b;
  }
  function words(text) { return el("span", { "class": "rb-label", text: text }); }
  function datalist(id, values) {
    if (document.getElementById(id)) { return; }
    var list = el("datalist", { id: id });
    values.forEach(function (v) { list.appendChild(el("option", { value: v })); });
    document.body.appendChild(list);
  }
  datalist("rb-categories", vocabulary.categories);
  datalist("rb-fields", vocabulary.product_fields.concat(["category", "price", "name", "brand", "bot"]));

  function literal(text, op) {
    if (op === "in") { return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean); }
    var number = Number(text);
    return text.trim() !== "" && !isNaN(number) ? number : text;
  }

  // --- durations: "30m" <-> amount and unit -------------------------------------------
  function duration(node, key, label, optional) {
    var match = /^(\d+)([mhdw])$/.exec(node[key] || "");
    var amount = input("number", match ? match[1] : "", update, label + " amount");
    var unit = select((optional ? [["", "—"]] : []).concat(UNITS), match ? match[2] : (optional ? "" : "d"), update, label + " unit");
    function update() {
      if (amount.value && unit.value) { node[key] = amount.value + unit.value; } else { delete node[key]; }
      changed();
    }
    amount.min = 1;
    return [amount, unit];
  }

  // --- conditions -------------------------------------------------------------------
  function eventRow(node) {
    var parts = [
      select(vocabulary.events, node.event, function (v) { node.event = v; changed(); }, "event"),
      select(vocabulary.count_ops.map(function (op) { return [op, COUNT_WORDS[op]]; }), node.op || ">=",
        function (v) { node.op = v; changed(); }, "count comparison"),
      input("number", node.count === undefined ? 1 : node.count, function (v) { node.count = parseInt(v || "0", 10); changed(); }, "number of times"),
      words("times, in the last")
    ].concat(duration(node, "within", "within", true), [words("and more than")], duration(node, "older_than", "older than", true),
      [words("ago, followed by no"),
       select([["", "— (anything)"]].concat(vocabulary.events), node.without || "",
         function (v) { if (v) { node.without = v; } else { delete node.without; } changed(); }, "followed by no event"),
       button("+ filter", function () {
         node.where = (node.where || []).concat([{ field: "product.category", op: "=", value: "" }]); render(); changed();
       })]);
    var filters = el("div", { "class": "rb-filters" });
    (node.where || []).forEach(function (filter, index) {
      var value = input("text", Array.isArray(filter.value) ? filter.value.join(", ") : filter.value,
        function (v) { filter.value = literal(v, filter.op); changed(); }, "filter value", "rb-categories");
      if (SET_OPS.indexOf(filter.op) >= 0) { value.hidden = true; }
      filters.appendChild(el("div", { "class": "rb-row", "data-path-suffix": ".where[" + index + "]" }, [
        words("where"),
        input("text", filter.field, function (v) { filter.field = v.trim(); changed(); }, "filter field", "rb-fields"),
        select(vocabulary.property_ops, filter.op, function (v) {
          filter.op = v;
          if (SET_OPS.indexOf(v) >= 0) { delete filter.value; } else if (filter.value === undefined) { filter.value = ""; }
          render(); changed();
        }, "filter operator"),
        value,
        button("×", function () { node.where.splice(index, 1); if (!node.where.length) { delete node.where; } render(); changed(); }, "rb-remove")
      ]));
    });
    return parts.concat([filters]);
  }

  function traitRow(node) {
    var trait = vocabulary.traits.filter(function (t) { return t.name === node.trait; })[0] || vocabulary.traits[0];
    var parts = [
      select(vocabulary.traits.map(function (t) { return [t.name, t.label]; }), trait.name, function (v) {
        var next = vocabulary.traits.filter(function (t) { return t.name === v; })[0];
        node.trait = v; node.op = next.ops[0]; node.value = next.kind === "text" || next.kind === "list" ? "" : 1;
        render(); changed();
      }, "trait"),
      select(trait.ops, node.op, function (v) {
        node.op = v;
        if (SET_OPS.indexOf(v) >= 0) { delete node.value; } else if (v === "between") { node.value = [0, 100]; }
        else if (Array.isArray(node.value) || node.value === undefined) { node.value = trait.kind === "text" ? "" : 1; }
        render(); changed();
      }, "operator")
    ];
    var numeric = trait.kind === "number" || trait.kind === "score" || trait.kind === "days";
    if (node.op === "between") {
      parts.push(input("number", node.value[0], function (v) { node.value[0] = Number(v); changed(); }, "from"), words("and"),
        input("number", node.value[1], function (v) { node.value[1] = Number(v); changed(); }, "to"));
    } else if (SET_OPS.indexOf(node.op) < 0) {
      parts.push(input(numeric ? "number" : "text", Array.isArray(node.value) ? node.value.join(", ") : node.value, function (v) {
        node.value = numeric ? Number(v) : (node.op === "in" ? literal(v, "in") : v); changed();
      }, "value", trait.kind === "list" ? "rb-categories" : null));
      if (trait.kind === "days") { parts.push(words("days")); }
    }
    return parts;
  }

  function consentRow(node) {
    var parts = [words("may be"), select(vocabulary.purposes.map(function (p) { return [p.value, p.label.toLowerCase()]; }), node.purpose,
      function (v) { node.purpose = v; if (v !== "email_marketing") { delete node.topic; } render(); changed(); }, "purpose")];
    if (node.purpose === "email_marketing" && vocabulary.topics.length) {
      parts.push(words("on the topic"), select([["", "any"]].concat(vocabulary.topics), node.topic || "",
        function (v) { if (v) { node.topic = v; } else { delete node.topic; } changed(); }, "topic"));
    }
    return parts;
  }

  function segmentRow(node) {
    return [words("is in the segment"), select(vocabulary.segments.map(function (s) { return [s.id, s.name]; }), node.segment,
      function (v) { node.segment = parseInt(v, 10); changed(); }, "segment")];
  }

  var ROWS = { event: eventRow, trait: traitRow, consent: consentRow, segment: segmentRow };
  var KINDS = [["event", "Did (event)"], ["trait", "Has (trait)"], ["consent", "Consent"], ["segment", "In segment"]];

  // --- a slot holds a node, perhaps wrapped in NOT --------------------------------------
  function slot(list, index, path, isRoot) {
    var negated = list[index].type === "not";
    var node = negated ? list[index].rule : list[index];
    var innerPath = negated ? path + ".rule" : path;
    var not = el("label", {}, [el("input", { type: "checkbox" }), document.createTextNode(" not")]);
    not.firstChild.checked = negated;
    not.firstChild.addEventListener("change", function () {
      list[index] = not.firstChild.checked ? { type: "not", rule: node } : node; render(); changed();
    });
    var remove = isRoot ? null : button("×", function () { list.splice(index, 1); render(); changed(); }, "rb-remove");
    if (node.type === "all" || node.type === "any") {
      var box = el("div", { "class": "rb-group" + (negated ? " rb-negated" : ""), "data-path": innerPath }, [
        el("div", { "class": "rb-group-head" }, [not,
          select([["all", "All of these hold"], ["any", "Any of these holds"]], node.type, function (v) { node.type = v; changed(); }, "combine"),
          remove])
      ]);
      node.rules.forEach(function (child, i) { box.appendChild(slot(node.rules, i, innerPath + ".rules[" + i + "]", false)); });
      box.appendChild(el("div", { "class": "rb-actions" }, [
        button("+ condition", function () { node.rules.push(defaults("event")); render(); changed(); }),
        button("+ group", function () { node.rules.push(defaults("group")); render(); changed(); })
      ]));
      return box;
    }
    var kind = select(KINDS, node.type, function (v) {
      var fresh = defaults(v);
      if (negated) { list[index].rule = fresh; } else { list[index] = fresh; }
      render(); changed();
    }, "kind of condition");
    var row = el("div", { "class": "rb-row" + (negated ? " rb-negated" : ""), "data-path": innerPath },
      [not, kind].concat(ROWS[node.type] ? ROWS[node.type](node) : [words("(edit this one as JSON)")], [remove]));
    return row;
  }

  function render() {
    treeBox.innerHTML = "";
    treeBox.appendChild(slot(holder, 0, "rules", true));
  }

  // --- the live audience ----------------------------------------------------------------
  var timer = null;
  function changed() {
    field.value = JSON.stringify(holder[0], null, 2);
    clearTimeout(timer);
    timer = setTimeout(preview, 350);
  }
  function preview() {
    var token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
    fetch(window.RB_PREVIEW_URL, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      body: JSON.stringify({ rules: holder[0] })
    }).then(function (r) { return r.json(); }).then(show, function () { show({ error: { message: "The preview is unreachable." } }); });
  }
  function show(reply) {
    var size = document.getElementById("rb-size"), error = document.getElementById("rb-error"), sample = document.getElementById("rb-sample");
    treeBox.querySelectorAll(".rb-invalid").forEach(function (n) { n.classList.remove("rb-invalid"); });
    sample.innerHTML = "";
    if (reply.error) {
      size.textContent = "—";
      error.hidden = false;
      error.textContent = reply.error.message;
      var paths = Object.keys((reply.error.details || {}).rules || {});
      paths.forEach(function (path) {
        var target = null;
        treeBox.querySelectorAll("[data-path]").forEach(function (n) {
          if (path.indexOf(n.getAttribute("data-path")) === 0 && (!target || n.getAttribute("data-path").length > target.getAttribute("data-path").length)) { target = n; }
        });
        if (target) { target.classList.add("rb-invalid"); }
      });
      return;
    }
    error.hidden = true;
    size.textContent = reply.size.toLocaleString() + (reply.size === 1 ? " customer" : " customers");
    reply.sample.forEach(function (c) { sample.appendChild(el("li", {}, [el("a", { href: c.url, text: c.label })])); });
  }

  document.getElementById("rb-json-toggle").addEventListener("click", function () {
    var hidden = jsonRow.classList.toggle("rb-hidden-json");
    this.textContent = hidden ? "Show the rules as JSON" : "Hide the JSON";
  });
  field.addEventListener("change", function () { var v = parse(field.value); if (v) { holder[0] = v; render(); changed(); } });

  render();
  changed();
})();
