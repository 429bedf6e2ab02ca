// Mimamori desk: live updates by polling, drafts kept in localStorage, urgent alerts.
(function () {
  "use strict";
  var POLL_MS = 5000;
  var DRAFT_PREFIX = "mimamori-draft:";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // --- drafts: a half-written note survives a reload, a poll refresh and an expired session
  function restoreDrafts(root) {
    root.querySelectorAll("[data-draft]").forEach(function (el) {
      var saved = localStorage.getItem(DRAFT_PREFIX + el.dataset.draft);
      if (saved && !el.value) el.value = saved;
    });
  }
  document.addEventListener("input", function (ev) {
    var el = ev.target;
    if (el && el.dataset && el.dataset.draft) {
      if (el.value) localStorage.setItem(DRAFT_PREFIX + el.dataset.draft, el.value);
      else localStorage.removeItem(DRAFT_PREFIX + el.dataset.draft);
    }
  });
  function clearSavedDraft() {
    var notice = document.getElementById("saved-notice");
    if (!notice) return;
    var id = notice.dataset.saved;
    localStorage.removeItem(DRAFT_PREFIX + "note-" + id);
    localStorage.removeItem(DRAFT_PREFIX + "resolve-" + id);
    // Keep the URL clean so a reload does not repeat the message.
    if (window.history.replaceState) {
      var url = new URL(window.location.href);
      url.searchParams.delete("saved");
      window.history.replaceState(null, "", url.toString());
    }
  }
  // A page rendered as a form's answer (the household page's edits) shows its own address:
  // a reload then reads the page again instead of sending the form (a pause, a contact) twice.
  var canonical = document.body.dataset.canonical;
  if (canonical && location.pathname !== canonical && window.history.replaceState) {
    window.history.replaceState(null, "", canonical + location.hash);
  }
  // The announcement draft is cleared once the server has accepted it.
  if (location.search.indexOf("sent=1") >= 0) localStorage.removeItem(DRAFT_PREFIX + "announcement");

  // --- audible alert (opt-in; browsers need a user gesture first)
  var soundToggle = document.getElementById("sound-toggle");
  if (soundToggle) {
    soundToggle.checked = localStorage.getItem("mimamori-sound") === "1";
    soundToggle.addEventListener("change", function () {
      localStorage.setItem("mimamori-sound", soundToggle.checked ? "1" : "0");
      if (soundToggle.checked) beep();
    });
  }
  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx();
      [0, 0.35].forEach(function (start) {
        var osc = ctx.createOscillator(), gain = ctx.createGain();
        osc.frequency.value = 880; gain.gain.value = 0.2;
        osc.connect(gain); gain.connect(ctx.destination);
        osc.start(ctx.currentTime + start); osc.stop(ctx.currentTime + start + 0.2);
      });
    } catch (e) { /* no audio device: the banner is enough */ }
  }

  function show(id, on) { var el = document.getElementById(id); if (el) el.hidden = !on; }

  function onExpired(body) {
    var link = document.getElementById("session-login");
    if (link && body && body.login) link.href = body.login;
    show("session-banner", true);
  }

  // --- desk polling
  var list = document.getElementById("incidents");
  if (list) {
    restoreDrafts(list);
    clearSavedDraft();
    var known = {};
    list.querySelectorAll("[data-id]").forEach(function (el) { known[el.dataset.id] = true; });
    // Urgent cases on later desk pages are known too: only new ones raise the alert.
    (list.dataset.known || "").split(" ").forEach(function (id) { if (id) known[id] = true; });
    var pending = null;

    function busy() {
      var active = document.activeElement;
      return active && list.contains(active) && /TEXTAREA|INPUT|SELECT/.test(active.tagName);
    }
    function apply(body) {
      if (busy()) { pending = body; show("paused-banner", true); return; }
      pending = null; show("paused-banner", false);
      if ("watch_stopped" in body) show("watch-stopped", body.watch_stopped);
      list.innerHTML = body.html;
      restoreDrafts(list);
      var count = document.getElementById("open-count");
      if (count) count.textContent = body.count;
    }
    function poll() {
      fetch(list.dataset.feed, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (res) {
          if (res.status === 401) return res.json().then(function (b) { onExpired(b); return null; });
          if (!res.ok) return null;
          return res.json();
        })
        .then(function (body) {
          if (!body) return;
          var fresh = body.urgent.filter(function (id) { return !known[id]; });
          body.ids.forEach(function (id) { known[id] = true; });
          if (fresh.length) {
            show("urgent-banner", true);
            document.title = "● " + document.title.replace(/^● /, "");
            if (localStorage.getItem("mimamori-sound") === "1") beep();
          }
          apply(body);
        })
        .catch(function () { /* network blip: try again next round */ });
    }
    list.addEventListener("focusout", function () {
      setTimeout(function () { if (pending && !busy()) apply(pending); }, 50);
    });
    setInterval(poll, POLL_MS);
    document.getElementById("urgent-banner").addEventListener("click", function () {
      show("urgent-banner", false);
      document.title = document.title.replace(/^● /, "");
    });
  } else {
    clearSavedDraft();  // the case page: a saved note's draft goes too
    restoreDrafts(document);
  }

  // --- live tallies (safety check answers, announcement deliveries): counts and rows
  var tally = document.getElementById("tally");
  if (tally) {
    setInterval(function () {
      fetch(tally.dataset.tally, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (res) {
          if (res.status === 401) { location.reload(); return null; }
          return res.ok ? res.json() : null;
        })
        .then(function (body) {
          if (!body) return;
          Object.keys(body.counts).forEach(function (k) {
            var el = document.getElementById("n-" + k);
            if (el) el.textContent = body.counts[k];
          });
          var rows = document.getElementById(tally.dataset.rows);
          if (rows) rows.innerHTML = body.html;
        })
        .catch(function () {});
    }, 3000);
  }

  // --- today board filter
  var only = document.getElementById("only-problems");
  if (only) {
    only.checked = localStorage.getItem("mimamori-only-problems") === "1";
    document.body.classList.toggle("only-problems", only.checked);
    only.addEventListener("change", function () {
      localStorage.setItem("mimamori-only-problems", only.checked ? "1" : "0");
      document.body.classList.toggle("only-problems", only.checked);
    });
  }

  // Handlers live here, not in markup: the Content-Security-Policy forbids inline script.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  document.querySelectorAll("[data-print]").forEach(function (el) {
    el.addEventListener("click", function () { window.print(); });
  });

  // fetch() callers elsewhere can send the CSRF header
  window.mimamoriCsrf = csrfToken;
})();
