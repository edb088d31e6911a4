/*
 * Tailor's tracking snippet.
 *
 *   <script src="https://TAILOR/static/tailor/tailor.js" data-write-key="wk_…" async></script>
 *
 * Options (data- attributes on the script tag):
 *   data-write-key        the source's public write key (required)
 *   data-require-consent  "true": no cookie and no event until tailor.consent(true); events
 *                         tracked before are held in memory, sent on a yes, dropped on a no.
 *                         A yes is remembered (cookie tailor_consent) and sent with each event
 *                         as Segment's context.consent; a no deletes Tailor's cookies.
 *   data-endpoint         where events go (default: the address the script was loaded from)
 *
 * API (calls made before the script loads are queued: window.tailor = window.tailor || [];
 * tailor.push(["track", "Product Viewed", {...}]) works before and after loading):
 *   tailor.page([name], [properties])        tailor.track(event, [properties])
 *   tailor.identify(userId, [traits])        tailor.consent(true | false)
 *   tailor.productViewed(product)            tailor.productAdded(product, [quantity])
 *   tailor.productRemoved(product)           tailor.orderCompleted(order)
 *   A product is {product_id, name, category, price, currency, url, image_url}.
 *
 * Events are batched and sent every few seconds, and with sendBeacon when the page is
 * hidden or closed. A browser sending Global Privacy Control (navigator.globalPrivacyControl)
 * is not tracked at all: no cookie, no event.
 */
(function (window, document) {
  "use strict";
  var VERSION = "1.0.0";
  var FLUSH_EVERY_MS = 5000;
  var FLUSH_AT = 20;
  var YEAR_SECONDS = 365 * 24 * 3600;
  var script = document.currentScript || document.querySelector("script[data-write-key]");
  if (!script) { return; }
  var writeKey = script.getAttribute("data-write-key");
  var endpoint = (script.getAttribute("data-endpoint") || new URL(script.src).origin) + "/v1/batch";
  var requireConsent = script.getAttribute("data-require-consent") === "true";
  var gpc = navigator.globalPrivacyControl === true;
  // A yes given on an earlier page is remembered in a cookie of its own (a cookie that
  // records the choice itself is allowed before consent).
  var consented = !gpc && (!requireConsent || readCookie("tailor_consent") === "yes");
  var queue = [];   // ready to send
  var held = [];    // tracked before consent, in memory only
  var userId = null;

  function readCookie(name) {
    var found = document.cookie.split("; ").filter(function (c) { return c.indexOf(name + "=") === 0; })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
  }
  function dropCookie(name) {
    document.cookie = name + "=; Max-Age=0; Path=/; SameSite=Lax";
  }
  function writeCookie(name, value) {
    document.cookie = name + "=" + encodeURIComponent(value) + "; Max-Age=" + YEAR_SECONDS + "; Path=/; SameSite=Lax"
      + (location.protocol === "https:" ? "; Secure" : "");
  }
  function uuid() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = Math.random() * 16 | 0; return (c === "x" ? r : (r & 0x3 | 0x8)).toString(16);
    });
  }
  function anonymousId() {
    // The cookie exists only once tracking is allowed.
    var id = readCookie("tailor_aid");
    if (!id) { id = uuid(); writeCookie("tailor_aid", id); }
    return id;
  }
  function context() {
    var zone = null;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { zone = null; }
    return {
      library: { name: "tailor.js", version: VERSION },
      page: { path: location.pathname, referrer: document.referrer, title: document.title, url: location.href },
      userAgent: navigator.userAgent,
      locale: navigator.language,
      timezone: zone,
      // Segment's consent context: Tailor reads it to know that this visitor said yes.
      consent: requireConsent ? { categoryPreferences: { analytics: consented } } : undefined
    };
  }
  function enqueue(call) {
    if (gpc) { return; }
    call.messageId = uuid();
    call.timestamp = new Date().toISOString();
    call.context = context();
    if (!consented) { held.push(call); return; }
    stamp(call);
    queue.push(call);
    if (queue.length >= FLUSH_AT) { flush(false); }
  }
  function stamp(call) {
    call.anonymousId = anonymousId();
    if (userId || readCookie("tailor_uid")) { call.userId = userId || readCookie("tailor_uid"); }
  }
  function flush(leaving) {
    if (!queue.length) { return; }
    var body = JSON.stringify({ writeKey: writeKey, sentAt: new Date().toISOString(), batch: queue.splice(0) });
    // text/plain needs no CORS preflight, so a beacon can carry it while the page closes.
    if (leaving && navigator.sendBeacon && navigator.sendBeacon(endpoint, new Blob([body], { type: "text/plain" }))) {
      return;
    }
    if (window.fetch) {
      window.fetch(endpoint, { method: "POST", body: body, keepalive: true, headers: { "Content-Type": "text/plain" } })
        .catch(function () { /* the next flush carries on; nothing is retried twice */ });
    }
  }

  var api = {
    page: function (name, properties) {
      if (typeof name === "object") { properties = name; name = null; }
      enqueue({ type: "page", name: name || document.title, properties: properties || {} });
    },
    track: function (event, properties) { enqueue({ type: "track", event: event, properties: properties || {} }); },
    identify: function (id, traits) {
      userId = String(id);
      if (consented) { writeCookie("tailor_uid", userId); }
      enqueue({ type: "identify", userId: userId, traits: traits || {} });
    },
    consent: function (yes) {
      if (gpc) { return; }
      consented = !!yes;
      if (consented) {
        writeCookie("tailor_consent", "yes");
        if (userId) { writeCookie("tailor_uid", userId); }
        held.splice(0).forEach(function (call) { call.context = context(); stamp(call); queue.push(call); });
        flush(false);
      } else {
        held = [];
        queue = [];
        ["tailor_aid", "tailor_uid", "tailor_consent"].forEach(dropCookie);
      }
    },
    productViewed: function (product) { api.track("Product Viewed", product); },
    productAdded: function (product, quantity) {
      api.track("Product Added", Object.assign({ quantity: quantity || 1 }, product));
    },
    productRemoved: function (product) { api.track("Product Removed", product); },
    orderCompleted: function (order) { api.track("Order Completed", order); },
    flush: function () { flush(false); },
    // The queue form keeps working after the script has loaded: tailor.push(["track", ...]).
    push: function (call) { if (api[call[0]]) { api[call[0]].apply(null, call.slice(1)); } }
  };

  var early = Array.isArray(window.tailor) ? window.tailor : [];
  window.tailor = api;
  early.forEach(api.push);
  setInterval(function () { flush(false); }, FLUSH_EVERY_MS);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { flush(true); }
  });
  window.addEventListener("pagehide", function () { flush(true); });
})(window, document);
