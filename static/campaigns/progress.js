/*
 * A campaign's progress box (admin/campaigns/campaign/_progress.html), kept current over
 * the campaign's WebSocket: on connecting it receives where the campaign stands, then
 * every change the senders publish, as {"progress": {state, planned, counts, left_out,
 * winner, winner_decision}}. Values are set as text, never parsed as HTML. Without this
 * script (or a socket) the box keeps the numbers the page was rendered with.
 */
(function () {
  "use strict";
  var box = document.getElementById("cp-progress");
  if (!box || !box.getAttribute("data-socket") || !window.WebSocket) { return; }
  var labels = JSON.parse(document.getElementById("cp-labels").textContent);
  var live = box.querySelector('[data-cp="live"]');
  var RETRIES = 6;
  var tries = 0;

  function field(name) { return box.querySelector('[data-cp="' + name + '"]'); }
  function set(name, value) { var node = field(name); if (node) { node.textContent = String(value); } }
  function clock() { return new Date().toTimeString().slice(0, 8); }
  function status(text, isLive) {
    if (live) { live.textContent = text; }
    box.classList.toggle("cp-is-live", Boolean(isLive));
  }

  function show(progress) {
    var counts = progress.counts || {};
    var sent = counts.sent || 0;
    var toSend = (progress.planned || 0) - (counts.held_out || 0);
    var percent = toSend > 0 ? Math.round((100 * sent) / toSend) : 0;
    var state = progress.state;
    box.setAttribute("data-state", state);
    var stateNode = field("state");
    if (stateNode) {
      stateNode.textContent = labels.states[state] || state;
      stateNode.style.color = labels.colors[state] || "";
    }
    set("sent", sent);
    set("to_send", toSend);
    set("percent", percent);
    set("planned", progress.planned || 0);
    var bar = field("bar");
    if (bar) { bar.max = toSend > 0 ? toSend : 1; bar.value = sent; bar.textContent = percent + "%"; }
    box.querySelectorAll("[data-cp-count]").forEach(function (node) {
      var count = counts[node.getAttribute("data-cp-count")] || 0;
      node.textContent = String(count);
      node.parentNode.classList.toggle("cp-zero", !count);
    });
    var leftOut = 0;
    Object.keys(progress.left_out || {}).forEach(function (reason) { leftOut += progress.left_out[reason]; });
    set("left_out", leftOut);
    set("winner", progress.winner || "—");
    // Pause, resume, cancel: only those the campaign's new state allows.
    box.querySelectorAll("[data-cp-when]").forEach(function (node) {
      node.hidden = node.getAttribute("data-cp-when").split(" ").indexOf(state) < 0;
    });
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + box.getAttribute("data-socket"));
    socket.onopen = function () { tries = 0; status("live", true); };
    socket.onmessage = function (message) {
      var data = JSON.parse(message.data);
      if (data.progress) { show(data.progress); status("live, updated " + clock(), true); }
    };
    socket.onclose = function (event) {
      if (event.code >= 4400 && event.code < 4500) {
        status("not live (the server refused the connection): reload the page for newer numbers", false);
        return;
      }
      if (tries < RETRIES) {
        tries += 1;
        status("connection lost, reconnecting…", false);
        setTimeout(connect, 500 * Math.pow(2, tries));
      } else {
        status("disconnected: reload the page for newer numbers", false);
      }
    };
  }

  connect();
})();
